package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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

    /**
     * The cache splits and normalizes in one pass without token objects and makes tokens only on demand; everything
     * a filter sees must be exactly what splitting the token list gives (policy decisions are cached by the
     * normalized text, so a difference could hand one statement another's decision).
     */
    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
            "  select 1 ;; ; SELECT 2 -- two\n; /* three */ SELECT\t3  ",
            "SELECT 'a;b', E'c\\'d;', $$e;$$, $tag$ f $$ ; $tag$, \"Quo\"\"ted;\" FROM \"T\"; DELETE FROM users",
            "/* lead */ UPDATE t SET v = 'x' WHERE id = 1 /* trail */; -- after\nINSERT INTO t VALUES (1.5e3, .5, 0x1F, 1_000)",
            "SELECT U&\"d\\0061t\\+000061\" UESCAPE '!' FROM t; SELECT U&'\\0041' UESCAPE '\\'",
            "SELECT 'one'\n  'continued' AS a, b'101', x'FF', n'nat' FROM t WHERE a::text ~* '^x' AND b <> $1",
            "/* /* nested */ still comment */ SELECT 1; /* unterminated",
            "SELECT 'unterminated; DROP TABLE t",
            "SELECT 'a\\'; DROP TABLE t; --'",
            "select Ünïcödé, ÄBC FROM \"Ä\" WHERE x = 'ü'",
            "-- only a comment",
            ";;;",
            "",
            "SELECT a-->b\nFROM t; SELECT a /*c*/ + /*d*/ b",
            "COPY t (a, b) FROM STDIN WITH (FORMAT csv); SET search_path = s, public; SHOW ALL"})
    void oneShapePassGivesWhatSplittingTheTokensGives(String sql) {
        for (boolean scs : new boolean[] {true, false}) {
            List<SqlText.Statement> expected = SqlText.split(sql, scs);
            StatementCache cache = new StatementCache(64, 1 << 20);
            for (int round = 0; round < 3; round++) { // analysed, then cached on the second sighting, then a hit
                List<StatementInfo> actual = cache.split(sql, scs);
                assertThat(actual).as("statements of %s (scs=%s)", sql, scs).hasSize(expected.size());
                for (int i = 0; i < expected.size(); i++) {
                    SqlText.Statement e = expected.get(i);
                    StatementInfo a = actual.get(i);
                    assertThat(a.text()).isEqualTo(e.text());
                    assertThat(a.source()).isEqualTo(e.source());
                    assertThat(a.normalized()).isEqualTo(SqlText.normalize(e.text(), e.tokens()));
                    assertThat(a.fingerprint()).isEqualTo(SqlText.fingerprint(a.normalized()));
                    assertThat(a.tokens()).isEqualTo(e.tokens());
                    assertThat(a).isEqualTo(StatementInfo.of(e));
                }
            }
        }
    }

    @Test
    void tokensAreMadeOnceAndSharedByEveryReader() throws Exception {
        StatementCache cache = new StatementCache(64, 1024);
        StatementInfo info = cache.split("SELECT a FROM t WHERE b = 1", true).getFirst();
        List<List<io.dbwarden.proxy.sql.SqlToken>> seen = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        Thread[] readers = new Thread[4];
        for (int i = 0; i < readers.length; i++) {
            readers[i] = Thread.ofPlatform().start(() -> seen.add(List.copyOf(info.tokens())));
        }
        for (Thread t : readers) {
            t.join();
        }
        assertThat(seen).hasSize(4).allSatisfy(tokens -> assertThat(tokens).hasSize(8).isEqualTo(seen.getFirst()));
        assertThat(info.tokens().get(3).text()).isEqualTo("t");
    }

    @Test
    void largeTextsAreSplitOnTheProxysOwnBoundedWorkers() throws Exception {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT 1 FROM t WHERE a IN (" + "1, ".repeat(100_000) + "1); SELECT 'two'";
        List<StatementInfo> async = cache.splitAsync(sql, true).get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(async).isEqualTo(cache.split(sql, true)).hasSize(2);
        assertThat(async.get(1).normalized()).isEqualTo("select ?");
        assertThat(Thread.getAllStackTraces().keySet()).anySatisfy(t -> assertThat(t.getName())
                .startsWith("dbwarden-split-"));

        // a burst beyond the queue is refused (the proxy then blocks those texts), not queued without bound
        String medium = "SELECT 1 FROM t WHERE a IN (" + "1, ".repeat(10_000) + "1); SELECT 'two'";
        List<java.util.concurrent.CompletableFuture<List<StatementInfo>>> burst = new java.util.ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            burst.add(cache.splitAsync(medium, true));
        }
        java.util.concurrent.CompletableFuture.allOf(burst.stream().map(f -> f.handle((v, e) -> null))
                .toArray(java.util.concurrent.CompletableFuture[]::new)).get(120, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(burst).anySatisfy(f -> assertThat(f).isCompletedExceptionally());
        assertThat(burst).filteredOn(f -> !f.isCompletedExceptionally()).hasSizeGreaterThanOrEqualTo(256)
                .allSatisfy(f -> assertThat(f.join()).hasSize(2));
        assertThat(burst).filteredOn(java.util.concurrent.CompletableFuture::isCompletedExceptionally).first()
                .satisfies(f -> assertThatThrownBy(f::join).hasMessageContaining("too many large query texts"));
    }
}
