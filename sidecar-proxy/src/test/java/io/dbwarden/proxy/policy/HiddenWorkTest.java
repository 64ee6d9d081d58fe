package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.SqlSqueeze;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Statements that read or change tables later or under another name carry the kinds of what they hold: {@code CREATE
 * TABLE ... AS} and materialized views copy their query's rows at once, a view shows them to every reader, a rule
 * runs its actions on later statements. A policy that denies reading a table (and allows everything else) must
 * refuse them all.
 */
@ExtendWith(LeakDetection.class)
class HiddenWorkTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: open-but-guarded
              namespace: test
            spec:
              subjects:
                - identity: test/app
              defaultAction: allow
              allowUnparsedStatements: true
              rules:
                - name: no-customer-reads
                  match:
                    statements: [SELECT]
                    tables: ["public.customers"]
                  action: deny
                - name: no-order-deletes
                  match:
                    statements: [DELETE]
                    tables: ["public.orders"]
                  action: deny
            """;

    static PolicyEngine engine;
    static StatementAnalyzer analyzer;

    @BeforeAll
    static void load() throws Exception {
        engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
    }

    @AfterAll
    static void close() {
        analyzer.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "CREATE TABLE stolen AS SELECT * FROM customers",
            "CREATE TABLE IF NOT EXISTS stolen AS TABLE customers",
            "create unlogged table stolen as select email from public.customers with no data",
            "CREATE TEMP TABLE stolen AS WITH c AS (SELECT * FROM customers) SELECT * FROM c",
            "CREATE MATERIALIZED VIEW m AS SELECT * FROM customers",
            "CREATE OR REPLACE VIEW innocent AS SELECT * FROM customers",
            "CREATE RECURSIVE VIEW r (n) AS VALUES ((SELECT count(*) FROM customers))",
            "CREATE RULE leak AS ON INSERT TO audit_log DO ALSO SELECT * FROM customers",
            "CREATE OR REPLACE RULE wipe AS ON INSERT TO audit_log DO INSTEAD (INSERT INTO x VALUES (1); "
                    + "DELETE FROM orders)",
            // a routine's SQL-standard body runs on every call
            "CREATE PROCEDURE wipe() LANGUAGE sql BEGIN ATOMIC DELETE FROM orders WHERE true; END",
            "CREATE OR REPLACE FUNCTION peek() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT 1; "
                    + "SELECT count(*) FROM customers; END",
            "CREATE FUNCTION peek() RETURNS bigint LANGUAGE sql RETURN (SELECT count(*) FROM public.customers)",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; "
                    + "RETURN (SELECT max(id) FROM customers); END",
            // what follows a body is a statement of its own, whatever the body holds
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 case; END; DELETE FROM orders",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 end; END; DELETE FROM orders",
    })
    void holdingAReadOrAWriteIsThatReadOrWrite(String sql) {
        for (String variant : List.of(sql, SqlSqueeze.squeeze(sql))) {
            Verdict v = QueryDecisions.decide(engine, analyzer, variant);
            assertThat(v.decision()).as(variant).isEqualTo(Decision.DENY);
            assertThat(v.rule()).as(variant).isIn("no-customer-reads", "no-order-deletes");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "CREATE TABLE t (a int)",
            "CREATE TABLE g (a int GENERATED ALWAYS AS (1) STORED)",
            "CREATE VIEW v AS SELECT * FROM products",
            "CREATE TABLE c2 AS SELECT * FROM orders",
            "CREATE RULE quiet AS ON INSERT TO audit_log DO NOTHING",
            "CREATE SEQUENCE s AS bigint",
            "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
            "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT count(*) FROM products; END",
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + 1",
            "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC DELETE FROM products WHERE id = 1; END",
            "CREATE TYPE pair AS (a int, b int)",
    })
    void otherCreatesAreUnaffected(String sql) {
        assertThat(QueryDecisions.decide(engine, analyzer, sql).decision()).as(sql).isEqualTo(Decision.ALLOW);
    }

    /** Renaming a table a restricting rule names adds that rule's decision; the most restrictive one holds. */
    @Test
    void aRenameIsDecidedByTheRulesAndByTheRuleThatWouldLoseTheTable() throws Exception {
        PolicyEngine flagged = PolicyEngine.of(PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: flagged, namespace: test}
                spec:
                  subjects: [{identity: test/app}]
                  defaultAction: allow
                  rules:
                    - name: flag-customer-reads
                      match: {statements: [SELECT], tables: ["public.customers"]}
                      action: audit
                    - name: no-alter
                      match: {statements: [ALTER]}
                      action: deny
                """, "test"), "test/app");
        // the audit rule that would lose customers does not wave the ALTER past the rule that denies it
        Verdict renamed = QueryDecisions.decide(flagged, analyzer, "ALTER TABLE customers RENAME TO c2");
        assertThat(renamed.decision()).isEqualTo(Decision.DENY);
        assertThat(renamed.rule()).isEqualTo("no-alter");
        // a deny rule that would lose the table refuses it, even where another rule allows ALTER
        Verdict orders = QueryDecisions.decide(engine, analyzer, "ALTER TABLE orders RENAME TO o2");
        assertThat(orders.decision()).isEqualTo(Decision.DENY);
        assertThat(orders.rule()).isEqualTo("no-order-deletes");
        assertThat(orders.error().detail()).contains("public.orders would be renamed to public.o2");
    }

    /**
     * The server reads a routine's BEGIN ATOMIC body as part of its CREATE, semicolons and all; so does the proxy:
     * the routine is created and audited as one statement, and what follows the body is judged on its own.
     */
    @Test
    void aRoutineBodyIsOneStatementAndWhatFollowsItIsJudgedOnItsOwn(@TempDir Path dir) throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS public.orders", "CREATE TABLE public.orders (id int)",
                "INSERT INTO public.orders VALUES (1), (2)");
        try (RunCommand.Running proxy = proxyWithPolicy(dir);
             Connection c = CliProxy.connect(proxy, "preferQueryMode=simple"); Statement s = c.createStatement();
             Connection ext = CliProxy.connect(proxy, "preferQueryMode=extended")) {
            s.execute("CREATE OR REPLACE FUNCTION hw_three() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 case; "
                    + "SELECT CASE WHEN true THEN 3 END; END; SELECT 1");
            try (ResultSet rs = s.executeQuery("SELECT hw_three()")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(3);
            }
            assertThatThrownBy(() -> s.execute("CREATE OR REPLACE FUNCTION hw_four() RETURNS int LANGUAGE sql "
                    + "BEGIN ATOMIC SELECT 1 case; END; DELETE FROM orders"))
                    .isInstanceOfSatisfying(java.sql.SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("42501");
                        assertThat(e.getMessage()).contains("no-order-deletes");
                    });
            try (ResultSet rs = s.executeQuery("SELECT count(*), to_regproc('hw_four') IS NULL FROM orders")) {
                rs.next();
                assertThat(rs.getInt(1)).as("nothing of the blocked text ran").isEqualTo(2);
                assertThat(rs.getBoolean(2)).isTrue();
            }
            // one Parse in the extended protocol
            try (java.sql.PreparedStatement ps = ext.prepareStatement("CREATE OR REPLACE FUNCTION hw_five() "
                    + "RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 4; SELECT 5; END")) {
                ps.execute();
            }
            try (Statement es = ext.createStatement(); ResultSet rs = es.executeQuery("SELECT hw_five()")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(5);
            }
            Path audit = dir.resolve("audit.jsonl");
            await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("hw_five()\""));
            List<String> lines = Files.readAllLines(audit);
            assertThat(lines.stream().filter(l -> l.contains("create or replace function hw_three")))
                    .singleElement().satisfies(l -> assertThat(l).contains("\"executed\":true")
                            .contains("\"tag\":\"CREATE FUNCTION\"")
                            .contains("select ? case; select case when true then ? end; end\""));
            assertThat(lines.stream().filter(l -> l.contains("create or replace function hw_five")))
                    .singleElement().satisfies(l -> assertThat(l).contains("\"tag\":\"CREATE FUNCTION\""));
            assertThat(lines).noneMatch(l -> l.contains("no result of its own"));
        } finally {
            EmbeddedPg.execute("DROP FUNCTION IF EXISTS hw_three(), hw_four(), hw_five()",
                    "DROP TABLE IF EXISTS public.orders");
        }
    }

    /** The server takes CREATE RULE ... DO (a; b) as one statement; so does the proxy, and the session goes on. */
    @Test
    void aRuleWithSeveralActionsIsOneStatement(@TempDir Path dir) throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS hw_in, hw_log", "CREATE TABLE hw_in (x int)",
                "CREATE TABLE hw_log (x int)");
        try (RunCommand.Running proxy = proxyWithPolicy(dir);
             Connection c = CliProxy.connect(proxy, "preferQueryMode=simple"); Statement s = c.createStatement()) {
            s.execute("CREATE RULE hw_copy AS ON INSERT TO hw_in DO ALSO (INSERT INTO hw_log VALUES (NEW.x); "
                    + "INSERT INTO hw_log VALUES (NEW.x + 1))");
            s.execute("INSERT INTO hw_in VALUES (5)");
            try (ResultSet rs = s.executeQuery("SELECT sum(x) FROM hw_log")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(11);
            }
            Path audit = dir.resolve("audit.jsonl");
            await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("sum(x)"));
            assertThat(Files.readAllLines(audit).stream().filter(l -> l.contains("create rule hw_copy")))
                    .hasSize(1).allSatisfy(l -> assertThat(l).contains("\"executed\":true")
                            .contains("\"tag\":\"CREATE RULE\""));
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS hw_in, hw_log");
        }
    }

    /** The standalone proxy in front of the test database with {@link #POLICY}, auditing to dir/audit.jsonl. */
    private static RunCommand.Running proxyWithPolicy(Path dir) throws Exception {
        return CliProxy.start(dir, Files.writeString(dir.resolve("policy.yaml"), POLICY), "test/app");
    }
}
