package io.dbwarden.proxy;

import io.dbwarden.proxy.cli.DbwardenProxyCli;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Stopping the proxy as PostgreSQL stops: new sessions are refused with 57P03 while open ones finish their work; what
 * is still open when the grace period ends is terminated (57P01), its running statement cancelled in the database
 * rather than left to run on unseen, its transaction rolled back, and every statement the database was sent is
 * audited even when its answer never came (as is one whose client left while it awaited its verdict).
 */
@ExtendWith(LeakDetection.class)
class ShutdownTest {
    @TempDir
    Path dir;

    @BeforeEach
    void table() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS drained", "CREATE TABLE drained (id int, note text)");
    }

    @Test
    void openSessionsFinishWhileNewOnesAreRefusedAndCancelsStillReachTheDatabase() throws Exception {
        RunningProxy proxy = RunningProxy.start();
        try (Connection inTx = proxy.connect(); Connection busy = proxy.connect()) {
            inTx.setAutoCommit(false);
            try (Statement s = inTx.createStatement()) {
                s.execute("INSERT INTO drained VALUES (1, 'before shutdown')");
            }
            Statement sleeper = busy.createStatement();
            CompletableFuture<Throwable> sleeping = failureOf(sleeper, "SELECT pg_sleep(60)");
            awaitRunning("pg_sleep(60)");
            long start = System.nanoTime();
            CompletableFuture<Void> stopped = shutdownInBackground(proxy, Duration.ZERO);
            await().atMost(5, TimeUnit.SECONDS).until(proxy.server::shuttingDown);

            assertThatThrownBy(proxy::connect).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("57P03");
                assertThat(e.getMessage()).contains("shutting down");
            });
            // a cancel request is a connection of its own: it still goes through to the database
            sleeper.cancel();
            assertThat(sleeping.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("57014"));
            try (Statement s = busy.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.next()).as("the cancelled session goes on").isTrue();
            }
            try (Statement s = inTx.createStatement()) {
                s.execute("INSERT INTO drained VALUES (2, 'during shutdown')");
            }
            inTx.commit();
            assertThat(stopped).as("sessions are still open").isNotDone();
            busy.close();
            inTx.close();
            stopped.get(10, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("it stops when the last session ends, "
                    + "not at the end of the grace period").isLessThan(Duration.ofSeconds(30));
        } finally {
            proxy.close();
        }
        assertThat(rows()).containsExactly("1 before shutdown", "2 during shutdown");
    }

    /**
     * A plain-container sidecar is stopped together with its application: while draining it still accepts sessions,
     * for the drain period and then as long as any session is open, and stops once none is (not at the end of the
     * grace period).
     */
    @Test
    void aDrainingProxyAcceptsNewSessionsUntilNoneIsOpenAfterTheDrainPeriod() throws Exception {
        RunningProxy proxy = RunningProxy.start();
        try {
            Connection first = proxy.connect();
            long start = System.nanoTime();
            CompletableFuture<Void> stopped = shutdownInBackground(proxy, Duration.ofSeconds(1));
            await().atMost(5, TimeUnit.SECONDS).until(proxy.server::shuttingDown);
            try (Connection during = proxy.connect(); Statement s = during.createStatement()) {
                s.execute("INSERT INTO drained VALUES (1, 'opened while draining')");
            }
            Thread.sleep(1_500); // past the drain period: a session is still open, so sessions are still accepted
            try (Connection late = proxy.connect(); Statement s = late.createStatement()) {
                s.execute("INSERT INTO drained VALUES (2, 'opened after the drain period')");
            }
            assertThat(stopped).as("a session is still open").isNotDone();
            first.close();
            stopped.get(10, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("it stops when the last session ends")
                    .isLessThan(Duration.ofSeconds(30));
            assertThatThrownBy(proxy::connect).as("and then accepts nothing").isInstanceOf(SQLException.class);
        } finally {
            proxy.close();
        }
        assertThat(rows()).containsExactly("1 opened while draining", "2 opened after the drain period");
    }

    /** With no session open, a draining proxy still waits out the drain period, accepting sessions, then stops. */
    @Test
    void aDrainingProxyWithoutSessionsStopsAfterTheDrainPeriod() throws Exception {
        RunningProxy proxy = RunningProxy.start();
        try {
            long start = System.nanoTime();
            CompletableFuture<Void> stopped = shutdownInBackground(proxy, Duration.ofSeconds(2));
            await().atMost(5, TimeUnit.SECONDS).until(proxy.server::shuttingDown);
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                s.execute("INSERT INTO drained VALUES (1, 'within the drain period')");
            }
            stopped.get(10, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isBetween(Duration.ofSeconds(2),
                    Duration.ofSeconds(12));
        } finally {
            proxy.close();
        }
        assertThat(rows()).containsExactly("1 within the drain period");
    }

    @Test
    void sessionsOpenAtTheEndOfTheGracePeriodAreTerminatedTheirStatementsCancelledAndAudited() throws Exception {
        RunningProxy proxy = RunningProxy.start();
        Connection idleInTx = proxy.connect();
        Connection running = proxy.connect();
        try {
            idleInTx.setAutoCommit(false);
            try (Statement s = idleInTx.createStatement()) {
                s.execute("INSERT INTO drained VALUES (1, 'never committed')");
            }
            CompletableFuture<Throwable> sleeping = failureOf(running.createStatement(),
                    "INSERT INTO drained SELECT 2, 'slept' FROM pg_sleep(120)");
            awaitRunning("pg_sleep(120)");
            long start = System.nanoTime();
            proxy.server.shutdown(Duration.ofMillis(500));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));

            assertThat(sleeping.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("57P01");
                assertThat(e.getMessage()).contains("dbwarden proxy is shutting down");
            });
            assertThatThrownBy(() -> {
                try (Statement s = idleInTx.createStatement()) {
                    s.execute("SELECT 1");
                }
            }).isInstanceOf(SQLException.class);
        } finally {
            idleInTx.close();
            running.close();
            proxy.close();
        }
        // cancelled in the database, not left running there once the proxy had gone
        await().atMost(10, TimeUnit.SECONDS).until(() -> !runningInDatabase("pg_sleep(120)"));
        assertThat(rows()).as("the open transaction was rolled back").isEmpty();
        ExecutionRecord insert = proxy.records.stream()
                .filter(r -> r.statement().text().contains("pg_sleep(120)")).findFirst().orElseThrow();
        assertThat(insert.executed()).isTrue();
        assertThat(insert.errorSqlState()).isEqualTo("57P01");
        assertThat(insert.errorMessage()).contains("shutting down");
    }

    @Test
    void aCopyStillStreamingAtTheEndOfTheGracePeriodLeavesNoRowsBehind() throws Exception {
        RunningProxy proxy = RunningProxy.start();
        Connection c = proxy.connect();
        try {
            org.postgresql.copy.CopyIn copy = c.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                    .copyIn("COPY drained (id, note) FROM STDIN");
            byte[] rows = "1\tstreamed\n2\tstreamed\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            copy.writeToCopy(rows, 0, rows.length);
            copy.flushCopy();
            awaitRunning("COPY drained");
            proxy.server.shutdown(Duration.ofMillis(300));
            assertThatThrownBy(() -> {
                copy.writeToCopy(rows, 0, rows.length);
                copy.endCopy();
            }).isInstanceOf(SQLException.class);
        } finally {
            c.abort(Runnable::run); // the driver cannot close a connection cut off in the middle of a COPY cleanly
            proxy.close();
        }
        await().atMost(10, TimeUnit.SECONDS).until(() -> !runningInDatabase("COPY drained"));
        assertThat(rows()).as("a COPY is all or nothing").isEmpty();
        assertThat(proxy.records).anySatisfy(r -> {
            assertThat(r.statement().text()).contains("COPY drained");
            assertThat(r.errorSqlState()).isEqualTo("57P01");
        });
    }

    @Test
    void aStatementWhoseClientVanishesBeforeItsAnswerIsStillAudited() throws Exception {
        try (RunningProxy proxy = RunningProxy.start()) {
            Connection c = proxy.connect();
            CompletableFuture<Throwable> vanishing = failureOf(c.createStatement(),
                    "SELECT pg_sleep(1), 'vanishing client'");
            awaitRunning("vanishing client");
            c.abort(Runnable::run); // closes the socket without a Terminate message
            assertThat(vanishing.get(10, TimeUnit.SECONDS)).isInstanceOf(SQLException.class);
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                    .anyMatch(r -> r.statement().text().contains("vanishing client")));
            ExecutionRecord r = proxy.records.stream()
                    .filter(x -> x.statement().text().contains("vanishing client")).findFirst().orElseThrow();
            assertThat(r.executed()).as("it reached the database").isTrue();
            assertThat(r.errorSqlState()).isEqualTo("08006");
            assertThat(r.errorMessage()).contains("client closed the connection before the database answered");
        }
    }

    /**
     * A statement awaiting its verdict (an approval, say) when its session ends is audited then, as not run, not when
     * a verdict comes (maybe much later, maybe never: the proxy may be shutting down); a verdict that still comes
     * changes nothing.
     */
    @ParameterizedTest
    @ValueSource(strings = {"client leaves", "proxy shuts down"})
    void aStatementAwaitingItsVerdictWhenItsSessionEndsIsAuditedAsNotRun(String ending) throws Exception {
        CompletableFuture<Verdict> approval = new CompletableFuture<>();
        CompletableFuture<Verdict> decision = new CompletableFuture<>();
        CountDownLatch asked = new CountDownLatch(1);
        StatementFilter slow = ctx -> {
            if (ctx.statement().text().contains("approved later")) {
                return approval; // decided while the session waits, before the statement after it is asked about
            }
            if (!ctx.statement().text().contains("left waiting")) {
                return Verdict.allowNow();
            }
            asked.countDown();
            return decision; // as an approval that takes its time
        };
        try (RunningProxy proxy = RunningProxy.start(List.of(slow))) {
            Connection c = proxy.connect("preferQueryMode=simple");
            CompletableFuture<Throwable> waiting = failureOf(c.createStatement(), "SELECT 'decided first'; "
                    + "SELECT 'approved later'; INSERT INTO drained VALUES (7, 'left waiting')");
            Thread.sleep(100);
            approval.complete(Verdict.allow());
            assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();
            if (ending.equals("client leaves")) {
                c.abort(Runnable::run);
            } else {
                proxy.server.shutdown(Duration.ofMillis(300));
            }
            assertThat(waiting.get(10, TimeUnit.SECONDS)).isInstanceOf(SQLException.class);
            await().atMost(10, TimeUnit.SECONDS).until(() -> ours(proxy).size() == 3);
            ExecutionRecord r = proxy.records.stream()
                    .filter(x -> x.statement().text().contains("left waiting")).findFirst().orElseThrow();
            assertThat(r.executed()).isFalse();
            assertThat(r.verdict().forwards()).as("no verdict came").isFalse();
            assertThat(r.verdict().reason()).contains("no verdict");
            assertThat(r.errorMessage()).contains("the session ended while the statement awaited its verdict");
            for (ExecutionRecord before : ours(proxy).subList(0, 2)) {
                assertThat(before.verdict().forwards()).isTrue();
                assertThat(before.executed()).as("sent with the statement after them, which never was").isFalse();
                assertThat(before.errorMessage()).contains("statement 3 of the same query awaited its verdict");
            }

            decision.complete(Verdict.allow()); // approved after the session has gone
            Thread.sleep(300);
            assertThat(ours(proxy)).as("audited once").hasSize(3);
        }
        assertThat(rows()).as("it did not run").isEmpty();
    }

    /**
     * A statement held for a ChangeApproval whose session ends before an approver decides is audited with what held
     * it: decision require_approval under its policy's rule, not run.
     */
    @Test
    void aStatementWhoseApprovalIsPendingWhenItsSessionEndsIsAuditedAsRequiringApproval() throws Exception {
        PolicyEngine engine = PolicyEngine.of(PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: reviewed-ddl, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                  rules:
                    - name: ddl-needs-approval
                      match: {statements: [CREATE]}
                      action: requireApproval
                """, "test"), "test/app");
        CountDownLatch asked = new CountDownLatch(1);
        try (StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1)) {
            PolicyFilter policy = new PolicyFilter(engine, analyzer, 1000);
            policy.approvals((context, held, compiled) -> {
                asked.countDown();
                return new CompletableFuture<>(); // no approver decides
            });
            try (RunningProxy proxy = RunningProxy.start(c -> c.withIdentity("test/app"), List.of(policy),
                    engine::sessionSettings)) {
                Connection c = proxy.connect();
                CompletableFuture<Throwable> waiting = failureOf(c.createStatement(),
                        "CREATE TABLE awaiting_approval (a int)");
                assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();
                c.abort(Runnable::run);
                assertThat(waiting.get(10, TimeUnit.SECONDS)).isInstanceOf(SQLException.class);
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                        .anyMatch(r -> r.statement().text().contains("awaiting_approval")));
                ExecutionRecord r = proxy.records.stream()
                        .filter(x -> x.statement().text().contains("awaiting_approval")).findFirst().orElseThrow();
                assertThat(r.executed()).isFalse();
                assertThat(r.verdict().decision()).isEqualTo(Decision.REQUIRE_APPROVAL);
                assertThat(r.verdict().policy()).isEqualTo("reviewed-ddl");
                assertThat(r.verdict().rule()).isEqualTo("ddl-needs-approval");
                assertThat(r.errorMessage()).contains("the session ended while the statement awaited its verdict");
            }
        }
        try (Connection d = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = d.createStatement();
             ResultSet rs = s.executeQuery("SELECT to_regclass('awaiting_approval') IS NULL")) {
            assertThat(rs.next() && rs.getBoolean(1)).as("it did not run").isTrue();
        }
    }

    private static List<ExecutionRecord> ours(RunningProxy proxy) {
        return proxy.records.stream().filter(r -> r.statement().text().contains("left waiting")
                || r.statement().text().contains("decided first") || r.statement().text().contains("approved later"))
                .toList();
    }

    @Test
    void whileDrainingTheProxyIsAliveButNotReady() throws Exception {
        Path policy = dir.resolve("pass-through.yaml");
        Files.writeString(policy, """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: pass-through, namespace: test}
                spec:
                  subjects: [{identity: "*/*"}]
                  defaultAction: allow
                """);
        RunCommand.Running running = CliProxy.start(dir, policy, "test/app", "--admin-listen", "127.0.0.1:0");
        try (Connection c = CliProxy.connect(running, "")) {
            assertThat(http(running, "/readyz")).isEqualTo(200);
            Thread stopping = Thread.ofPlatform().start(() -> running.shutdown(Duration.ofSeconds(60)));
            await().atMost(5, TimeUnit.SECONDS).until(() -> http(running, "/readyz") == 503);
            assertThat(http(running, "/healthz")).as("a draining proxy must not be restarted").isEqualTo(200);
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM drained")) {
                assertThat(rs.next()).isTrue();
            }
            c.close();
            stopping.join(10_000);
            assertThat(stopping.isAlive()).isFalse();
        } finally {
            running.close();
        }
        assertThat(Files.readString(dir.resolve("audit.jsonl"))).as("audited while draining")
                .contains("select count(*) from drained");
    }

    private static int http(RunCommand.Running r, String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + r.admin().port() + path)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void sigtermLetsTheStandaloneProxyFinishOpenWorkAndThenExit() throws Exception {
        int port = freePort();
        Path audit = dir.resolve("audit.jsonl");
        Process p = launch(port, audit);
        try {
            String url = url(port);
            try (Connection c = DriverManager.getConnection(url)) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.execute("INSERT INTO drained VALUES (1, 'across SIGTERM')");
                }
                p.destroy(); // SIGTERM
                await().atMost(10, TimeUnit.SECONDS).until(() -> Files.readString(dir.resolve("proxy.log"))
                        .contains("shutting down"));
                assertThat(p.isAlive()).as("waits for the open session").isTrue();
                try (Statement s = c.createStatement()) {
                    s.execute("UPDATE drained SET note = note || ', committed' WHERE id = 1");
                }
                c.commit();
            }
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits once the session has ended").isTrue();
            assertThat(p.exitValue()).as("a shutdown asked for and done cleanly").isZero();
        } finally {
            p.destroyForcibly();
        }
        assertThat(rows()).containsExactly("1 across SIGTERM, committed");
        assertThat(Files.readString(audit)).contains("COMMIT");
    }

    /** Starts a shutdown with 60 s of grace (and {@code drain}) on a thread; completes when it has stopped. */
    private static CompletableFuture<Void> shutdownInBackground(RunningProxy proxy, Duration drain) {
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        Thread.ofPlatform().start(() -> {
            proxy.server.shutdown(Duration.ofSeconds(60), drain);
            stopped.complete(null);
        });
        return stopped;
    }

    /** Runs {@code sql} on a thread of its own; completes with its SQLException, or null if it succeeded. */
    private static CompletableFuture<Throwable> failureOf(Statement statement, String sql) {
        CompletableFuture<Throwable> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                statement.execute(sql);
                f.complete(null);
            } catch (SQLException e) {
                f.complete(e);
            }
        });
        return f;
    }

    @Test
    void sigintAfterSigtermEndsTheGracePeriodAtOnceAsAFastShutdown() throws Exception {
        int port = freePort();
        Process p = launch(port, dir.resolve("audit.jsonl"));
        try (Connection c = DriverManager.getConnection(url(port))) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("INSERT INTO drained VALUES (1, 'interrupted')");
            }
            p.destroy(); // SIGTERM: a smart shutdown, 60 s of grace
            await().atMost(10, TimeUnit.SECONDS).until(() -> Files.readString(dir.resolve("proxy.log"))
                    .contains("shutting down"));
            assertThat(p.isAlive()).isTrue();
            assertThat(new ProcessBuilder("kill", "-INT", String.valueOf(p.pid())).start().waitFor()).isZero();
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("SIGINT: a fast shutdown").isTrue();
            assertThatThrownBy(() -> {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT 1");
                }
            }).isInstanceOf(SQLException.class);
        } finally {
            p.destroyForcibly();
        }
        assertThat(rows()).as("rolled back").isEmpty();
    }

    private Process launch(int port, Path audit) throws Exception {
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        // SIGINT back to its default: a build started in the background inherits it ignored, and the JVM keeps that
        List<String> cmd = new ArrayList<>(List.of("env", "--default-signal=INT",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), DbwardenProxyCli.class.getName(), "run",
                "--listen", "127.0.0.1:" + port, "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(),
                "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user", EmbeddedPg.SCRAM_USER,
                "--upstream-password-file", pw.toString(), "--upstream-tls", "disable", "--no-policy",
                "--admin-listen", "none", "--audit", audit.toString(), "--shutdown-grace-seconds", "60",
                "--warm-up-seconds", "0"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("proxy.log").toFile())
                .start();
        await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
            DriverManager.getConnection(url(port)).close();
            return true;
        });
        return p;
    }

    private static String url(int port) {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + EmbeddedPg.DATABASE + "?sslmode=disable&user=app";
    }

    private static List<String> rows() throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT id, note FROM drained ORDER BY id")) {
            while (rs.next()) {
                out.add(rs.getInt(1) + " " + rs.getString(2));
            }
        }
        return out;
    }

    private static void awaitRunning(String marker) {
        await().atMost(10, TimeUnit.SECONDS).until(() -> runningInDatabase(marker));
    }

    private static boolean runningInDatabase(String marker) throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                     + "AND pid <> pg_backend_pid() AND position('" + marker + "' in query) > 0")) {
            rs.next();
            return rs.getInt(1) > 0;
        }
    }

    /** Ports handed out in this JVM: a closed socket's port may come back from the next bind to port 0. */
    private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static int freePort() throws Exception {
        while (true) {
            int port = anyFreePort();
            if (HANDED_OUT.add(port)) {
                return port;
            }
        }
    }

    private static int anyFreePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
