package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StatementCacheTest {

    @Test
    void aTextIsCachedFromItsSecondSightingAndShapesShareOneNormalizedText() {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT * FROM t WHERE id = $1";
        List<StatementInfo> first = cache.split(sql, true);
        List<StatementInfo> second = cache.split(sql, true);
        List<StatementInfo> third = cache.split(sql, true);
        assertThat(second).isNotSameAs(first).isEqualTo(first);
        assertThat(third).isSameAs(second);

        StatementInfo a = cache.split("SELECT v FROM t WHERE id = 1", true).getFirst();
        StatementInfo b = cache.split("select V from T where ID = 2;", true).getFirst();
        assertThat(a.normalized()).isEqualTo("select v from t where id = ?").isSameAs(b.normalized());
        assertThat(a.fingerprint()).isEqualTo(b.fingerprint());
        assertThat(b.text()).isEqualTo("select V from T where ID = 2");
    }

    @Test
    void standardConformingStringsIsPartOfTheKey() {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT 'a\\'; DROP TABLE t; --'";
        for (int i = 0; i < 3; i++) {
            assertThat(cache.split(sql, true)).hasSize(2);
            assertThat(cache.split(sql, false)).hasSize(1);
        }
    }

    @Test
    void statementsAndTheirTokensAreReadOnly() {
        StatementCache cache = new StatementCache(64, 1024);
        List<StatementInfo> statements = cache.split("SELECT 1; SELECT 2", true);
        assertThat(statements).hasSize(2);
        assertThatThrownBy(() -> statements.getFirst().tokens().clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(statements::clear).isInstanceOf(UnsupportedOperationException.class);
        List<StatementInfo> single = cache.split("SELECT 3;", true);
        assertThatThrownBy(() -> single.getFirst().tokens().removeLast()).isInstanceOf(UnsupportedOperationException.class);
    }
}
