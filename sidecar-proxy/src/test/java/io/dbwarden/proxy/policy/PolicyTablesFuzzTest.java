package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.SqlSqueeze;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tables a statement reads, as the proxy lists them for policy rules, against what PostgreSQL itself resolved:
 * each random query is made a temporary view, and the relations the view's rule depends on (pg_depend) are the
 * server's list, after its own name folding, cutting and WITH-query scoping. Every relation the server reads must be
 * on the proxy's list, or the proxy must say its list is incomplete (then table rules fail closed). The queries put
 * table reads where parsers lose them: scalar and ARRAY subqueries, TABLE, function arguments written with FROM or
 * IN, XMLTABLE, LATERAL, set operations, WITH queries named like tables in and out of their scope, names spelt in
 * other case, quoted, qualified or longer than the server keeps. Queries the server rejects are skipped, but most
 * must run. Writes the same way, with the relations their plans scan or change as the server's list, and the kinds
 * of change the plan makes (INSERT, UPDATE, DELETE, MERGE) among the statement's kinds. Seed and count:
 * {@code -Ddbwarden.fuzz.seed}, {@code -Ddbwarden.fuzz.queries}.
 */
class PolicyTablesFuzzTest {
    /** 63 bytes: the server keeps this much of any longer name. */
    private static final String LONG = "fz_long_table_name_that_the_server_keeps_only_sixty_three_bytes";
    private static final List<String> TABLES = List.of("public.fz_a", "public.fz_b", "fz_sec.fz_s", "fz_sec.fz_a",
            "public.\"Fz_Émail\"", "public." + LONG);

    private final Random random;

    PolicyTablesFuzzTest() {
        random = new Random(Long.getLong("dbwarden.fuzz.seed", 20261206L));
    }

    @Test
    void everyTableTheServerReadsIsListedOrTheListIsIncomplete() throws Exception {
        run("reads", () -> query(2), PolicyTablesFuzzTest::viewReads);
    }

    /**
     * Writes (INSERT ... SELECT, UPDATE ... FROM, DELETE ... USING, MERGE, writing WITH queries, ON CONFLICT), with
     * the server's list from their plan ({@code EXPLAIN (VERBOSE, FORMAT JSON)}, not run): every relation the plan
     * scans or changes. The planner may leave out what it proves unneeded, never adds a relation the statement does
     * not name (the tables here have no partitions, children or views).
     */
    @Test
    void everyTableAWriteTouchesIsListedOrTheListIsIncomplete() throws Exception {
        run("writes", this::write, PolicyTablesFuzzTest::planRelations);
    }

    private interface ServerList {
        /**
         * The relations the server resolved the statement's names to, and {@code kind:KIND} for each kind of change
         * it makes; null when it rejects the statement.
         */
        Set<String> of(Statement s, String sql) throws SQLException;
    }

