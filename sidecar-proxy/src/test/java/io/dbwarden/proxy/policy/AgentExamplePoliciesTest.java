package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The example agent policies let an agent (psql, an MCP server, a driver's metadata calls) discover the schema it
 * queries, without opening the catalogs that hold data: other sessions' query texts, credentials, large objects.
 * The queries are the ones psql 15 sends for {@code \dt}, {@code \d customers} and {@code \du}, and typical
 * information_schema lookups.
 */
@ExtendWith(LeakDetection.class)
class AgentExamplePoliciesTest {
    private static final List<Path> POLICIES = List.of(Path.of("../examples/policies/ai-agent-read-only.yaml"),
            Path.of("../examples/ai-agent/policy.yaml"));
    static List<PolicyEngine> engines;
    static StatementAnalyzer analyzer;

    @BeforeAll
    static void load() throws Exception {
        engines = new java.util.ArrayList<>();
        for (Path p : POLICIES) {
            engines.add(PolicyEngine.of(PolicyLoader.load(p), "agents/sql-copilot"));
        }
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
    }

    @AfterAll
    static void close() {
        analyzer.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            """
            SELECT n.nspname as "Schema", c.relname as "Name",
              CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' END as "Type",
              pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
            FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
            WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast'
              AND n.nspname <> 'information_schema' AND pg_catalog.pg_table_is_visible(c.oid)
            ORDER BY 1,2""",
            """
            SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
              (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d
               WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
              a.attnotnull,
              (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
               WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
              a.attidentity, a.attgenerated
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = '16385' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
            """
            SELECT c2.relname, i.indisprimary, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
              pg_catalog.pg_get_constraintdef(con.oid, true), contype
            FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
              LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid
                AND contype IN ('p','u','x'))
            WHERE c.oid = '16385' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
            ORDER BY i.indisprimary DESC, c2.relname""",
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'",
            "SELECT * FROM information_schema.key_column_usage WHERE table_name = $1",
            "SELECT schemaname, tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public'",
            """
            SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
              r.rolconnlimit, r.rolvaliduntil,
              ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
                    WHERE m.member = r.oid) as memberof, r.rolreplication, r.rolbypassrls
            FROM pg_catalog.pg_roles r WHERE r.rolname !~ '^pg_' ORDER BY 1""",
            "SELECT name, email FROM public.customers"})
    void schemaDiscoveryAndReadsAreAllowed(String sql) {
        for (PolicyEngine engine : engines) {
            assertThat(decide(engine, sql)).as(sql).isEqualTo(Decision.ALLOW);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT query FROM pg_catalog.pg_stat_activity",
            "SELECT rolname, rolpassword FROM pg_catalog.pg_authid",
            "SELECT usename, passwd FROM pg_catalog.pg_shadow",
            "SELECT data FROM pg_catalog.pg_largeobject",
            "SELECT umoptions FROM pg_catalog.pg_user_mapping",
            "SELECT * FROM pg_catalog.pg_statistic",
            "SELECT c.relname FROM pg_catalog.pg_class c, pg_catalog.pg_stat_activity a",
            "SELECT * FROM public.api_keys",
            "SELECT pg_try_advisory_lock(1)",
            "DELETE FROM public.customers WHERE id = 1"})
    void catalogsHoldingDataAndWritesAreNot(String sql) {
        for (PolicyEngine engine : engines) {
            assertThat(decide(engine, sql)).as(sql).isNotEqualTo(Decision.ALLOW);
        }
    }

    /** A driver's metadata calls (pgjdbc's DatabaseMetaData) through the proxy enforcing the example policy. */
    @Test
    void aDriversMetadataCallsWorkThroughTheProxy(@TempDir Path dir) throws Exception {
        try (Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = admin.createStatement()) {
            s.execute("DROP TABLE IF EXISTS agent_orders, agent_customers");
            s.execute("CREATE TABLE agent_customers (id int PRIMARY KEY, email text)");
            s.execute("CREATE TABLE agent_orders (id int PRIMARY KEY, customer_id int REFERENCES agent_customers, "
                    + "total numeric DEFAULT 0)");
            s.execute("CREATE INDEX agent_orders_customer ON agent_orders (customer_id)");
            s.execute("COMMENT ON TABLE agent_orders IS 'orders placed'");
        }
        Path key = java.nio.file.Files.writeString(dir.resolve("masking-key"), "agent-test-key");
        try (RunCommand.Running proxy = CliProxy.start(dir, POLICIES.get(0).toAbsolutePath(), "agents/sql-copilot",
                "--masking-key-file", key.toString());
             Connection c = CliProxy.connect(proxy, "")) {
            DatabaseMetaData md = c.getMetaData();
            assertThat(names(md.getTables(null, "public", "agent_%", new String[] {"TABLE"}), "TABLE_NAME"))
                    .containsExactly("agent_customers", "agent_orders");
            assertThat(names(md.getColumns(null, "public", "agent_orders", "%"), "COLUMN_NAME"))
                    .containsExactly("id", "customer_id", "total");
            assertThat(names(md.getPrimaryKeys(null, "public", "agent_orders"), "COLUMN_NAME")).containsExactly("id");
            assertThat(names(md.getImportedKeys(null, "public", "agent_orders"), "PKTABLE_NAME"))
                    .containsExactly("agent_customers");
            assertThat(names(md.getIndexInfo(null, "public", "agent_orders", false, false), "INDEX_NAME"))
                    .contains("agent_orders_customer", "agent_orders_pkey");
            assertThat(names(md.getTables(null, "public", "agent_orders", null), "REMARKS"))
                    .containsExactly("orders placed");
        }
    }

    private static List<String> names(ResultSet rs, String column) throws SQLException {
        List<String> out = new java.util.ArrayList<>();
        try (rs) {
            while (rs.next()) {
                out.add(rs.getString(column));
            }
        }
        return out;
    }

    private static Decision decide(PolicyEngine engine, String sql) {
        return QueryDecisions.decide(engine, analyzer, sql).decision();
    }
}
