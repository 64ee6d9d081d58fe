package io.dbwarden.proxy.sql;

import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.proxy.filter.StatementInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class StatementAnalyzerTest {

    private static StatementInfo info(String sql) {
        return StatementInfo.of(SqlText.split(sql, true).get(0));
    }

    @Test
    void pathologicalStatementTimesOutIntoAnUnclassifiedResultAndThePoolRecovers() throws Exception {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 10 << 20, 200, 1)) {
            String huge = "SELECT * FROM t WHERE a IN (" + "1, ".repeat(600_000) + "1)";
            long start = System.nanoTime();
            StatementAnalysis a = analyzer.analyze(info(huge)).toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(3_000);
            assertThat(a.classified()).isFalse();
            assertThat(a.problem()).contains("longer than 200 ms");
            assertThat(analyzer.cached(info(huge))).as("timeouts are not cached").isNull();
            // the interrupted parse frees the worker: a normal statement is analysed again (a statement that only
            // waited in the queue is not remembered as failed, so retrying it works)
            org.awaitility.Awaitility.await().atMost(5, TimeUnit.SECONDS).until(() -> analyzer
                    .analyze(info("SELECT * FROM orders")).toCompletableFuture().get(5, TimeUnit.SECONDS).classified());
        }
    }

    /** Conditions that select every row whatever the data count as no WHERE (the no-mass-delete guard). */
    @ParameterizedTest
    @ValueSource(strings = {
            "DELETE FROM orders",
            "DELETE FROM orders WHERE true",
            "DELETE FROM orders WHERE TRUE",
            "DELETE FROM orders WHERE NOT false",
            "DELETE FROM orders WHERE 1 = 1",
            "DELETE FROM orders WHERE 1=1",
            "DELETE FROM orders WHERE (1 = 1)",
            "DELETE FROM orders WHERE ((true))",
            "DELETE FROM orders WHERE 'a' = 'a'",
            "DELETE FROM orders WHERE 1 <> 2",
            "DELETE FROM orders WHERE 2 > 1",
            "DELETE FROM orders WHERE '1'::int = 1",
            "DELETE FROM orders WHERE -1 < +1",
            "DELETE FROM orders WHERE 't'",
            "DELETE FROM orders WHERE 'true'::boolean",
            "DELETE FROM orders WHERE $1",
            "DELETE FROM orders WHERE $1 = $2",
            "DELETE FROM orders WHERE id = id",
            "DELETE FROM orders o WHERE o.id = o.id",
            "DELETE FROM orders o WHERE \"o\".\"Id\" >= \"o\".\"Id\"",
            "DELETE FROM orders WHERE false OR true",
            "DELETE FROM orders WHERE id = 5 OR 1 = 1",
            "DELETE FROM orders WHERE id = 5 OR (2 = 2 AND true)",
            "DELETE FROM orders WHERE 1 = 1 AND true",
            "DELETE FROM orders WHERE 1 = 1 RETURNING id",
            "UPDATE orders SET state = 'x' WHERE 1 = 1",
            "UPDATE orders SET state = 'x' WHERE state = state",
            "WITH d AS (DELETE FROM orders WHERE true OR id = 1 RETURNING *) SELECT count(*) FROM d",
            // a MERGE that updates or deletes every target row
            "MERGE INTO orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
            "MERGE INTO orders o USING src s ON 1 = 1 WHEN NOT MATCHED THEN INSERT VALUES (1) "
                    + "WHEN MATCHED THEN UPDATE SET state = 'x'",
            "MERGE INTO orders o USING src s ON (o.id = o.id) WHEN MATCHED THEN UPDATE SET state = CASE WHEN s.x "
                    + "THEN 'a' END",
            "MERGE INTO orders USING src ON false WHEN NOT MATCHED BY SOURCE THEN DELETE",
    })
    void alwaysTrueConditionsCountAsNoWhere(String sql) {
        assertThat(withoutWhere(sql)).as(sql).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "DELETE FROM orders WHERE id = 1",
            "DELETE FROM orders WHERE id = $1",
            "DELETE FROM orders WHERE false",
            "DELETE FROM orders WHERE null",
            "DELETE FROM orders WHERE id = 5 AND 1 = 1",
            "DELETE FROM orders WHERE (id = 5) AND (true)",
            "DELETE FROM orders WHERE id = 5 OR id = 6",
            "DELETE FROM orders WHERE id BETWEEN 1 AND 2",
            "DELETE FROM orders WHERE 1 BETWEEN id AND 2",
            "DELETE FROM orders WHERE id IN (1, 2)",
            "DELETE FROM orders WHERE id = (SELECT 1)",
            "DELETE FROM orders WHERE id = other_id",
            "DELETE FROM orders o WHERE o.id = p.id",
            "DELETE FROM orders WHERE id + 1 = id + 1 AND id = 3",
            "DELETE FROM orders WHERE CURRENT OF c",
            "DELETE FROM orders WHERE state::text = 'x'",
            "UPDATE orders SET state = 'x' WHERE id = 1 RETURNING 1 = 1",
            "WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d WHERE true",
            "MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN DELETE",
            "MERGE INTO orders o USING src s ON true WHEN MATCHED AND o.id = s.id THEN DELETE",
            "MERGE INTO orders o USING src s ON true WHEN NOT MATCHED THEN INSERT VALUES (1)",
            "MERGE INTO orders o USING src s ON false WHEN NOT MATCHED THEN INSERT VALUES (1)",
            "MERGE INTO orders o USING src s ON true WHEN NOT MATCHED BY SOURCE THEN DELETE",
            "MERGE INTO orders o USING src s ON o.id = s.id WHEN NOT MATCHED BY SOURCE AND o.old THEN DELETE",
    })
    void realConditionsAreWheres(String sql) {
        assertThat(withoutWhere(sql)).as(sql).isFalse();
    }

    private static boolean withoutWhere(String sql) {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            return analyzer.analyzeNow(info(sql)).withoutWhere();
        }
    }

    private static List<String> tables(String sql) {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            StatementAnalysis a = analyzer.analyzeNow(info(sql));
            assertThat(a.tablesComplete()).as(sql).isTrue();
            return a.tables().stream().map(StatementAnalysis.QualifiedName::toString).toList();
        }
    }

    /**
     * The tables are the parser's and the lexer's: JSqlParser parses these without error but leaves a table out, and
     * drops every name some WITH query has, wherever that query is visible. A name read where a WITH query of its
     * name is visible is that query; read elsewhere, or written to, it is the table.
     */
    @Test
    void tablesAParserLeavesOutAreKeptAndWithQueriesAreResolvedByScope() {
        assertThat(tables("SELECT * FROM users WHERE a = ALL (ARRAY(TABLE keys))")).containsExactlyInAnyOrder(
                "users", "keys");
        assertThat(tables("SELECT * FROM (TABLE keys) k")).containsExactly("keys");
        assertThat(tables("SELECT position('a' IN (SELECT v FROM keys))")).containsExactly("keys");
        assertThat(tables("SELECT * FROM XMLTABLE('/x' PASSING (SELECT v FROM keys) COLUMNS a int)"))
                .containsExactly("keys");
        // outside the WITH query's scope, before it (not RECURSIVE), as a write's target: the table
        assertThat(tables("SELECT * FROM keys, (WITH keys AS (SELECT 1) SELECT * FROM keys) s")).containsExactly("keys");
        assertThat(tables("WITH a AS (SELECT * FROM keys), keys AS (SELECT 1) SELECT * FROM a")).containsExactly("keys");
        assertThat(tables("WITH keys AS (SELECT 1) DELETE FROM keys")).containsExactly("keys");
        assertThat(tables("WITH keys AS (SELECT 1) INSERT INTO keys SELECT * FROM keys")).containsExactly("keys");
        assertThat(tables("WITH keys AS (SELECT 1) SELECT * FROM public.keys")).containsExactly("public.keys");
        // in its scope: the WITH query
        assertThat(tables("WITH keys AS (SELECT 1) SELECT * FROM keys")).isEmpty();
        assertThat(tables("WITH RECURSIVE a AS (SELECT * FROM keys), keys AS (SELECT 1) SELECT * FROM a")).isEmpty();
        assertThat(tables("WITH k(a) AS NOT MATERIALIZED (SELECT 1) SELECT * FROM k JOIN (TABLE k) j ON true"))
                .isEmpty();
        assertThat(tables("WITH x AS (SELECT email FROM customers) UPDATE tickets SET note = x.email FROM x"))
                .containsExactlyInAnyOrder("tickets", "customers");
        // SEARCH and CYCLE clauses list columns with commas of their own; the WITH queries after them are still seen
        for (String sql : List.of(
                "WITH RECURSIVE r(a, b) AS (SELECT 1, 2 UNION ALL SELECT a + 1, b FROM r WHERE a < 3) "
                        + "SEARCH DEPTH FIRST BY a, b SET ord, keys AS (SELECT 1) SELECT * FROM r, keys",
                "WITH RECURSIVE r(a, b) AS (SELECT 1, 2 UNION ALL SELECT a + 1, b FROM r WHERE a < 3) "
                        + "CYCLE a, b SET looped TO true DEFAULT false USING path, keys AS (TABLE r) "
                        + "SELECT * FROM keys")) {
            StatementClassifier.Result c = StatementClassifier.classify(SqlLexer.tokenize(sql, true));
            assertThat(c.classified()).as(sql).isTrue();
            assertThat(c.relations()).as(sql).isEmpty();
        }
        StatementClassifier.Result cycle = StatementClassifier.classify(SqlLexer.tokenize(
                "WITH RECURSIVE r(a, b) AS (SELECT 1, 2 UNION ALL SELECT a + 1, b FROM r WHERE a < 3) "
                        + "CYCLE a, b SET looped USING path DELETE FROM keys WHERE a IN (SELECT a FROM r)", true));
        assertThat(cycle.classified()).isTrue();
        assertThat(cycle.kinds()).contains(StatementKind.DELETE);
        assertThat(cycle.relations()).containsExactly(new StatementAnalysis.QualifiedName(null, "keys"));
        // the lexer's own list has TABLE's table after EXPLAIN's options and after ONLY
        for (String sql : List.of("EXPLAIN ANALYZE TABLE secret.keys", "EXPLAIN (ANALYZE, BUFFERS) TABLE secret.keys",
                "TABLE ONLY secret.keys", "SELECT * FROM users UNION TABLE ONLY secret.keys")) {
            assertThat(StatementClassifier.classify(SqlLexer.tokenize(sql, true)).tables()).as(sql)
                    .contains(new StatementAnalysis.QualifiedName("secret", "keys"));
        }
        // names as the server keeps them: ASCII letters folded, cut to 63 bytes
        assertThat(tables("SELECT * FROM ÉMAILS JOIN \"Émails\" ON true")).containsExactly("Émails");
        assertThat(tables("SELECT * FROM " + "T".repeat(70))).containsExactly("t".repeat(63));
    }

    /**
     * PostgreSQL syntax JSqlParser does not know is rewritten for it without adding or losing a relation, so these
     * common statements get a complete table list (an incomplete one never satisfies an allow rule).
     */
    @Test
    void syntaxJSqlParserDoesNotKnowIsRewrittenForIt() {
        assertThat(tables("SELECT name::text COLLATE \"C\" FROM users ORDER BY 1")).containsExactly("users");
        assertThat(tables("SELECT name FROM users ORDER BY name::text COLLATE pg_catalog.\"C\"")).containsExactly("users");
        assertThat(tables("DELETE FROM ONLY orders WHERE id = 1")).containsExactly("orders");
        assertThat(tables("UPDATE ONLY orders SET total = 0 WHERE id = 1")).containsExactly("orders");
        assertThat(tables("SELECT * FROM users u JOIN ONLY orders o ON o.user_id = u.id"))
                .containsExactlyInAnyOrder("users", "orders");
        assertThat(tables("SELECT * FROM users u WHERE EXISTS (SELECT FROM orders o WHERE o.user_id = u.id)"))
                .containsExactlyInAnyOrder("users", "orders");
        assertThat(tables("SELECT * FROM U&\"us!0065rs\" UESCAPE '!' u")).containsExactly("users");
        assertThat(tables("SELECT * FROM users WHERE id IN (TABLE banned)")).containsExactlyInAnyOrder("users", "banned");
        assertThat(tables("SELECT id FROM users UNION ALL TABLE ONLY archived")).containsExactlyInAnyOrder("users",
                "archived");
        assertThat(tables("TRUNCATE TABLE jobs, runs RESTART IDENTITY")).containsExactlyInAnyOrder("jobs", "runs");
        assertThat(tables("TRUNCATE jobs CONTINUE IDENTITY RESTRICT")).containsExactly("jobs");
        StatementInfo s = info("SELECT \"only\", a COLLATE \"C\" FROM ONLY t WHERE x IN (TABLE u) FETCH FIRST 1 ROWS ONLY");
        assertThat(StatementAnalyzer.forParser(s, 0, s.text().length()))
                .isEqualTo("SELECT \"only\", a   FROM   t WHERE x IN (SELECT * FROM u) FETCH FIRST 1 ROWS ONLY");
    }

    @Test
    void statementsThatDifferOnlyInLiteralsShareOneAnalysis() {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            StatementAnalysis a = analyzer.analyzeNow(info("SELECT * FROM orders WHERE id = 1"));
            assertThat(analyzer.cached(info("select * from orders where id = 99"))).isSameAs(a);
            assertThat(a.tables()).containsExactly(new StatementAnalysis.QualifiedName(null, "orders"));
            assertThat(a.tablesComplete()).isTrue();
        }
    }

    @Test
    void parserFallbackStatementsAreClassified() {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            assertThat(analyzer.analyzeNow(info("BEGIN")).kinds()).containsExactly(StatementKind.TRANSACTION);
            assertThat(analyzer.analyzeNow(info("START TRANSACTION ISOLATION LEVEL SERIALIZABLE")).kinds())
                    .containsExactly(StatementKind.TRANSACTION);
            assertThat(analyzer.analyzeNow(info("SET statement_timeout TO 5000")).kinds())
                    .containsExactly(StatementKind.SET);
            StatementAnalysis copy = analyzer.analyzeNow(info("COPY public.items FROM STDIN WITH (FORMAT csv)"));
            assertThat(copy.kinds()).containsExactly(StatementKind.COPY);
            assertThat(copy.tables()).containsExactly(new StatementAnalysis.QualifiedName("public", "items"));
            assertThat(copy.tablesComplete()).isTrue();
            assertThat(analyzer.analyzeNow(info("LISTEN jobs")).kinds()).containsExactly(StatementKind.OTHER);
            assertThat(analyzer.analyzeNow(info("DO $$BEGIN PERFORM 1; END$$")).kinds()).containsExactly(StatementKind.DO);
            assertThat(analyzer.analyzeNow(info("VACUUM ANALYZE items")).kinds()).containsExactly(StatementKind.OTHER);
            StatementAnalysis unknown = analyzer.analyzeNow(info("FROBNICATE everything"));
            assertThat(unknown.classified()).isFalse();
            assertThat(unknown.problem()).contains("FROBNICATE");
        }
    }

    @Test
    void wrappersAreAnalysedByTheQueryTheyWrap() {
        StatementAnalysis.QualifiedName items = new StatementAnalysis.QualifiedName(null, "items");
        StatementAnalysis.QualifiedName users = new StatementAnalysis.QualifiedName("app", "users");
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            StatementAnalysis declare = analyzer.analyzeNow(info("DECLARE \"c1\" NO SCROLL CURSOR WITH HOLD FOR "
                    + "SELECT i.id FROM items i JOIN app.users u ON u.id = i.owner"));
            assertThat(declare.kinds()).containsExactly(StatementKind.SELECT);
            assertThat(declare.tables()).containsExactlyInAnyOrder(items, users);
            assertThat(declare.tablesComplete()).isTrue();

            StatementAnalysis prepare = analyzer.analyzeNow(info("PREPARE del(int, text) AS DELETE FROM items "
                    + "WHERE id = $1 AND owner IN (SELECT id FROM app.users WHERE name = $2)"));
            assertThat(prepare.kinds()).containsExactly(StatementKind.DELETE);
            assertThat(prepare.tables()).containsExactlyInAnyOrder(items, users);
            assertThat(prepare.tablesComplete()).isTrue();
            assertThat(prepare.functions()).as("the statement name is not a call").isEmpty();

            StatementAnalysis copy = analyzer.analyzeNow(info("COPY (SELECT id FROM items) TO STDOUT WITH (FORMAT csv)"));
            assertThat(copy.kinds()).containsExactlyInAnyOrder(StatementKind.COPY, StatementKind.SELECT);
            assertThat(copy.tables()).containsExactly(items);
            assertThat(copy.tablesComplete()).isTrue();
            assertThat(copy.functions()).isEmpty();

            assertThat(analyzer.analyzeNow(info("EXECUTE del(1, 'x')")).functions()).isEmpty();
            // on its own a FETCH reads a cursor, not a table: what it reads is unknown (the session resolves it)
            StatementAnalysis fetch = analyzer.analyzeNow(info("FETCH FORWARD 10 FROM items"));
            assertThat(fetch.kinds()).containsExactly(StatementKind.SELECT);
            assertThat(fetch.tables()).isEmpty();
            assertThat(fetch.tablesComplete()).isFalse();
        }
    }

    @Test
    void psqlDescribeQueriesWithOperatorSyntaxAreParsedCompletely() {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            // what psql sends for \d orders
            StatementAnalysis d = analyzer.analyzeNow(info("SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c "
                    + "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname "
                    + "OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default AND "
                    + "pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3"));
            assertThat(d.tablesComplete()).isTrue();
            assertThat(d.tables()).containsExactlyInAnyOrder(
                    new StatementAnalysis.QualifiedName("pg_catalog", "pg_class"),
                    new StatementAnalysis.QualifiedName("pg_catalog", "pg_namespace"));
            assertThat(d.functions()).containsExactly(
                    new StatementAnalysis.QualifiedName("pg_catalog", "pg_table_is_visible"));
            assertThat(analyzer.analyzeNow(info("SELECT 1 WHERE 2 OPERATOR ( = ) 2")).tablesComplete()).isTrue();
            // only the exact OPERATOR(op) shape is rewritten: a call with a query inside stays what it is
            StatementAnalysis call = analyzer.analyzeNow(info("SELECT operator((SELECT max(v) FROM secret.keys))"));
            assertThat(call.functions()).extracting(StatementAnalysis.QualifiedName::name).contains("operator");
            assertThat(call.tables()).contains(new StatementAnalysis.QualifiedName("secret", "keys"));
        }
    }

    @Test
    void qualifiedCallsOfFunctionsNamedLikeKeywordsAreCalls() {
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 1000, 1)) {
            // PostgreSQL accepts any word after "schema.", so a function may be called "select" or "values"
            assertThat(analyzer.analyzeNow(info("SELECT public.select(1)")).functions())
                    .containsExactly(new StatementAnalysis.QualifiedName("public", "select"));
            assertThat(analyzer.analyzeNow(info("SELECT x FROM t WHERE public.exists(x) AND pg_catalog.left(x, 2) = 'a'"))
                    .functions()).containsExactlyInAnyOrder(new StatementAnalysis.QualifiedName("public", "exists"),
                    new StatementAnalysis.QualifiedName("pg_catalog", "left"));
            // unqualified, the same words are SQL syntax, and a table named after a keyword is not a call
            assertThat(analyzer.analyzeNow(info("SELECT 1 WHERE EXISTS (SELECT 1) AND 2 IN (2)")).functions()).isEmpty();
            StatementAnalysis insert = analyzer.analyzeNow(info("INSERT INTO public.values (a) VALUES (1)"));
            assertThat(insert.functions()).isEmpty();
            assertThat(insert.tables()).containsExactly(new StatementAnalysis.QualifiedName("public", "values"));
        }
    }
}