    private void run(String what, Supplier<String> statements, ServerList server) throws Exception {
        int queries = Integer.getInteger("dbwarden.fuzz.queries", 600);
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261206L);
        int ran = 0;
        int incomplete = 0;
        int touching = 0;
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1)) {
            s.execute("DROP SCHEMA IF EXISTS fz_sec CASCADE");
            s.execute("CREATE SCHEMA fz_sec");
            for (String t : TABLES) {
                s.execute("DROP TABLE IF EXISTS " + t);
                s.execute("CREATE TABLE " + t + " (v int PRIMARY KEY)");
                s.execute("INSERT INTO " + t + " VALUES (1)");
            }
            try {
                for (int q = 0; q < queries; q++) {
                    String sql = statements.get();
                    if (random.nextInt(4) == 0) {
                        sql = SqlSqueeze.squeeze(sql);
                    }
                    Set<String> touched = server.of(s, sql);
                    if (touched == null) {
                        continue; // the server rejects it
                    }
                    ran++;
                    touching += touched.isEmpty() ? 0 : 1;
                    StatementAnalysis a = analyzer.analyzeNow(StatementInfo.of(SqlText.split(sql, true).get(0)));
                    Set<String> listed = new TreeSet<>();
                    for (io.dbwarden.api.v1alpha1.StatementKind k : a.kinds()) {
                        listed.add("kind:" + k);
                    }
                    if (a.classified()) { // the kinds of change, whether or not the tables could be listed
                        assertThat(listed).as("seed %d, %s %d: %s", seed, what, q, sql)
                                .containsAll(touched.stream().filter(t -> t.startsWith("kind:")).toList());
                    }
                    if (!a.classified() || !a.tablesComplete()) {
                        incomplete++;
                        continue;
                    }
                    for (StatementAnalysis.QualifiedName n : a.tables()) {
                        listed.add(n.inSchema("public").toString());
                    }
                    assertThat(listed).as("seed %d, %s %d: %s", seed, what, q, sql).containsAll(touched);
                }
            } finally {
                s.execute("DROP SCHEMA fz_sec CASCADE");
                s.execute("DROP TABLE IF EXISTS public.fz_a, public.fz_b, public.\"Fz_Émail\", public." + LONG);
            }
        }
        System.out.printf("policy tables fuzz (%s): seed %d, %d statements, %d run by the server, %d listed "
                + "completely%n", what, seed, queries, ran, ran - incomplete);
        assertThat(ran).as("statements the server ran").isGreaterThan(queries / 2);
        assertThat(touching).as("statements the server says touch a table (of %d run)", ran).isGreaterThan(ran / 2);
        // the others fail closed (JSqlParser does not parse VALUES in set operations, XMLTABLE, ...), but most must
        // be listed: allow rules never match an incomplete list
        assertThat(ran - incomplete).as("statements the proxy listed completely (of %d run)", ran)
                .isGreaterThan(ran * 3 / 4);
    }

    private static final java.util.regex.Pattern PLAN_RELATION = java.util.regex.Pattern.compile(
            "\"Relation Name\": \"((?:[^\"\\\\]|\\\\.)*)\",\\s*\"Schema\": \"((?:[^\"\\\\]|\\\\.)*)\"");

    private static final java.util.regex.Pattern PLAN_OPERATION = java.util.regex.Pattern.compile(
            "\"Operation\": \"(Insert|Update|Delete|Merge)\"");

    /** The relations the statement's plan scans or changes, and the kinds of its changes. */
    private static Set<String> planRelations(Statement s, String sql) throws SQLException {
        String plan;
        try (ResultSet rs = s.executeQuery("EXPLAIN (VERBOSE, FORMAT JSON) " + sql)) {
            rs.next();
            plan = rs.getString(1);
        } catch (SQLException e) {
            return null;
        }
        Set<String> touched = new TreeSet<>();
        java.util.regex.Matcher m = PLAN_RELATION.matcher(plan);
        while (m.find()) {
            touched.add(new StatementAnalysis.QualifiedName(m.group(2), m.group(1)).toString());
        }
        m = PLAN_OPERATION.matcher(plan);
        while (m.find()) {
            touched.add("kind:" + m.group(1).toUpperCase(java.util.Locale.ROOT));
        }
        return touched;
    }

    /** A write whose other parts may read tables. */
    private String write() {
        String target = table().replace("ONLY ", "");
        return pick(
                () -> "INSERT INTO " + target + " " + query(1) + " ON CONFLICT DO NOTHING",
                () -> "INSERT INTO " + target + " (v) VALUES (" + expr(1) + ") ON CONFLICT (v) DO UPDATE SET v = "
                        + expr(0),
                () -> "UPDATE " + table() + " SET v = " + expr(1) + " WHERE " + condition(1),
                () -> "UPDATE " + table() + " t SET v = s.v FROM " + from(1) + " WHERE t.v = s.v",
                () -> "DELETE FROM " + table() + " WHERE " + condition(1),
                () -> "DELETE FROM " + table() + " t USING " + from(1) + " WHERE t.v = " + expr(0),
                () -> "MERGE INTO " + target + " t USING (" + query(1) + ") s ON t.v = s.v WHEN MATCHED THEN "
                        + "UPDATE SET v = " + expr(0) + " WHEN NOT MATCHED THEN INSERT VALUES (s.v)",
                () -> "WITH d AS (DELETE FROM " + table() + " WHERE " + condition(0) + " RETURNING v) "
                        + pick(() -> "SELECT v FROM d", () -> "INSERT INTO " + target + " SELECT v + 100 FROM d",
                                () -> "UPDATE " + table() + " SET v = v WHERE v IN (TABLE d)"),
                () -> "WITH " + pick(() -> "fz_a", () -> "fz_b", () -> "w") + " AS (" + query(1) + ") "
                        + pick(() -> "INSERT INTO fz_a SELECT v + 100 FROM fz_b ON CONFLICT DO NOTHING",
                                () -> "DELETE FROM fz_a WHERE v IN (SELECT v FROM fz_b)",
                                () -> "UPDATE fz_b SET v = v WHERE EXISTS (TABLE fz_a)"));
    }

    /** The relations (schema.name, as QualifiedName prints them) the server resolved the query's names to. */
    private static Set<String> viewReads(Statement s, String sql) throws SQLException {
        try {
            s.execute("CREATE TEMP VIEW fz_probe AS " + sql);
        } catch (SQLException e) {
            return null;
        }
        Set<String> read = new TreeSet<>();
        try (ResultSet rs = s.executeQuery("""
                SELECT DISTINCT n.nspname, c.relname FROM pg_rewrite r
                JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                 AND d.refclassid = 'pg_class'::regclass
                JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE r.ev_class = 'fz_probe'::regclass AND c.oid <> 'fz_probe'::regclass""")) {
            while (rs.next()) {
                read.add(new StatementAnalysis.QualifiedName(rs.getString(1), rs.getString(2)).toString());
            }
        } finally {
            s.execute("DROP VIEW fz_probe");
        }
        return read;
    }

    /** A table, spelt one of the ways the server reads as it. */
    private String table() {
        return pick(
                () -> "fz_a", () -> "FZ_A", () -> "\"fz_a\"", () -> "public.fz_a", () -> "fz_b", () -> "Public.FZ_B",
                () -> "fz_sec.fz_s", () -> "FZ_SEC.FZ_S", () -> "\"fz_sec\".\"fz_s\"", () -> "fz_sec.fz_a",
                () -> "FZ_ÉMAIL", () -> "\"Fz_Émail\"", () -> LONG.toUpperCase(java.util.Locale.ROOT) + "_and_more",
                () -> "U&\"fz_\\0061\"", () -> "ONLY fz_b");
    }

    /** A one-column int query (its column named v); {@code depth} bounds the nesting. */
    private String query(int depth) {
        if (depth <= 0) {
            return pick(() -> "SELECT v FROM " + table(), () -> "TABLE " + table().replace("ONLY ", ""),
                    () -> "SELECT 1 AS v", () -> "VALUES (1)");
        }
        int d = depth - 1;
        return pick(
                () -> "SELECT " + expr(d) + " AS v FROM " + from(d),
                () -> "SELECT " + expr(d) + " AS v",
                () -> "SELECT v FROM " + from(d) + " WHERE " + condition(d),
                () -> with(d),
                () -> query(d) + pick(() -> " UNION ALL ", () -> " UNION ", () -> " EXCEPT ", () -> " INTERSECT ")
                        + query(d),
                () -> "(" + query(d) + ") UNION ALL (" + query(d) + ")");
    }

    /** WITH queries, some named like the tables, read in and out of their scope. */
    private String with(int d) {
        String first = pick(() -> "fz_a", () -> "fz_b", () -> "w1", () -> "fz_s");
        String second = pick(() -> "fz_a", () -> "w2", () -> "fz_b");
        boolean recursive = random.nextInt(5) == 0;
        String main = pick(() -> "SELECT v FROM " + first, () -> "SELECT v FROM " + second,
                () -> "SELECT v FROM " + first + ", " + table() + " x", () -> "TABLE " + second,
                () -> query(d));
        return "WITH " + (recursive ? "RECURSIVE " : "") + first + " AS (" + query(d) + ")"
                + (random.nextBoolean() ? ", " + second + " AS (" + pick(() -> "SELECT v FROM " + first,
                        () -> "TABLE " + first, () -> query(d)) + ")" : "")
                + " " + main;
    }

    private String from(int d) {
        return pick(
                () -> table() + " t",
                () -> table(),
                () -> "(" + query(d) + ") s",
                () -> table() + " x JOIN " + table() + " y ON true",
                () -> table() + " x, LATERAL (" + query(d) + ") l",
                () -> "(" + query(d) + ") s (v)",
                () -> "(TABLE " + table().replace("ONLY ", "") + ") s",
                () -> "XMLTABLE('/r' PASSING xmlelement(name r, (" + query(d) + " LIMIT 1)) COLUMNS v int PATH '.') x",
                () -> "unnest(ARRAY(" + query(d) + ")) AS u(v)",
                () -> "generate_series(1, (" + query(d) + " LIMIT 1)) AS g(v)");
    }

    /** An int expression that may read tables. */
    private String expr(int d) {
        return pick(
                () -> "1",
                () -> "(" + query(d) + " LIMIT 1)",
                () -> "(SELECT count(*)::int FROM " + from(d) + ")",
                () -> "cardinality(ARRAY(" + query(d) + "))",
                () -> "position('1' IN (" + query(d) + " LIMIT 1)::text)",
                () -> "length(substring('abcdef' FROM (" + query(d) + " LIMIT 1)))",
                () -> "length(overlay('abcdef' placing 'x' from (" + query(d) + " LIMIT 1)))",
                () -> "extract(day FROM make_date(2020, 1, (" + query(d) + " LIMIT 1)))::int",
                () -> "coalesce((" + query(d) + " LIMIT 1), 0)",
                () -> "CASE WHEN EXISTS (" + query(d) + ") THEN 1 ELSE 0 END",
                () -> "(SELECT sum(v)::int FROM (" + query(d) + ") z)");
    }

    private String condition(int d) {
        return pick(
                () -> "v IN (" + query(d) + ")",
                () -> "EXISTS (" + query(d) + ")",
                () -> "v = ANY (ARRAY(" + query(d) + "))",
                () -> "v = ANY (" + query(d) + ")",
                () -> "v IS DISTINCT FROM (" + query(d) + " LIMIT 1)",
                () -> "true");
    }

    @SafeVarargs
    private String pick(Supplier<String>... choices) {
        return choices[random.nextInt(choices.length)].get();
    }
}
