package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.masking.MaskingRules;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.net.InetAddress;
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
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The JIT warm-up that runs before {@code dbwarden-proxy run} takes its first client. */
@ExtendWith(LeakDetection.class)
class WarmUpTest {
    @TempDir
    Path dir;

    @Test
    void relaysEveryProtocolThroughALoopbackProxyAndEndsByTheLimit() throws Exception {
        long start = System.nanoTime();
        WarmUp.Outcome o = WarmUp.run(Duration.ofSeconds(2), 1, 2, MaskingRules.none(), () -> false);
        // clients stop at the limit (or earlier, once the compiler is quiet) and finish the round they are in
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(12));
        assertThat(o.took()).isLessThanOrEqualTo(Duration.ofNanos(System.nanoTime() - start));
        // simple queries, unnamed extended-protocol statements, named prepared ones: each answered without error
        // (an ErrorResponse from the relay fails the warm-up), in whole rounds of 50
        assertThat(o.statements()).hasSize(3);
        for (long n : o.statements()) {
            assertThat(n).isPositive().matches(v -> v % 50 == 0, "a multiple of 50");
        }
        assertThat(o.total()).isEqualTo(o.statements()[0] + o.statements()[1] + o.statements()[2]);
        assertThat(o.stopped()).isFalse();
        assertThat(o.masked()).as("no detectors, nothing masked").isZero();
    }

    /** Masks results by a column rule and by detectors, for every identity. */
    private static final String MASKING_POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata: {name: app, namespace: team-a}
            spec:
              subjects: [{identity: "*/*"}]
              defaultAction: allow
              masking:
                columns:
                  - {name: contact, columns: ["public.accounts.email"], strategy: redact}
                detectors:
                  - {type: email, strategy: partial}
                  - {type: creditCard, strategy: redact}
            """;

    @Test
    void theDetectorsOfThePolicyInForceMaskTheStandInsResults() throws Exception {
        List<DatabaseAccessPolicy> policies = PolicyLoader.parse(MASKING_POLICY, "test");
        MaskingRules rules = PolicyReloader.masking(policies, "team-a/app", null);
        WarmUp.Outcome o = WarmUp.run(Duration.ofSeconds(2), 1, 2, rules, () -> false);
        // every row but an UPDATE's has one e-mail address in its third column; the column rule, which would need
        // the catalog, is left out (with it every column would be masked whole: the stand-in's come from no table)
        assertThat(o.masked()).isPositive().isLessThanOrEqualTo(o.total());
        assertThat(o.statements()[2]).as("prepared statements return rows too").isPositive();
    }

    @Test
    void aProxyWithDetectorsInItsPolicyFileWarmsThemUp() throws Exception {
        Path log = dir.resolve("proxy.log");
        Path policy = Files.writeString(dir.resolve("policy.yaml"), MASKING_POLICY);
        Process p = proxyProcess(log, "--policy", policy.toString(), "--warm-up-seconds", "2");
        try {
            await().atMost(60, TimeUnit.SECONDS).until(() -> Files.readString(log).contains("ready:")
                    || !p.isAlive());
            assertThat(Files.readString(log)).containsPattern("warm-up done: .* masked_values=[1-9]");
        } finally {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /**
     * {@code dbwarden-proxy run} in a process of its own in front of the test database, its output in {@code log};
     * SIGINT back to its default as in ShutdownTest (a background build inherits it ignored).
     */
    private Process proxyProcess(Path log, String... options) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("env", "--default-signal=INT",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), DbwardenProxyCli.class.getName(), "run",
                "--listen", "127.0.0.1:" + freePort(), "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(),
                "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user", EmbeddedPg.SCRAM_USER,
                "--upstream-tls", "disable", "--admin-listen", "none",
                "--audit", dir.resolve("audit.jsonl").toString()));
        command.addAll(List.of(options));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    @Test
    void aShutdownAskedForMeanwhileEndsItLongBeforeTheLimit() throws Exception {
        long start = System.nanoTime();
        // asked 300 ms in: before the compiler can count as settled (1.5 s at least)
        WarmUp.Outcome o = WarmUp.run(Duration.ofSeconds(60), 1, 2, MaskingRules.none(),
                () -> System.nanoTime() - start > TimeUnit.MILLISECONDS.toNanos(300));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(15));
        assertThat(o.stopped()).isTrue();
        assertThat(o.settled()).isFalse();
        assertThat(o.took()).isLessThan(Duration.ofSeconds(15));
        // and one asked for before it begins skips it
        assertThat(WarmUp.runLogged(Duration.ofSeconds(60), 1, MaskingRules.none(), () -> true)).isNull();
    }

    @Test
    void sigtermDuringTheWarmUpEndsItAndStopsTheProxyCleanly() throws Exception {
        Path log = dir.resolve("proxy.log");
        Process p = proxyProcess(log, "--no-policy", "--warm-up-seconds", "60");
        try {
            await().atMost(30, TimeUnit.SECONDS).until(() -> Files.readString(log).contains("warming up"));
            p.destroy(); // SIGTERM
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("the warm-up ends and the proxy stops").isTrue();
            assertThat(p.exitValue()).as("a shutdown asked for and done cleanly, as after the start").isZero();
            assertThat(Files.readString(log)).contains("warm-up stopped early to shut down", "shutting down");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void theStandInFramesItsAnswersAsPostgresDoesForARealDriver() throws Exception {
        try (WarmUp.StandIn db = new WarmUp.StandIn();
             Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + db.port()
                     + "/warmup?sslmode=disable&user=warmup");
             Statement s = c.createStatement()) {
            try (ResultSet rs = s.executeQuery("SELECT id, name, email FROM accounts WHERE id = 1")) {
                assertThat(rs.getMetaData().getColumnCount()).isEqualTo(3);
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString("email")).isEqualTo("user" + rs.getString("id") + "@example.com");
                assertThat(rs.next()).isFalse();
            }
            c.setAutoCommit(false);
            assertThat(s.executeUpdate("UPDATE accounts SET balance = 0 WHERE id = 1")).isEqualTo(1);
            c.commit();
            assertThat(db.statements()).isGreaterThanOrEqualTo(3);
        }
    }

    /**
     * The warm-up's internal proxy is not announced at INFO: an operator reading the log would take its loopback
     * address on a free port for a second listener.
     */
    @Test
    void theInternalProxyIsNotAnnounced() {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        WarmUp.Outcome o;
        try {
            o = WarmUp.runLogged(Duration.ofSeconds(1), 1, MaskingRules.none(), () -> false);
        } finally {
            System.setErr(err);
        }
        String log = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertThat(o).isNotNull();
        assertThat(log).contains("INFO io.dbwarden.proxy.cli.WarmUp - warming up the statement path")
                .contains("warm-up done").doesNotContain("dbwarden proxy listening").doesNotContain("dbwarden/warm-up");
    }

    @Test
    void zeroSecondsSkipsIt() {
        assertThat(WarmUp.runLogged(Duration.ZERO, 1, MaskingRules.none(), () -> false)).isNull();
        assertThat(WarmUp.jitAvailable()).isTrue(); // tests run on HotSpot
    }

    @Test
    void theListenerIsBoundAtOnceAndTakesItsFirstClientAfterTheWarmUpWithoutATrace() throws Exception {
        int port = freePort();
        int adminPort = freePort();
        Path audit = dir.resolve("audit.jsonl");
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs("--listen", "127.0.0.1:" + port, "--upstream",
                "127.0.0.1:" + EmbeddedPg.get().port(), "--upstream-database", EmbeddedPg.DATABASE,
                "--upstream-user", EmbeddedPg.SCRAM_USER, "--upstream-password-file", pw.toString(),
                "--upstream-tls", "disable", "--identity", "test/warm", "--no-policy", "--audit", audit.toString(),
                "--admin-listen", "127.0.0.1:" + adminPort, "--warm-up-seconds", "3");
        CompletableFuture<RunCommand.Running> started = CompletableFuture.supplyAsync(() -> {
            try {
                return cmd.start();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        RunCommand.Running running = null;
        try {
            // while it warms up, the admin endpoint answers: alive, not ready
            AtomicInteger readyWhileWarming = new AtomicInteger(-1);
            await().atMost(30, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(20)).until(() -> {
                int status = status(adminPort, "/readyz");
                if (status > 0 && !started.isDone()) {
                    readyWhileWarming.compareAndSet(-1, status);
                }
                return status > 0 || started.isDone();
            });
            // the warm-up lasts 1.5 s at least, the admin endpoint is up long before that
            assertThat(readyWhileWarming.get()).isEqualTo(503);
            assertThat(status(adminPort, "/healthz")).isEqualTo(200);
            // a client connecting now waits in the backlog and is served once the warm-up is over
            CompletableFuture<Integer> early = CompletableFuture.supplyAsync(() -> {
                try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/"
                        + EmbeddedPg.DATABASE + "?sslmode=disable&user=app&connectTimeout=30");
                     Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 41 + 1")) {
                    rs.next();
                    return rs.getInt(1);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(300);
            boolean servedYet = early.isDone();
            if (status(adminPort, "/readyz") == 503) { // still warming up, so it was when servedYet was read
                assertThat(servedYet).isFalse();
            }
            running = started.get(60, TimeUnit.SECONDS);
            assertThat(status(adminPort, "/readyz")).isEqualTo(200);
            assertThat(early.get(30, TimeUnit.SECONDS)).isEqualTo(42);
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/"
                    + EmbeddedPg.DATABASE + "?sslmode=disable&user=app");
                 Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 'after'")) {
                assertThat(rs.next()).isTrue();
            }
        } finally {
            if (running != null) {
                running.close();
            } else {
                started.thenAccept(RunCommand.Running::close);
            }
        }
        // the real audit log holds the real sessions only, and its hash chain starts with them
        List<String> lines = Files.readAllLines(audit);
        assertThat(lines).isNotEmpty().allSatisfy(l -> assertThat(l).contains("\"identity\":\"test/warm\"")
                .doesNotContain("warm-up").doesNotContain("accounts"));
        assertThat(lines.get(0)).contains("\"seq\":1,");
    }

    private static int status(int port, String path) {
        try {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                    + path)).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (Exception notYet) {
            return -1;
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
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
