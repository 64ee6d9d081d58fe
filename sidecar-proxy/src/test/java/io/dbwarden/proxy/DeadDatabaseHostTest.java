package io.dbwarden.proxy;

import io.dbwarden.proxy.cli.DbwardenProxyCli;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.dbwarden.proxy.testing.FakeServer.readUntilEnd;
import static io.dbwarden.proxy.testing.FakeServer.readUntilReady;
import static io.dbwarden.proxy.testing.FakeServer.startSession;
import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.message;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The database host vanishes without closing its connections (a failover, a network partition): its packets simply
 * stop. The database is a scripted server in a network namespace of its own, behind a veth link that the test takes
 * down. With short keepalive settings the proxy notices within seconds on an idle session (keepalive probes go
 * unanswered), and with the user timeout set on one whose query was never acknowledged (TCP_USER_TIMEOUT); each client
 * gets FATAL 08006 instead of waiting for hours. Needs root, iproute2 (network namespaces) and python3; skipped where
 * they are not available.
 */
@ExtendWith(LeakDetection.class)
class DeadDatabaseHostTest {
    private static final String SERVER = """
            import socket, struct, sys, threading
            greeting = bytes.fromhex(sys.argv[2])
            def read(c, n):
                b = b''
                while len(b) < n:
                    part = c.recv(n - len(b))
                    if not part:
                        raise EOFError()
                    b += part
                return b
            def serve(c):
                try:
                    n = struct.unpack('!I', read(c, 4))[0]
                    read(c, n - 4)
                    c.sendall(greeting)
                    while True:
                        t = read(c, 1)
                        n = struct.unpack('!I', read(c, 4))[0]
                        read(c, n - 4)
                        if t == b'Q':
                            c.sendall(b'C' + struct.pack('!I', 13) + b'SELECT 1\\0'
                                      + b'Z' + struct.pack('!I', 5) + b'I')
                        elif t == b'X':
                            return
                except EOFError:
                    pass
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((sys.argv[1], 5432))
            s.listen(16)
            print('listening', flush=True)
            while True:
                c, _ = s.accept()
                threading.Thread(target=serve, args=(c,), daemon=True).start()
            """;

    @TempDir
    Path dir;
    private final String ns = "dbw" + ProcessHandle.current().pid();
    private final String hostSide = "dbwh" + ProcessHandle.current().pid() % 100_000;
    private final String peerSide = "dbwp" + ProcessHandle.current().pid() % 100_000;
    /** A /30 of its own per run, so that what an interrupted earlier run left cannot route this one's packets. */
    private final String subnet = "10.201." + (20 + ProcessHandle.current().pid() % 200) + ".";
    private final String database = subnet + "2";
    private final List<Process> processes = new ArrayList<>();
    private boolean namespaceMade;

