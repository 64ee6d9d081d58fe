package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The quick table list the classifier reads off the tokens (masking's lineage of computed columns relies on it,
 * policy decisions when the full parser cannot read a statement): every table of a FROM list, none of the operands
 * that FROM also introduces.
 */
class StatementClassifierTest {
    private static List<String> tables(String sql) {
        return StatementClassifier.classify(SqlLexer.tokenize(sql, true)).tables().stream()
                .map(n -> n.schema() == null ? n.name() : n.schema() + "." + n.name()).toList();
    }

    @Test
    void everyTableOfAFromListCounts() {
        assertThat(tables("SELECT v, m.email FROM scratch, customers m WHERE m.id = 1"))
                .containsExactlyInAnyOrder("scratch", "customers");
        assertThat(tables("SELECT * FROM generate_series(1, 3) g, public.t, LATERAL (SELECT 1) l, ONLY s"))
                .containsExactlyInAnyOrder("public.t", "s");
        assertThat(tables("SELECT * FROM (SELECT 1) o, t AS x(a, b), u"))
                .containsExactlyInAnyOrder("t", "u");
        // the list goes on after a join's condition, also after a joined subquery
        assertThat(tables("SELECT * FROM a JOIN (SELECT x FROM q WHERE z) b ON a.id = b.id, c"))
                .containsExactlyInAnyOrder("a", "q", "c");
        assertThat(tables("SELECT * FROM a JOIN b USING (id), c")).containsExactlyInAnyOrder("a", "b", "c");
        assertThat(tables("SELECT * FROM a JOIN b USING (id, \"Region\") JOIN c USING (k)"))
                .containsExactlyInAnyOrder("a", "b", "c");
        assertThat(tables("DELETE FROM t USING (a JOIN b ON a.id = b.id) WHERE t.id = a.id"))
                .containsExactlyInAnyOrder("t", "a", "b");
        assertThat(tables("UPDATE t SET a = 1 FROM x, y WHERE t.id = x.id")).containsExactlyInAnyOrder("t", "x", "y");
        assertThat(tables("DELETE FROM t USING a, b WHERE t.x = a.x")).containsExactlyInAnyOrder("t", "a", "b");
        assertThat(tables("INSERT INTO t SELECT * FROM a, b ON CONFLICT DO NOTHING"))
                .containsExactlyInAnyOrder("t", "a", "b");
        assertThat(tables("COPY (SELECT * FROM a, b) TO STDOUT")).containsExactlyInAnyOrder("a", "b");
        assertThat(tables("MERGE INTO t AS x USING s.src c ON x.id = c.id WHEN MATCHED THEN UPDATE SET v = 1 "
                + "RETURNING c.email")).containsExactlyInAnyOrder("t", "s.src");
        assertThat(tables("MERGE INTO t USING (SELECT * FROM src) c ON t.id = c.id WHEN MATCHED THEN DO NOTHING"))
                .containsExactlyInAnyOrder("t", "src");
        assertThat(tables("SELECT * FROM a JOIN b USING (id)")).containsExactlyInAnyOrder("a", "b");
        assertThat(tables("SELECT (SELECT max(x) FROM p, q) FROM r")).containsExactlyInAnyOrder("p", "q", "r");
        // parenthesized join trees
        assertThat(tables("SELECT 1 FROM ((a JOIN b ON true) JOIN c ON true)")).containsExactlyInAnyOrder("a", "b", "c");
        assertThat(tables("SELECT * FROM x, (b JOIN c ON true)")).containsExactlyInAnyOrder("x", "b", "c");
        assertThat(tables("SELECT * FROM ((SELECT 1 FROM q) s JOIN y ON true)")).containsExactlyInAnyOrder("q", "y");
        // a list ends where the clause does
        assertThat(tables("SELECT * FROM a, b WHERE x IN (1, 2) ORDER BY c, d")).containsExactlyInAnyOrder("a", "b");
    }

    @Test
    void theTableCommandReadsItsTable() {
        assertThat(tables("TABLE a")).containsExactly("a");
        assertThat(tables("SELECT lower(x) FROM (TABLE s.a) t(id, x)")).containsExactly("s.a");
        assertThat(tables("SELECT * FROM a UNION ALL TABLE b")).containsExactlyInAnyOrder("a", "b");
        assertThat(tables("CREATE TABLE t2 AS TABLE a")).containsExactly("a");
        assertThat(tables("INSERT INTO b TABLE a")).containsExactlyInAnyOrder("b", "a");
        assertThat(tables("INSERT INTO b (c) TABLE a")).containsExactlyInAnyOrder("b", "a");
        assertThat(tables("WITH x AS (TABLE a) SELECT * FROM x")).contains("a");
        // TABLE that defines, changes or names a table reads none
        for (String sql : List.of("CREATE TEMP TABLE t (id int)", "GRANT SELECT ON TABLE a TO r",
                "ALTER TABLE a ADD COLUMN b int", "DROP TABLE IF EXISTS a", "COMMENT ON TABLE a IS 'x'",
                "CREATE FUNCTION f() RETURNS TABLE (x int) AS 'select 1' LANGUAGE sql")) {
            assertThat(tables(sql)).as(sql).isEmpty();
        }
    }

    @Test
    void fromOfOperandsIsNoTable() {
        assertThat(tables("SELECT extract(year FROM d), x FROM t, u")).containsExactlyInAnyOrder("t", "u");
        assertThat(tables("SELECT substring(s FROM 2 FOR 3), trim(both ' ' FROM s), overlay(s PLACING 'x' FROM 1) "
                + "FROM t")).containsExactly("t");
        assertThat(tables("SELECT a IS DISTINCT FROM b, c FROM t")).containsExactly("t");
        // a subquery among such arguments reads its own tables
        assertThat(tables("SELECT substring((SELECT s FROM secrets LIMIT 1) FROM 2) FROM t"))
                .containsExactlyInAnyOrder("secrets", "t");
        // COPY's own FROM: its legacy column list is no FROM list
        assertThat(tables("COPY t FROM STDIN WITH CSV FORCE NOT NULL a, b")).containsExactly("t");
    }

    @Test
    void namesAreQualifiedAsWritten() {
        assertThat(StatementClassifier.classify(SqlLexer.tokenize("SELECT 1 FROM a, s.b", true)).tables())
                .containsExactlyInAnyOrder(new QualifiedName(null, "a"), new QualifiedName("s", "b"));
    }
}
