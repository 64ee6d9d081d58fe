package io.dbwarden.proxy.cli;

import io.dbwarden.proxy.ProxyServer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The standalone proxy as a user runs it (CLI flags, a policy YAML file, audit file, admin endpoint) in front of
 * real PostgreSQL: destructive statements are stopped before they reach the database, audit mode only reports.
 */
@ExtendWith(LeakDetection.class)
class StandaloneProxyTest {
    @TempDir
    Path dir;

    static final String ENFORCE = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: guard
              namespace: test
            spec:
              subjects:
                - identity: test/app
              mode: %s
              defaultAction: deny
              readOnly: %s
              rules:
                - name: no-mass-delete
                  match:
                    statements: [DELETE, UPDATE]
                    withoutWhere: true
                  action: deny
                  message: add a WHERE clause
                - name: no-drop
                  match:
                    statements: [DROP, TRUNCATE]
                  action: deny
                - name: app-crud
                  match:
                    statements: [SELECT, INSERT, UPDATE, DELETE]
                    tables: ["public.*"]
                  action: allow
                - name: housekeeping
                  match:
                    statements: [TRANSACTION, SHOW, SET]
                  action: allow
            """;

    @BeforeEach
    void tables() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS guarded CASCADE");
            s.execute("CREATE TABLE guarded (id int PRIMARY KEY, secret text)");
            s.execute("INSERT INTO guarded SELECT g, 'v' || g FROM generate_series(1, 5) g");
            s.execute("CREATE OR REPLACE FUNCTION sneaky_delete() RETURNS int LANGUAGE sql AS "
                    + "'DELETE FROM guarded RETURNING 1'");
        }
    }

    private RunCommand.Running start(String mode, boolean readOnly, Path audit, String... extra) throws Exception {
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs(args(mode, readOnly, audit, extra));
        return cmd.start();
    }

    private String[] args(String mode, boolean readOnly, Path audit, String... extra) throws IOException {
        Path policy = dir.resolve("policy-" + mode + ".yaml");
        Files.writeString(policy, ENFORCE.formatted(mode, readOnly));
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD + "\n");
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0",
                "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(),
                "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user", EmbeddedPg.SCRAM_USER,
                "--upstream-password-file", pw.toString(), "--upstream-tls", "disable", "--identity", "test/app",
                "--policy", policy.toString(), "--audit", audit.toString(), "--admin-listen", "127.0.0.1:0",
                "--warm-up-seconds", "0"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    private static Connection connect(RunCommand.Running r, String params) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "app");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.server().port() + "/"
                + EmbeddedPg.DATABASE + "?sslmode=disable" + params, p);
    }

    @Test
    void enforceModeStopsDropAndWherelessDeleteBeforeTheDatabase() throws Exception {
        Path audit = dir.resolve("audit.jsonl");
        try (RunCommand.Running r = start("enforce", false, audit)) {
            try (Connection c = connect(r, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("DROP TABLE guarded"))
                        .satisfies(e -> {
                            assertThat(((SQLException) e).getSQLState()).isEqualTo("42501");
                            assertThat(e.getMessage()).contains("rule \"no-drop\"").contains("policy \"guard\"");
                        });
                assertThatThrownBy(() -> s.execute("DELETE FROM guarded"))
                        .hasMessageContaining("no-mass-delete").hasMessageContaining("add a WHERE clause");
                try (PreparedStatement ps = c.prepareStatement("UPDATE guarded SET secret = ?")) {
                    ps.setString(1, "overwritten");
                    assertThatThrownBy(ps::executeUpdate).hasMessageContaining("no-mass-delete");
                }
                assertThat(s.executeUpdate("DELETE FROM guarded WHERE id = 1")).isEqualTo(1);
                try (ResultSet rs = s.executeQuery("SELECT secret FROM guarded WHERE secret = 'v2'")) {
                    assertThat(rs.next()).isTrue();
                }
                try (ResultSet rs = s.executeQuery("SHOW search_path")) {
                    rs.next();
                    assertThat(rs.getString(1)).isEqualTo("public");
                }
            }
            assertThat(countRows()).isEqualTo(4);
            String metrics = http(r, "/metrics");
            assertThat(metrics).contains("dbwarden_statements_total{decision=\"deny\"} 3");
            assertThat(http(r, "/healthz")).isEqualTo("ok\n");
            assertThat(http(r, "/readyz")).isEqualTo("ready\n");
        }
        List<String> lines = Files.readAllLines(audit);
        assertThat(lines).anySatisfy(l -> assertThat(l)
                .contains("\"decision\":\"deny\"").contains("\"rule\":\"no-drop\"")
                .contains("\"statement\":\"drop table guarded\"").contains("\"executed\":false")
                .contains("\"identity\":\"test/app\""));
        assertThat(lines).anySatisfy(l -> assertThat(l).contains("\"decision\":\"allow\"")
                .contains("\"statement\":\"delete from guarded where id = ?\"").contains("\"rows\":1"));
        assertThat(String.join("\n", lines)).doesNotContain("overwritten").doesNotContain("'v2'");
    }

    /** 63 bytes: the name the server keeps of any longer spelling that starts with it. */
    private static final String LONG_NAME = "payroll_history_of_every_employee_of_every_subsidiary_since_199";

    /**
     * Tables read where a SQL parser leaves them out of its table list (a subquery in ARRAY(TABLE ...) or in
     * position(... IN ...), a table read beside or before a WITH query of its name) and names the server folds or cuts
     * into a denied table's name are refused by the rule naming them; each statement does read the table when run
     * directly, and a WITH query merely named like the table is allowed.
     */
    @Test
    void tablesHiddenFromTheParserOrSpeltOtherwiseAreStillJudged() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS payroll, \"Émails\", " + LONG_NAME,
                "CREATE TABLE payroll (amount int)", "INSERT INTO payroll VALUES (5)",
                "CREATE TABLE \"Émails\" (a text)", "CREATE TABLE " + LONG_NAME + " (a int)");
        List<String> hidden = List.of(
                "SELECT 1 AS one WHERE 5 = ANY (ARRAY(TABLE payroll))",
                "SELECT position('5' IN (SELECT amount::text FROM payroll LIMIT 1))",
                "SELECT * FROM payroll, (WITH payroll AS (SELECT 1) SELECT * FROM payroll) s",
                "WITH a AS (SELECT * FROM payroll), payroll AS (SELECT 1) SELECT * FROM a",
                "SELECT * FROM ÉMAILS",
                "SELECT * FROM " + LONG_NAME.toUpperCase() + "0_TO_2025");
        try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = direct.createStatement()) {
            for (String sql : hidden) {
                s.executeQuery(sql).close(); // valid, and reads the table
            }
        }
        Path policy = dir.resolve("policy-hidden.yaml");
        Files.writeString(policy, """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: hidden
                  namespace: test
                spec:
                  subjects:
                    - identity: test/app
                  defaultAction: deny
                  rules:
                    - name: no-payroll
                      match:
                        tables: ["public.payroll", "public.Émails", "public.%s"]
                      action: deny
                    - name: reads
                      match:
                        statements: [SELECT]
                        tables: ["public.*"]
                      action: allow
                    - name: session
                      match:
                        statements: [SET, SHOW, TRANSACTION]
                      action: allow
                """.formatted(LONG_NAME));
        String[] args = args("enforce", false, dir.resolve("audit-hidden.jsonl"));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--policy")) {
                args[i + 1] = policy.toString();
            }
        }
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs(args);
        try (RunCommand.Running r = cmd.start(); Connection c = connect(r, ""); Statement s = c.createStatement()) {
            for (String sql : hidden) {
                assertThatThrownBy(() -> s.executeQuery(sql)).as(sql).isInstanceOf(SQLException.class)
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"))
                        .hasMessageContaining("no-payroll");
            }
            try (ResultSet rs = s.executeQuery("WITH payroll AS (SELECT 7 AS amount) SELECT amount FROM payroll")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(7);
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS payroll, \"Émails\", " + LONG_NAME);
        }
    }

    @Test
    void auditModeLetsStatementsThroughAndLogsTheWouldBeBlock() throws Exception {
        Path audit = dir.resolve("audit-dry.jsonl");
        try (RunCommand.Running r = start("audit", false, audit);
             Connection c = connect(r, ""); Statement s = c.createStatement()) {
            assertThat(s.executeUpdate("DELETE FROM guarded")).isEqualTo(5);
        }
        assertThat(countRows()).isZero();
        await().atMost(5, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("would block"));
        assertThat(Files.readAllLines(audit)).anySatisfy(l -> assertThat(l).contains("\"decision\":\"audit\"")
                .contains("\"rule\":\"no-mass-delete\"").contains("\"executed\":true").contains("\"rows\":5"));
    }

    @Test
    void readOnlyPolicyMakesHiddenWritesFailAtTheServer() throws Exception {
        try (RunCommand.Running r = start("enforce", true, dir.resolve("a.jsonl"));
             Connection c = connect(r, ""); Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeQuery("SELECT sneaky_delete()"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25006"));
            assertThatThrownBy(() -> s.execute("BEGIN READ WRITE")).hasMessageContaining("read-write");
            assertThatThrownBy(() -> s.execute("SET default_transaction_read_only = off"))
                    .hasMessageContaining("read-write");
            // going back to the session's start values keeps it read-only: the proxy set them at start-up
            s.execute("RESET ALL");
            s.execute("DISCARD ALL");
            s.execute("RESET default_transaction_read_only");
            assertThatThrownBy(() -> s.executeQuery("SELECT sneaky_delete()"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25006"));
            // transaction_read_only's reset value is read-write even here: resetting it stays refused
            s.execute("BEGIN");
            assertThatThrownBy(() -> s.execute("RESET transaction_read_only")).hasMessageContaining("read-write");
            s.execute("ROLLBACK");
            s.execute("BEGIN");
            assertThatThrownBy(() -> s.execute("SET transaction_read_only = DEFAULT"))
                    .hasMessageContaining("read-write");
            s.execute("ROLLBACK");
            assertThatThrownBy(() -> s.executeQuery("SELECT sneaky_delete()"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25006"));
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM guarded")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(5);
            }
        }
        assertThat(countRows()).isEqualTo(5);
    }

    @Test
    void sessionsStartedUnderOtherSettingsMustReconnectWhenThePolicyBecomesReadOnly() throws Exception {
        try (RunCommand.Running r = start("enforce", false, dir.resolve("ro.jsonl"));
             Connection old = connect(r, ""); Statement s = old.createStatement()) {
            assertThat(s.executeUpdate("DELETE FROM guarded WHERE id = 1")).isEqualTo(1);
            // the policy turns read-only: the open session was started read-write, and a SET default_transaction_
            // read_only in it could be undone by RESET ALL, so it is refused until it reconnects
            Files.writeString(dir.resolve("policy-enforce.yaml"), ENFORCE.formatted("enforce", true));
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.metrics().render()
                    .contains("dbwarden_policy_reloads_total 1"));
            assertThatThrownBy(() -> s.executeUpdate("DELETE FROM guarded WHERE id = 2"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("57P01"))
                    .hasMessageContaining("must reconnect").hasMessageContaining("default_transaction_read_only");
            assertThatThrownBy(() -> s.executeQuery("SELECT 1")).hasMessageContaining("must reconnect");
            try (Connection fresh = connect(r, ""); Statement f = fresh.createStatement()) {
                assertThatThrownBy(() -> f.executeQuery("SELECT sneaky_delete()"))
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25006"));
                try (ResultSet rs = f.executeQuery("SELECT count(*) FROM guarded")) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(4);
                }
            }
        }
        assertThat(countRows()).isEqualTo(4);
    }

    @Test
    void policyFileChangesApplyWithoutRestartAndBrokenChangesAreRejected() throws Exception {
        Path audit = dir.resolve("audit-reload.jsonl");
        try (RunCommand.Running r = start("audit", false, audit);
             Connection c = connect(r, ""); Statement s = c.createStatement()) {
            assertThat(s.executeUpdate("DELETE FROM guarded WHERE id = 1 OR true")).isEqualTo(5); // audit mode
            s.execute("INSERT INTO guarded VALUES (1, 'a')");
            Path policy = dir.resolve("policy-audit.yaml");
            // a broken edit is rejected: the audit-mode policy stays in force
            Files.writeString(policy, ENFORCE.formatted("enforce", false).replace("[DROP, TRUNCATE]", "[DROP, NUKE]"));
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.metrics().render()
                    .contains("dbwarden_policy_reload_failures_total 1"));
            s.execute("TRUNCATE guarded");
            s.execute("INSERT INTO guarded VALUES (1, 'a')");
            // a valid edit switches to enforce mode for the running session
            Files.writeString(policy, ENFORCE.formatted("enforce", false));
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.metrics().render()
                    .contains("dbwarden_policy_reloads_total 1"));
            assertThatThrownBy(() -> s.execute("TRUNCATE guarded")).hasMessageContaining("no-drop");
        }
        assertThat(countRows()).isEqualTo(1);
    }

    @Test
    void aPolicyChangeReachesStatementsPreparedBeforeIt() throws Exception {
        Path audit = dir.resolve("audit-prepared.jsonl");
        try (RunCommand.Running r = start("enforce", false, audit, "--policy-reload-seconds", "1");
             // prepareThreshold=1: named server-side statements from the first execution on, so later executions
             // are Bind and Execute of a statement the proxy judged at its Parse, before the change
             Connection c = connect(r, "&prepareThreshold=1");
             PreparedStatement delete = c.prepareStatement("DELETE FROM guarded WHERE id = ?");
             PreparedStatement select = c.prepareStatement("SELECT secret FROM guarded WHERE id = ?")) {
            delete.setInt(1, 5);
            assertThat(delete.executeUpdate()).isEqualTo(1);
            delete.setInt(1, 100);
            assertThat(delete.executeUpdate()).as("Bind and Execute of the prepared statement").isZero();
            select.setInt(1, 1);
            select.executeQuery().close();
            select.executeQuery().close();
            // the policy no longer lets the application delete
            Files.writeString(dir.resolve("policy-enforce.yaml"), ENFORCE.formatted("enforce", false)
                    .replace("[SELECT, INSERT, UPDATE, DELETE]", "[SELECT, INSERT, UPDATE]"));
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.metrics().render()
                    .contains("dbwarden_policy_reloads_total 1"));
            delete.setInt(1, 1);
            assertThatThrownBy(delete::executeUpdate).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("42501");
                assertThat(e.getMessage()).contains("policy \"guard\"");
            });
            // still refused the next time, and the session goes on with what the policy still allows
            assertThatThrownBy(delete::executeUpdate).hasMessageContaining("policy \"guard\"");
            try (ResultSet rs = select.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("v1");
            }
            // and a policy that allows it again lets the same prepared statement run again
            Files.writeString(dir.resolve("policy-enforce.yaml"), ENFORCE.formatted("enforce", false));
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.metrics().render()
                    .contains("dbwarden_policy_reloads_total 2"));
            delete.setInt(1, 4);
            assertThat(delete.executeUpdate()).isEqualTo(1);
        }
        assertThat(countRows()).as("ids 5 and 4 deleted, 1 kept").isEqualTo(3);
        List<String> lines = Files.readAllLines(audit);
        assertThat(lines).filteredOn(l -> l.contains("\"statement\":\"delete from guarded where id = $1\"")
                && l.contains("\"decision\":\"deny\"")).hasSize(2);
    }

    @Test
    void eventLoopCountIsConfigurableAndSessionsOnEveryLoopWork() throws Exception {
        Path audit = dir.resolve("loops.jsonl");
        try (RunCommand.Running r = start("enforce", false, audit, "--event-loops", "3")) {
            assertThat(r.server().eventLoops()).isEqualTo(3);
            // sessions are dealt to the loops in turn: six concurrent ones put two on each, and all of them work
            List<Connection> sessions = new ArrayList<>();
            try {
                for (int i = 0; i < 6; i++) {
                    sessions.add(connect(r, ""));
                }
                for (int i = 0; i < sessions.size(); i++) {
                    try (ResultSet rs = sessions.get(i).createStatement()
                            .executeQuery("SELECT secret FROM guarded WHERE id = " + (i % 5 + 1))) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo("v" + (i % 5 + 1));
                    }
                }
            } finally {
                for (Connection c : sessions) {
                    c.close();
                }
            }
        }
        try (RunCommand.Running r = start("enforce", false, audit)) {
            assertThat(r.server().eventLoops()).isEqualTo(ProxyServer.defaultEventLoops());
        }
    }

    @Test
    void eventLoopCountOutOfRangeIsAUsageError() throws Exception {
        for (String loops : List.of("0", "-2", "257")) {
            assertThat(usageError(dir.resolve("bad-loops.jsonl"), List.of("--event-loops", loops))).as(loops)
                    .contains("--event-loops must be between 1 and 256, got " + loops);
        }
    }

    @Test
    void theAuditFileIsRotatedBySizeAndVerifiedAcrossItsParts() throws Exception {
        Path audit = dir.resolve("rotated/audit.jsonl");
        try (RunCommand.Running r = start("enforce", false, audit, "--audit-max-file-bytes", "4096",
                "--audit-max-files", "2")) {
            try (Connection c = connect(r, ""); Statement s = c.createStatement()) {
                for (int i = 0; i < 40; i++) {
                    try (ResultSet rs = s.executeQuery("SELECT " + i)) {
                        rs.next();
                    }
                }
            }
            await().atMost(java.time.Duration.ofSeconds(10)).until(() -> r.auditLog().written() >= 40);
            String metrics = http(r, "/metrics");
            assertThat(metrics).containsPattern("dbwarden_audit_file_rotations_total\\{by=\"proxy\"} [1-9]")
                    .contains("dbwarden_audit_file_rotations_total{by=\"other\"} 0");
        }
        Path part1 = audit.resolveSibling("audit.jsonl.1");
        Path part2 = audit.resolveSibling("audit.jsonl.2");
        assertThat(part1).exists();
        assertThat(part2).exists();
        assertThat(audit.resolveSibling("audit.jsonl.3")).doesNotExist();
        for (Path p : List.of(part2, part1, audit)) {
            assertThat(Files.size(p)).as(p.toString()).isLessThanOrEqualTo(4096);
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
        int status;
        try {
            status = DbwardenProxyCli.commandLine().execute("verify", "--with-rotated", audit.toString());
        } finally {
            System.setOut(old);
        }
        assertThat(status).as(out.toString(java.nio.charset.StandardCharsets.UTF_8)).isZero();
        int kept = 0;
        for (Path p : List.of(part2, part1, audit)) {
            kept += Files.readAllLines(p).size();
        }
        assertThat(out.toString(java.nio.charset.StandardCharsets.UTF_8))
                .contains("OK: " + kept + " events, hash chain intact");
    }

    @Test
    void longStatementTextsAreCutInTheAuditLogAndTheChainStillVerifies() throws Exception {
        Path audit = dir.resolve("cut/audit.jsonl");
        StringBuilder values = new StringBuilder("SELECT count(*) FROM (VALUES (1, 'a')");
        for (int i = 2; i <= 500; i++) {
            values.append(", (").append(i).append(", 'a')");
        }
        values.append(") v");
        try (RunCommand.Running r = start("enforce", false, audit, "--audit-statement-max-chars", "100");
             Connection c = connect(r, ""); Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery(values.toString())) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(500);
            }
            try (ResultSet rs = s.executeQuery("SELECT 1")) {
                rs.next();
            }
            await().atMost(java.time.Duration.ofSeconds(10)).until(() -> r.auditLog().written() >= 2);
        }
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<com.fasterxml.jackson.databind.JsonNode> events = new ArrayList<>();
        for (String line : Files.readAllLines(audit)) {
            events.add(json.readTree(line));
        }
        com.fasterxml.jackson.databind.JsonNode cut = events.stream()
                .filter(e -> e.path("statement").asText().startsWith("select count(*)")).findFirst().orElseThrow();
        assertThat(cut.get("statement").asText()).hasSize(100).startsWith("select count(*) from (values (?, ?), ");
        assertThat(cut.get("statementChars").asInt()).isGreaterThan(4000); // 500 times ", (?, ?)"
        assertThat(cut.get("rows").asInt()).isEqualTo(1);
        assertThat(events).anySatisfy(e -> {
            assertThat(e.get("statement").asText()).isEqualTo("select ?");
            assertThat(e.has("statementChars")).isFalse();
        });
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.out;
        System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
        int status;
        try {
            status = DbwardenProxyCli.commandLine().execute("verify", audit.toString());
        } finally {
            System.setOut(old);
        }
        assertThat(status).as(out.toString(java.nio.charset.StandardCharsets.UTF_8)).isZero();
        assertThat(usageError(dir.resolve("bad.jsonl"), List.of("--audit-statement-max-chars", "-1")))
                .contains("--audit-statement-max-chars must be 0 or more, got -1");
    }

    @Test
    void auditRotationOptionsOutOfRangeAreUsageErrors() throws Exception {
        Map<List<String>, String> cases = Map.of(
                List.of("--audit-max-file-bytes", "100"), "--audit-max-file-bytes must be 0 (never rotate) or at "
                        + "least 4096, got 100",
                List.of("--audit-max-file-bytes", "-1"), "--audit-max-file-bytes must be 0 (never rotate) or at "
                        + "least 4096, got -1",
                List.of("--audit-max-file-bytes", "65536", "--audit-max-files", "0"), "--audit-max-files must be "
                        + "between 1 and 1000, got 0",
                List.of("--audit-max-files", "1001"), "--audit-max-files must be between 1 and 1000, got 1001");
        for (Map.Entry<List<String>, String> e : cases.entrySet()) {
            assertThat(usageError(dir.resolve("bad.jsonl"), e.getKey())).as(e.getKey().toString())
                    .contains(e.getValue());
        }
        assertThat(usageError(Path.of("-"), List.of("--audit-max-file-bytes", "65536")))
                .contains("--audit-max-file-bytes needs --audit FILE (stdout is not rotated)");
    }

    private String usageError(Path audit, List<String> extra) throws IOException {
        CommandLine cl = DbwardenProxyCli.commandLine();
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err));
        List<String> run = new ArrayList<>(List.of("run"));
        run.addAll(List.of(args("enforce", false, audit, extra.toArray(String[]::new))));
        assertThat(cl.execute(run.toArray(String[]::new))).as(extra.toString()).isEqualTo(DbwardenProxyCli.EXIT_USAGE);
        return err.toString();
    }

    @Test
    void startUpFailuresSayWhichOptionAndWhatIsWrong() throws Exception {
        Path unreadable = dir.resolve("no-such-password");
        Path binary = dir.resolve("binary-password");
        Files.write(binary, new byte[] {(byte) 0xff, (byte) 0xfe, 0});
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1,
                java.net.InetAddress.getLoopbackAddress())) {
            String busy = "127.0.0.1:" + taken.getLocalPort();
            Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
            cases.put(List.of("--upstream-password-file", unreadable.toString()),
                    "cannot read --upstream-password-file " + unreadable + ": no such file");
            cases.put(List.of("--upstream-password-file", binary.toString()),
                    "cannot read --upstream-password-file " + binary + ": not UTF-8 text");
            cases.put(List.of("--masking-key-file", unreadable.toString()),
                    "cannot read --masking-key-file " + unreadable + ": no such file");
            cases.put(List.of("--client-tls-cert", unreadable.toString(), "--client-tls-key", unreadable.toString()),
                    "cannot read certificates from " + unreadable + ": no such file");
            cases.put(List.of("--listen", busy), "cannot listen on --listen " + busy + ": ");
            cases.put(List.of("--admin-listen", busy), "cannot listen on --admin-listen " + busy + ": ");
            cases.put(List.of("--shutdown-drain-seconds", "-1"), "--shutdown-drain-seconds must be 0 or more, got -1");
            cases.put(List.of("--warm-up-seconds", "-1"), "--warm-up-seconds must be 0 or more, got -1");
            for (Map.Entry<List<String>, String> c : cases.entrySet()) {
                CommandLine cl = DbwardenProxyCli.commandLine();
                cl.getSubcommands().get("run").setOverwrittenOptionsAllowed(true); // the case's value replaces args'
                java.io.StringWriter err = new java.io.StringWriter();
                cl.setErr(new java.io.PrintWriter(err));
                List<String> run = new ArrayList<>(List.of("run"));
                run.addAll(List.of(args("enforce", false, dir.resolve("failed.jsonl"),
                        c.getKey().toArray(String[]::new))));
                assertThat(cl.execute(run.toArray(String[]::new))).as(c.getKey().toString())
                        .isIn(1, DbwardenProxyCli.EXIT_USAGE); // a file or address problem, or a bad option value
                assertThat(err.toString()).as(c.getKey().toString()).contains(c.getValue());
            }
        }
    }

    @Test
    void invalidPolicyFileIsRejectedWithPreciseErrors() throws Exception {
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, ENFORCE.formatted("enforce", false).replace("[DROP, TRUNCATE]", "[DROP, DESTROY]"));
        CommandLine cl = DbwardenProxyCli.commandLine();
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err));
        int code = cl.execute("validate", bad.toString());
        assertThat(code).isEqualTo(DbwardenProxyCli.EXIT_INVALID_POLICY);
        assertThat(err.toString()).contains("spec.rules[1].match.statements[1]").contains("DESTROY")
                .contains("valid kinds");
    }

    private static int countRows() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
             ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM guarded")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static String http(RunCommand.Running r, String path) throws Exception {
        HttpResponse<String> resp = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + r.admin().port() + path)).build(), HttpResponse.BodyHandlers.ofString());
        return resp.body();
    }
}
