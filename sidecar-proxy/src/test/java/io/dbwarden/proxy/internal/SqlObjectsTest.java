package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The session's named queries: what FETCH/MOVE/EXECUTE resolve to as names come and go. */
class SqlObjectsTest {
    private final SqlObjects names = new SqlObjects(() -> true);

    private static StatementInfo s(String sql) {
        return StatementInfo.of(SqlText.split(sql, true).get(0));
    }

    private String runs(String sql) {
        return names.resolve(s(sql)).normalized();
    }

    @Test
    void namesResolveToTheirQueriesUntilTheyAreGone() {
        names.sent(s("DECLARE \"Mixed\" CURSOR WITH HOLD FOR SELECT a FROM t"));
        names.sent(s("DECLARE plain SCROLL CURSOR FOR SELECT b FROM t FOR UPDATE"));
        names.sent(s("PREPARE p(int) AS DELETE FROM t WHERE id = $1"));
        assertThat(runs("FETCH 10 FROM \"Mixed\"")).isEqualTo("select a from t");
        assertThat(runs("fetch from mixed")).as("unquoted names fold; \"Mixed\" is another name")
                .isEqualTo("fetch from mixed");
        assertThat(runs("MOVE ABSOLUTE -1 IN plain")).isEqualTo("select b from t for update");
        assertThat(runs("EXECUTE p(5)")).isEqualTo("delete from t where id = $1");
        assertThat(runs("SELECT 1")).isEqualTo("select ?");

        names.transactionEnded(); // cursors without HOLD end with the transaction
        assertThat(runs("FETCH plain")).isEqualTo("fetch plain");
        assertThat(runs("FETCH ALL IN \"Mixed\"")).isEqualTo("select a from t");

        names.sent(s("DEALLOCATE PREPARE p"));
        assertThat(runs("EXECUTE p(5)")).isEqualTo("execute p(?)");
        names.sent(s("PREPARE q AS SELECT 1"));
        names.sent(s("CLOSE ALL"));
        assertThat(runs("FETCH ALL IN \"Mixed\"")).isEqualTo("fetch all in \"Mixed\"");
        assertThat(runs("EXECUTE q")).isEqualTo("select ?");
        names.sent(s("DISCARD ALL"));
        assertThat(runs("EXECUTE q")).isEqualTo("execute q");
    }

    @Test
    void aDefinitionThatDidNotRunIsForgotten() {
        StatementInfo declare = s("DECLARE c CURSOR FOR SELECT secret FROM vault");
        names.sent(declare);
        assertThat(runs("FETCH c")).isEqualTo("select secret from vault");
        names.notRun(declare);
        assertThat(runs("FETCH c")).isEqualTo("fetch c");
        // PREPARE TRANSACTION is two-phase commit, not a statement name
        names.sent(s("PREPARE TRANSACTION 'tx1'"));
        assertThat(runs("EXECUTE transaction")).isEqualTo("execute transaction");
    }

    /** Names of huge queries are forgotten beyond the session's character budget; removing names makes room again. */
    @Test
    void aSessionKeepsAtMostABoundedAmountOfText() {
        String big = "SELECT '" + "x".repeat(100_000) + "' FROM t";
        int kept = 0;
        for (int i = 0; i < 20; i++) {
            names.sent(s("PREPARE big" + i + " AS " + big));
            names.sent(s("DECLARE cur" + i + " CURSOR WITH HOLD FOR " + big));
            kept += runs("EXECUTE big" + i).equals("select ? from t") ? 1 : 0;
            kept += runs("FETCH cur" + i).equals("select ? from t") ? 1 : 0;
            assertThat(names.chars()).isLessThanOrEqualTo(SqlObjects.MAX_CHARS);
        }
        assertThat(kept).isBetween(4, 6); // each name keeps about 200,000 characters (definition and query)
        assertThat(runs("EXECUTE big19")).as("beyond the budget: unknown, judged as sent").isEqualTo("execute big19");
        assertThat(runs("EXECUTE big0")).isEqualTo("select ? from t");

        // a redefinition that fits once the older query under its name is gone replaces it; one that does not fit
        // forgets the older query too
        names.sent(s("DECLARE cur0 CURSOR WITH HOLD FOR " + big.replace("FROM t", "FROM u")));
        assertThat(runs("FETCH cur0")).isEqualTo("select ? from u");
        names.sent(s("PREPARE big0 AS " + big.replace("x", "xxx")));
        assertThat(runs("EXECUTE big0")).isEqualTo("execute big0");

        names.sent(s("DEALLOCATE ALL"));
        names.sent(s("CLOSE ALL"));
        assertThat(names.chars()).isZero();
        names.sent(s("PREPARE big19 AS " + big));
        assertThat(runs("EXECUTE big19")).isEqualTo("select ? from t");
        names.transactionEnded();
        names.sent(s("DISCARD ALL"));
        assertThat(names.chars()).isZero();
    }

    @Test
    void aSessionKeepsAtMostABoundedNumberOfNames() {
        for (int i = 0; i < SqlObjects.MAX_NAMES + 10; i++) {
            names.sent(s("PREPARE p" + i + " AS SELECT " + i));
        }
        assertThat(runs("EXECUTE p0")).isEqualTo("select ?");
        assertThat(runs("EXECUTE p" + (SqlObjects.MAX_NAMES + 5))).as("beyond the bound: unknown, judged as sent")
                .isEqualTo("execute p" + (SqlObjects.MAX_NAMES + 5));
    }
}
