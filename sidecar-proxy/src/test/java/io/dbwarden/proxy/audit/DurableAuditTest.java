package io.dbwarden.proxy.audit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.dbwarden.proxy.cli.DbwardenProxyCli;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Audit durability end to end through the proxy and real PostgreSQL: events reach a remote sink (NDJSON or OTLP),
 * wait on disk while the sink is down, survive a crash of the proxy (kill -9) and are delivered after the restart
 * with an unbroken hash chain; `verify` detects tampering; fail-closed refuses statements while events cannot be
 * recorded and recovers when they can.
 */
class DurableAuditTest {
    @TempDir
    Path dir;

    private HttpServer sink;
    private volatile boolean sinkUp;
    private final List<String> received = Collections.synchronizedList(new ArrayList<>());
    private final List<String> otlpBodies = Collections.synchronizedList(new ArrayList<>());

    @BeforeEach
    void startSink() throws Exception {
        sink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        sink.createContext("/audit", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            if (!sinkUp) {
                ex.sendResponseHeaders(503, -1);
            } else {
                assertThat(ex.getRequestHeaders().getFirst("Content-Type")).isEqualTo("application/x-ndjson");
                new String(body, StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).forEach(received::add);
                ex.sendResponseHeaders(200, -1);
            }
            ex.close();
        });
        sink.createContext("/v1/logs", ex -> {
            otlpBodies.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            ex.sendResponseHeaders(sinkUp ? 200 : 503, -1);
            ex.close();
        });
        sink.start();
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS audited (id int)");
        }
    }

    @AfterEach
    void stopSink() {
        sink.stop(0);
    }

    private List<String> args(int port, Path audit, String sinkUrl, String... extra) throws Exception {
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        List<String> a = new ArrayList<>(List.of("run", "--listen", "127.0.0.1:" + port,
                "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(), "--upstream-database", EmbeddedPg.DATABASE,
                "--upstream-user", EmbeddedPg.SCRAM_USER, "--upstream-password-file", pw.toString(),
                "--upstream-tls", "disable", "--identity", "test/audited", "--no-policy", "--admin-listen", "none",
                "--audit", audit.toString(), "--audit-sink", sinkUrl, "--audit-spool", dir.resolve("spool").toString(),
                "--warm-up-seconds", "0"));
        a.addAll(List.of(extra));
        return a;
    }

    private Process launch(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), DbwardenProxyCli.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("proxy.log").toFile())
                .start();
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

    private static Connection connect(int port) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/" + EmbeddedPg.DATABASE
                + "?sslmode=disable&user=app&preferQueryMode=simple");
    }

    private static void statements(int port, int n, String tag) throws Exception {
        await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
            connect(port).close();
            return true;
        });
        try (Connection c = connect(port); Statement s = c.createStatement()) {
            for (int i = 0; i < n; i++) {
                s.execute("SELECT count(*) FROM audited /* " + tag + " */");
            }
        }
    }

    private long spooledLines() throws Exception {
        Path spool = dir.resolve("spool");
        if (!Files.isDirectory(spool)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(spool)) {
            long n = 0;
            for (Path p : s.filter(f -> f.getFileName().toString().startsWith("segment-")).toList()) {
                n += Files.readAllLines(p).size();
            }
            return n;
        }
    }

    @Test
    void eventsSurviveASinkOutageAndAProxyCrashWithAnUnbrokenChain() throws Exception {
        Path audit = dir.resolve("audit.jsonl");
        String url = "http://127.0.0.1:" + sink.getAddress().getPort() + "/audit";
        int port = freePort();
        sinkUp = false;
        Process proxy = launch(args(port, audit, url));
        try {
            statements(port, 20, "before-crash");
            // every event is on disk (fsync'ed) before the crash; none reached the sink
            await().atMost(10, TimeUnit.SECONDS).until(() -> spooledLines() >= 20);
        } finally {
            proxy.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // kill -9: no shutdown hook, no final delivery
        }
        assertThat(received).isEmpty();
        long beforeRestart = spooledLines();

        sinkUp = true;
        int port2 = freePort();
        Process restarted = launch(args(port2, audit, url));
        try {
            statements(port2, 5, "after-restart");
            await().atMost(30, TimeUnit.SECONDS).until(() -> received.size() >= beforeRestart + 5);
        } finally {
            restarted.destroy();
            restarted.waitFor(15, TimeUnit.SECONDS);
        }
        // at-least-once delivery: de-duplicate by seq, then there must be no gap and the chain must hold
        TreeMap<Long, String> bySeq = new TreeMap<>();
        for (String line : received) {
            bySeq.put(HashChain.after(line).lastSeq(), line);
        }
        assertThat(bySeq.firstKey()).isEqualTo(1L);
        assertThat(bySeq.lastKey()).isEqualTo((long) bySeq.size());
        HashChain.Verification remote = HashChain.verify(bySeq.values());
        assertThat(remote.problems()).isEmpty();
        assertThat(remote.chainStarts()).containsExactly(1L); // the restarted proxy continued the same chain
        // every statement of both processes arrived (comments are not part of the literal-free text)
        assertThat(bySeq.values().stream().filter(l -> l.contains("\"statement\":\"select count(*) from audited\""))
                .count()).isEqualTo(25);

        // the local file holds the same chain; verify proves it intact, then catches an edit
        assertThat(verify(audit)).isZero();
        List<String> lines = new ArrayList<>(Files.readAllLines(audit));
        lines.set(3, lines.get(3).replace("\"decision\":\"allow\"", "\"decision\":\"deny\""));
        Files.write(audit, lines);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertThat(verify(audit, out)).isEqualTo(1);
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("TAMPERED: line 4");
    }

    private static int verify(Path file) {
        return verify(file, new ByteArrayOutputStream());
    }

    private static int verify(Path file, ByteArrayOutputStream capture) {
        PrintStream old = System.out;
        System.setOut(new PrintStream(capture, true, StandardCharsets.UTF_8));
        try {
            return new CommandLine(new DbwardenProxyCli()).execute("verify", file.toString());
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void failClosedRefusesStatementsWhileEventsCannotBeRecordedAndRecovers() throws Exception {
        sinkUp = false;
        String url = "http://127.0.0.1:" + sink.getAddress().getPort() + "/audit";
        RunCommand cmd = new RunCommand();
        List<String> a = args(0, dir.resolve("audit.jsonl"), url, "--audit-fail-closed",
                "--audit-spool-max-bytes", "40000");
        new CommandLine(cmd).parseArgs(a.subList(1, a.size()).toArray(String[]::new));
        try (RunCommand.Running r = cmd.start(); Connection c = connect(r.server().port());
             Statement s = c.createStatement();
             // a statement prepared (named, server-side) while events could be recorded
             Connection extended = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.server().port()
                     + "/" + EmbeddedPg.DATABASE + "?sslmode=disable&user=app&prepareThreshold=1");
             PreparedStatement prepared = extended.prepareStatement("SELECT count(*) FROM audited WHERE ? > 0")) {
            prepared.setInt(1, 1);
            prepared.executeQuery().close();
            SQLException refused = null;
            for (int i = 0; i < 2000 && refused == null; i++) {
                try {
                    s.execute("SELECT count(*) FROM audited");
                } catch (SQLException e) {
                    refused = e;
                }
                if (i % 50 == 0) {
                    Thread.sleep(20); // let the writer drain into the spool
                }
            }
            assertThat((Throwable) refused).as("statements must be refused once the spool is full").isNotNull();
            assertThat(refused.getSQLState()).isEqualTo("58030");
            assertThat(refused.getMessage()).contains("audit log cannot record events");
            assertThat(r.auditLog().healthy()).isFalse();
            // executions of the statement prepared before are refused too: none runs unaudited
            assertThatThrownBy(prepared::executeQuery).isInstanceOfSatisfying(SQLException.class, e ->
                    assertThat(e.getSQLState()).isEqualTo("58030"));
            // the connection stays usable; once the sink takes the backlog, statements run again
            sinkUp = true;
            await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().untilAsserted(() ->
                    s.execute("SELECT count(*) FROM audited"));
            await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().untilAsserted(() ->
                    prepared.executeQuery().close());
            assertThat(r.auditLog().delivered()).isGreaterThan(0);
        }
    }

    @Test
    void withoutFailClosedStatementsRunAndLossIsCounted() throws Exception {
        sinkUp = false;
        String url = "http://127.0.0.1:" + sink.getAddress().getPort() + "/audit";
        RunCommand cmd = new RunCommand();
        List<String> a = args(0, dir.resolve("audit.jsonl"), url, "--audit-spool-max-bytes", "20000");
        new CommandLine(cmd).parseArgs(a.subList(1, a.size()).toArray(String[]::new));
        try (RunCommand.Running r = cmd.start(); Connection c = connect(r.server().port());
             Statement s = c.createStatement()) {
            for (int i = 0; i < 300; i++) {
                s.execute("SELECT count(*) FROM audited");
                if (i % 50 == 0) {
                    Thread.sleep(20);
                }
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.auditLog().dropped() > 0);
            assertThat(r.auditLog().written()).isGreaterThanOrEqualTo(r.auditLog().dropped());
        }
    }

    @Test
    void otlpSinkGetsLogRecordsWithTheChainedLine() throws Exception {
        sinkUp = true;
        RunCommand cmd = new RunCommand();
        List<String> a = args(0, dir.resolve("audit.jsonl"),
                "otlp+http://127.0.0.1:" + sink.getAddress().getPort());
        new CommandLine(cmd).parseArgs(a.subList(1, a.size()).toArray(String[]::new));
        try (RunCommand.Running r = cmd.start(); Connection c = connect(r.server().port());
             Statement s = c.createStatement()) {
            s.execute("SELECT count(*) FROM audited /* otlp */");
            await().atMost(10, TimeUnit.SECONDS).until(() -> r.auditLog().delivered() >= 1);
        }
        JsonNode req = new ObjectMapper().readTree(otlpBodies.getFirst());
        JsonNode record = req.at("/resourceLogs/0/scopeLogs/0/logRecords/0");
        assertThat(req.at("/resourceLogs/0/resource/attributes/0/value/stringValue").asText()).isEqualTo("dbwarden-proxy");
        String line = record.at("/body/stringValue").asText();
        assertThat(HashChain.verify(List.of(line)).intact()).isTrue();
        assertThat(record.at("/attributes/0/value/intValue").asText()).isEqualTo("1");
        assertThat(Long.parseLong(record.at("/timeUnixNano").asText())).isGreaterThan(1_700_000_000_000_000_000L);
    }
}
