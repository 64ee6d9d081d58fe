package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.internal.StatementCache;
import io.dbwarden.proxy.sql.SqlText;
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
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code set_config('name', value, is_local)} is judged by the setting it names, like {@code SET name}: custom
 * settings (a tenant or user id for row-level security, PostgREST's request settings) pass a policy that allows SET,
 * while search_path, the role, the read-only switch and the protected settings stay pinned. A name the proxy cannot
 * read from the text (an expression, a parameter, an escaped or cast literal) may be any setting and is refused.
 */
@ExtendWith(LeakDetection.class)
class SetConfigTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: tenant-app
              namespace: shop
            spec:
              subjects:
                - identity: "shop/*"
              defaultAction: deny
              readOnly: true
              rules:
                - name: app
                  match:
                    statements: [SELECT, SET, SHOW, TRANSACTION]
                  action: allow
            """;
    static PolicyEngine engine;
    static StatementAnalyzer analyzer;
    private static final StatementCache STATEMENTS = new StatementCache(1024, 64 * 1024);

    @BeforeAll
    static void load(@TempDir Path dir) throws Exception {
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY);
        engine = PolicyEngine.of(PolicyLoader.load(policy), "shop/web");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
    }

    @AfterAll
    static void close() {
        analyzer.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT set_config('app.tenant_id', $1, true)",
            "SELECT set_config('request.jwt.claims', '{\"sub\": \"42\"}', true)",
            "select pg_catalog.set_config('App.User_Id', '7', false)",
            "SELECT set_config('statement_timeout', '5s', true)",
            "SELECT set_config('app.tenant_id', 'acme', false), current_setting('app.tenant_id')"})
    void customSettingsPass(String sql) {
        assertThat(decide(sql).decision()).as(sql).isEqualTo(Decision.ALLOW);
    }

    /** Statements and what their refusal says; a name the proxy cannot read is refused as any setting. */
    static Stream<Arguments> pinned() {
        return Stream.of(
                Arguments.of("SELECT set_config('search_path', 'secret', false)", "search_path"),
                Arguments.of("SELECT set_config('SEARCH_PATH', 'secret', false)", "search_path"),
                Arguments.of("SELECT pg_catalog.set_config('search_path', 'secret', false)", "search_path"),
                Arguments.of("SELECT set_config('search' || '_path', 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config('search_path'::text, 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config(E'search_path', 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config(U&'search\\005fpath', 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config($$search_path$$, 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config(('search_path'), 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config($1, 'secret', false)", "is not allowed"),
                Arguments.of("SELECT \"set_config\"('search_path', 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config('search'\n'_path', 'secret', false)", "is not allowed"),
                Arguments.of("SELECT set_config('role', 'postgres', false)", "changing the database role"),
                Arguments.of("SELECT set_config('session_authorization', 'postgres', false)",
                        "changing the database role"),
                Arguments.of("SELECT set_config('session_replication_role', 'replica', false)",
                        "changing session_replication_role"),
                Arguments.of("SELECT set_config('log_statement', 'none', false)", "changing log_statement"),
                Arguments.of("SELECT set_config('transaction_read_only', 'off', true)", "read-write"),
                Arguments.of("SELECT set_config('default_transaction_read_only', 'off', false)", "read-write"));
    }

    @ParameterizedTest
    @MethodSource("pinned")
    void pinnedSettingsStayPinned(String sql, String rule) {
        Verdict v = decide(sql);
        assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
        assertThat(v.error().message()).as(sql).contains(rule);
    }

    /** With SET and SELECT allowed by different rules (the app example), a query that only sets counts as SET. */
    @Test
    void aQueryThatOnlySetsIsJudgedAsSet() throws Exception {
        PolicyEngine app = PolicyEngine.of(PolicyLoader.load(Path.of("../examples/policies/app-guardrails.yaml")),
                "standalone/demo");
        Verdict set = QueryDecisions.decide(app, analyzer, "SELECT set_config('app.tenant', $1, true)");
        assertThat(set.decision()).isEqualTo(Decision.ALLOW);
        assertThat(set.rule()).isEqualTo("session-housekeeping");
        for (String reads : List.of("SELECT set_config('app.tenant', name, true) FROM public.customers",
                "SELECT set_config('app.tenant', (SELECT name FROM public.customers LIMIT 1), true)")) {
            assertThat(QueryDecisions.decide(app, analyzer, reads).decision())
                    .as("reads a table, so it is a SELECT as well: " + reads).isEqualTo(Decision.DENY);
        }
        assertThat(QueryDecisions.decide(app, analyzer, "SELECT set_config('search_path', 'x', true)").decision())
                .isEqualTo(Decision.DENY);
    }

    @Test
    void theSettingNameStaysInTheLiteralFreeTextTheValueDoesNot() {
        String text = "SELECT set_config('App.Tenant', 'acme-secret', true)";
        String normalized = SqlText.normalize(text, SqlText.split(text, true).get(0).tokens());
        assertThat(normalized).isEqualTo("select set_config('app.tenant', ?, true)");
        assertThat(STATEMENTS.split(text, true).get(0).normalized()).isEqualTo(normalized);
        // different settings are different statements (decided and cached apart)
        assertThat(StatementInfo.of(SqlText.split("SELECT set_config('a.b', 'x', true)", true).get(0)).fingerprint())
                .isNotEqualTo(StatementInfo.of(SqlText.split("SELECT set_config('search_path', 'x', true)", true)
                        .get(0)).fingerprint());
    }

    /** Row-level security keyed on a setting, through the real proxy and server: each tenant sees its own rows. */
    @Test
    void rowLevelSecurityByTenantSettingWorksThroughTheProxy(@TempDir Path dir) throws Exception {
        try (Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = admin.createStatement()) {
            s.execute("DROP TABLE IF EXISTS rls_orders");
            s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rls_app') THEN "
                    + "CREATE ROLE rls_app LOGIN; END IF; END $$");
            s.execute("CREATE TABLE rls_orders (tenant text, item text)");
            s.execute("INSERT INTO rls_orders VALUES ('acme', 'anvil'), ('globex', 'gizmo'), ('acme', 'rocket')");
            s.execute("ALTER TABLE rls_orders ENABLE ROW LEVEL SECURITY");
            s.execute("CREATE POLICY by_tenant ON rls_orders USING (tenant = current_setting('app.tenant', true))");
            s.execute("GRANT SELECT ON rls_orders TO rls_app");
        }
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY);
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "shop/web", "--upstream-user", "rls_app");
             Connection c = CliProxy.connect(proxy, "")) {
            assertThat(items(c, "acme")).containsExactly("anvil", "rocket");
            assertThat(items(c, "globex")).containsExactly("gizmo");
            try (Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("SELECT set_config('search_path', 'pg_temp', false)"))
                        .isInstanceOf(SQLException.class).hasMessageContaining("search_path");
                try (ResultSet rs = s.executeQuery("SHOW search_path")) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("public");
                }
            }
        }
    }

    private static List<String> items(Connection c, String tenant) throws SQLException {
        try (PreparedStatement set = c.prepareStatement("SELECT set_config('app.tenant', ?, false)")) {
            set.setString(1, tenant);
            set.execute();
        }
        List<String> out = new ArrayList<>();
        try (Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT item FROM rls_orders ORDER BY 1")) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    private static Verdict decide(String sql) {
        return QueryDecisions.decide(engine, analyzer, sql);
    }
}
