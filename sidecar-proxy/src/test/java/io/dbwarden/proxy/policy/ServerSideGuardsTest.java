package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Verdict;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What acts on the database server itself rather than on the rows of the tables a statement names is not covered by
 * rules about statements and tables. Functions that signal or watch other sessions, read server files, connect
 * elsewhere or drive replication: a forwarding decision that would let one through is the built-in
 * {@code server-functions} denial, unless the deciding rule names the function. COPY to or from server files: never
 * forwarded; COPY ... PROGRAM: only under a rule with {@code copyProgram: true} (built-in {@code server-side-copy}).
 */
@ExtendWith(LeakDetection.class)
class ServerSideGuardsTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: reader
              namespace: test
            spec:
              subjects:
                - identity: test/app
              defaultAction: deny
              rules:
                - name: cancel-own-queries
                  match:
                    statements: [SELECT]
                    functions: [pg_cancel_backend, pg_backend_pid]
                  action: allow
                - name: audited-file-reads
                  match:
                    functions: [pg_stat_file]
                  action: audit
                - name: approved-promotion
                  match:
                    functions: [pg_promote]
                  action: requireApproval
                - name: program-exports
                  match:
                    statements: [COPY, SELECT]
                    copyProgram: true
                  action: allow
                - name: reads
                  match:
                    statements: [SELECT]
                    tables: ["public.*"]
                  action: allow
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: everything
              namespace: test
            spec:
              subjects:
                - identity: test/ops
              defaultAction: allow
              allowUnparsedStatements: true
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: loader
              namespace: test
            spec:
              subjects:
                - identity: test/loader
              defaultAction: deny
              rules:
                - name: bulk-load
                  match:
                    statements: [COPY, SELECT]
                    tables: ["public.*"]
                  action: allow
            """;

    static StatementDecider decider;
    static PolicyEngine reader;
    static PolicyEngine everything;
    static PolicyEngine loader;

    @BeforeAll
    static void load() throws Exception {
        decider = new StatementDecider();
        reader = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
        everything = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/ops");
        loader = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/loader");
    }

    @AfterAll
    static void close() {
        decider.close();
    }

    private static Verdict decide(PolicyEngine engine, String sql) {
        return decider.decide(engine, sql);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT pg_terminate_backend(g) FROM generate_series(1, 100000) g",
            "SELECT pg_catalog.pg_terminate_backend(42)",
            "SELECT PG_READ_FILE('/etc/passwd')",
            "SELECT pg_read_binary_file('global/pg_control')",
            "SELECT * FROM pg_ls_dir('.')",
            "SELECT * FROM pg_ls_waldir()",
            "SELECT query FROM pg_stat_get_activity(NULL)",
            "SELECT pg_stat_get_backend_activity(s) FROM pg_stat_get_backend_idset() s",
            "SELECT lo_import('/etc/passwd')",
            "SELECT lo_export(1, '/tmp/x')",
            "SELECT pg_reload_conf()",
            "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)",
            "SELECT pg_create_logical_replication_slot('s', 'test_decoding')",
            "SELECT public.dblink_connect('host=elsewhere')",
            "SELECT id FROM public.orders WHERE pg_terminate_backend(id)",
    })
    void tableAndStatementRulesDoNotCoverServerFunctions(String sql) {
        for (PolicyEngine engine : new PolicyEngine[] {reader, everything}) {
            Verdict v = decide(engine, sql);
            assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
            assertThat(v.rule()).as(sql).isEqualTo("server-functions");
            assertThat(v.error().message()).contains("is not allowed")
                    .contains(engine == reader ? "reader" : "everything");
            assertThat(v.error().hint()).contains("match.functions");
        }
    }

    @Test
    void aRuleThatNamesTheFunctionDecidesIt() {
        Verdict cancel = decide(reader, "SELECT pg_cancel_backend(42)");
        assertThat(cancel.decision()).isEqualTo(Decision.ALLOW);
        assertThat(cancel.rule()).isEqualTo("cancel-own-queries");
        Verdict stat = decide(reader, "SELECT pg_stat_file('postgresql.conf')");
        assertThat(stat.decision()).isEqualTo(Decision.AUDIT);
        assertThat(stat.rule()).isEqualTo("audited-file-reads");
        // a human gate stays one: approval is not a forwarding decision the guard has to stop
        Verdict promote = decide(reader, "SELECT pg_promote()");
        assertThat(promote.decision()).isEqualTo(Decision.REQUIRE_APPROVAL);
        assertThat(promote.rule()).isEqualTo("approved-promotion");
        // naming one function does not cover another in the same statement
        Verdict both = decide(reader, "SELECT pg_cancel_backend(42), pg_terminate_backend(42)");
        assertThat(both.rule()).isEqualTo("server-functions");
        assertThat(both.error().message()).contains("pg_terminate_backend");
    }

    @Test
    void ordinaryFunctionsAndDenyRulesAreUnchanged() {
        assertThat(decide(reader, "SELECT lower(email), now(), count(*) FROM public.orders GROUP BY 1, 2").decision())
                .isEqualTo(Decision.ALLOW);
        assertThat(decide(everything, "SELECT pg_backend_pid(), current_setting('application_name')").decision())
                .isEqualTo(Decision.ALLOW);
        Verdict denied = decide(reader, "DELETE FROM public.orders WHERE pg_terminate_backend(id)");
        assertThat(denied.decision()).isEqualTo(Decision.DENY);
        assertThat(denied.rule()).as("the policy's own denial is reported, not the guard").isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "COPY public.items FROM '/etc/passwd'",
            "COPY items FROM E'/etc/passwd'",
            "COPY items (id, name) FROM '/tmp/x.csv' WITH (FORMAT csv)",
            "COPY items TO '/tmp/x.csv'",
            "COPY (SELECT * FROM public.items) TO '/tmp/x.csv'",
            "copy items from U&'/etc/passwd'",
    })
    void copyWithServerFilesIsNeverForwarded(String sql) {
        for (PolicyEngine engine : new PolicyEngine[] {loader, everything, reader}) {
            Verdict v = decide(engine, sql);
            assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
            if (engine != reader) { // the reader policy has no rule for COPY: its default denies first
                assertThat(v.rule()).as(sql).isEqualTo("server-side-copy");
                assertThat(v.error().hint()).contains("FROM STDIN");
            }
        }
    }

    @Test
    void copyProgramNeedsARuleThatSaysSo() {
        String program = "COPY (SELECT * FROM public.items) TO PROGRAM 'gzip > /tmp/items.gz'";
        for (PolicyEngine engine : new PolicyEngine[] {loader, everything}) {
            Verdict v = decide(engine, program);
            assertThat(v.rule()).isEqualTo("server-side-copy");
            assertThat(v.error().hint()).contains("copyProgram: true");
        }
        Verdict v = decide(reader, program);
        assertThat(v.decision()).isEqualTo(Decision.ALLOW);
        assertThat(v.rule()).isEqualTo("program-exports");
        // the client's own data still flows: COPY FROM STDIN / TO STDOUT are what bulk loads use
        assertThat(decide(loader, "COPY public.items FROM STDIN WITH (FORMAT csv, DELIMITER ',')").decision())
                .isEqualTo(Decision.ALLOW);
        assertThat(decide(loader, "COPY items TO STDOUT WITH CSV HEADER QUOTE '\"'").decision())
                .isEqualTo(Decision.ALLOW);
        assertThat(decide(loader, "COPY items FROM STDIN DELIMITER ','").decision()).isEqualTo(Decision.ALLOW);
        assertThat(decide(loader, "COPY items FROM STDIN WHERE name IS DISTINCT FROM 'x'").decision())
                .isEqualTo(Decision.ALLOW);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SET session_replication_role = replica",
            "SET SESSION session_replication_role TO 'replica'",
            "SET LOCAL session_replication_role = replica",
            "SET log_statement = 'none'",
            "SET log_min_duration_statement = -1",
            "SET \"Log_Statement\" = none",
            "SET pgaudit.log = 'none'",
            "SET allow_system_table_mods = on",
            "SET zero_damaged_pages = on",
            "SET lo_compat_privileges = on",
            "SET track_activities = off",
            "SET session_preload_libraries = 'evil'",
    })
    void settingsThatSwitchOffServerEnforcementOrRecordsArePinned(String sql) {
        for (PolicyEngine engine : new PolicyEngine[] {everything, reader, loader}) {
            Verdict v = decide(engine, sql);
            assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
            assertThat(v.rule()).as(sql).isEqualTo("pinned-settings");
            assertThat(v.error().message()).contains("is not allowed");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SET statement_timeout = 0",
            "SET application_name = 'billing'",
            "SET CONSTRAINTS ALL DEFERRED",
            "SET TIME ZONE 'UTC'",
            "SET client_min_messages = warning",
            "RESET statement_timeout",
            "SET lock_timeout TO '5s'",
            // back to the session's start values: the proxy's pinned values and the server's defaults
            "RESET ALL",
            "RESET search_path",
            "SET search_path TO DEFAULT",
            "RESET session_replication_role",
            "SET log_statement = DEFAULT",
    })
    void sessionSettingsStayRuleDecided(String sql) {
        Verdict v = decide(everything, sql);
        assertThat(v.decision()).as(sql).isEqualTo(Decision.ALLOW);
        assertThat(v.rule()).as(sql).isNull();
    }

    @Test
    void searchPathAndReadWriteChangesStayPinned() {
        assertThat(decide(everything, "SET search_path = other").rule()).isEqualTo("pinned-search-path");
        assertThat(decide(everything, "SET LOCAL search_path TO other, public").rule()).isEqualTo("pinned-search-path");
        assertThat(decide(everything, "SET search_path = 'default'").rule()).isEqualTo("pinned-search-path");
        assertThat(decide(everything, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE").decision())
                .isEqualTo(Decision.ALLOW); // not a readOnly policy: read-write is its business
        assertThat(decide(everything, "SELECT pg_advisory_lock(1)").decision())
                .isEqualTo(Decision.ALLOW); // writers coordinate with advisory locks; only read-only sessions may not
    }

    @Test
    void throughTheProxyAnotherSessionCannotBeTerminated(@TempDir Path dir) throws Exception {
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/ops");
             Connection victim = CliProxy.connect(proxy, ""); Connection agent = CliProxy.connect(proxy, "");
             Statement v = victim.createStatement(); Statement a = agent.createStatement()) {
            int pid = intOf(v, "SELECT pg_backend_pid()");
            // the same database role on both sessions: PostgreSQL itself would let one end the other
            assertThatThrownBy(() -> a.execute("SELECT pg_terminate_backend(" + pid + ")"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"))
                    .hasMessageContaining("calling pg_terminate_backend is not allowed");
            assertThatThrownBy(() -> a.execute("SELECT pg_terminate_backend(g) FROM generate_series(" + pid + ", "
                    + pid + ") g")).hasMessageContaining("pg_terminate_backend");
            Path written = dir.resolve("written-by-the-server");
            assertThatThrownBy(() -> a.execute("COPY (SELECT 1) TO '" + written + "'"))
                    .hasMessageContaining("COPY to or from a file on the database server is not allowed");
            assertThatThrownBy(() -> a.execute("COPY (SELECT 1) TO PROGRAM 'cat > " + written + "'"))
                    .hasMessageContaining("COPY ... PROGRAM is not allowed");
            assertThat(written).doesNotExist();
            // triggers and foreign keys stay on for this session
            assertThatThrownBy(() -> a.execute("SET session_replication_role = replica"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"))
                    .hasMessageContaining("changing session_replication_role is not allowed");
            try (ResultSet rs = a.executeQuery("SHOW session_replication_role")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("origin");
            }
            a.execute("BEGIN");
            a.execute("SET CONSTRAINTS ALL DEFERRED");
            a.execute("COMMIT");
            // RESET ALL and DISCARD ALL (connection pools) return to the values the proxy pinned at start-up
            a.execute("RESET ALL");
            a.execute("DISCARD ALL");
            try (ResultSet rs = a.executeQuery("SHOW search_path")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("public");
            }
            assertThat(intOf(v, "SELECT 1")).as("the other session is alive").isEqualTo(1);
            assertThat(intOf(a, "SELECT 2")).as("the refused session is usable").isEqualTo(2);
            try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
                 Statement d = direct.createStatement()) {
                assertThat(intOf(d, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid)).isEqualTo(1);
            }
        }
        assertThat(Files.readString(dir.resolve("audit.jsonl")))
                .contains("\"decision\":\"deny\"").contains("\"rule\":\"server-functions\"");
    }

    private static int intOf(Statement s, String sql) throws SQLException {
        try (ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