    @BeforeEach
    void makeTheDatabaseHost() throws Exception {
        assumeTrue(run("ip", "netns", "add", ns) == 0, "network namespaces are not available here (needs root)");
        namespaceMade = true;
        assertThat(run("ip", "link", "add", hostSide, "type", "veth", "peer", "name", peerSide)).isZero();
        assertThat(run("ip", "link", "set", peerSide, "netns", ns)).isZero();
        assertThat(run("ip", "addr", "add", subnet + "1/30", "dev", hostSide)).isZero();
        assertThat(run("ip", "link", "set", hostSide, "up")).isZero();
        assertThat(run("ip", "netns", "exec", ns, "ip", "addr", "add", subnet + "2/30", "dev", peerSide)).isZero();
        assertThat(run("ip", "netns", "exec", ns, "ip", "link", "set", peerSide, "up")).isZero();
        Path script = Files.writeString(dir.resolve("server.py"), SERVER);
        String greeting = HexFormat.of().formatHex(RawPg.serverGreeting(4242, 7).toByteArray());
        Process server = start(dir.resolve("server.log"), "ip", "netns", "exec", ns, "python3", script.toString(),
                database, greeting);
        await().atMost(15, TimeUnit.SECONDS).until(() -> Files.readString(dir.resolve("server.log"))
                .contains("listening") || !server.isAlive());
        assumeTrue(server.isAlive(), "python3 is not available here");
        // the link is usable once a connection gets through (the first SYNs may go before the veth pair is up)
        await().atMost(15, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
            try (Socket probe = new Socket()) {
                probe.connect(new java.net.InetSocketAddress(database, 5432), 1_000);
            }
            return true;
        });
    }

    @AfterEach
    void removeIt() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        if (namespaceMade) {
            run("ip", "netns", "del", ns); // takes the veth pair with it, once nothing runs in it any more
            run("ip", "link", "del", hostSide); // in case something still did
        }
    }

    @Test
    void sessionsOnAVanishedDatabaseHostEndWithinSecondsIdleOrWaiting() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path audit = dir.resolve("audit.jsonl");
        start(dir.resolve("proxy.log"), Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Ddbwarden.tcp.keepalive-idle-seconds=1", "-Ddbwarden.tcp.keepalive-interval-seconds=1",
                "-Ddbwarden.tcp.keepalive-count=2", "-Ddbwarden.tcp.user-timeout-seconds=3",
                "-cp", System.getProperty("java.class.path"), DbwardenProxyCli.class.getName(), "run",
                "--listen", "127.0.0.1:" + port, "--upstream", database + ":5432", "--upstream-user", "app",
                "--upstream-tls", "disable", "--no-policy", "--admin-listen", "none", "--audit", audit.toString(),
                "--warm-up-seconds", "0");
        await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
            new Socket("127.0.0.1", port).close();
            return true;
        });
        try (Socket idle = new Socket("127.0.0.1", port); Socket waiting = new Socket("127.0.0.1", port)) {
            DataInputStream idleIn;
            DataInputStream waitingIn;
            try {
                idleIn = session(idle);
                waitingIn = session(waiting);
            } catch (IOException e) {
                throw new AssertionError("proxy: " + Files.readString(dir.resolve("proxy.log")) + "\nserver: "
                        + Files.readString(dir.resolve("server.log")), e);
            }
            long down = System.nanoTime();
            assertThat(run("ip", "netns", "exec", ns, "ip", "link", "set", peerSide, "down")).isZero();
            waiting.getOutputStream().write(message('Q', cstrings("SELECT 1 AS never_acknowledged")));
            waiting.getOutputStream().flush();
            for (DataInputStream in : List.of(idleIn, waitingIn)) {
                List<byte[]> end = readUntilEnd(in);
                assertThat(end).hasSize(1);
                assertThat(new String(end.get(0), StandardCharsets.UTF_8)).contains("FATAL").contains("08006")
                        .contains("the database closed the connection unexpectedly");
            }
            long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - down);
            assertThat(seconds).as("noticed after the probes, not the kernel's hours").isLessThan(20);
        }
        await().atMost(10, TimeUnit.SECONDS).until(() -> Files.readString(audit).contains("never_acknowledged"));
        String line = Files.readAllLines(audit).stream().filter(l -> l.contains("never_acknowledged"))
                .findFirst().orElseThrow();
        assertThat(line).contains("\"executed\":true").contains("\"errorCode\":\"08006\"");
    }

    /** A session through the proxy that has run one query, its socket read with a timeout above the test's bound. */
    private static DataInputStream session(Socket s) throws IOException {
        DataInputStream in = startSession(s);
        s.setSoTimeout(30_000);
        s.getOutputStream().write(message('Q', cstrings("SELECT 1")));
        s.getOutputStream().flush();
        assertThat(readUntilReady(in)).extracting(m -> (char) m[0]).containsExactly('C', 'Z');
        return in;
    }

    private Process start(Path log, String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        return p;
    }

    /** The command's exit status; -1 when it cannot be started (not installed) or does not end in 10 s. */
    private static int run(String... command) throws InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            return -1;
        }
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
