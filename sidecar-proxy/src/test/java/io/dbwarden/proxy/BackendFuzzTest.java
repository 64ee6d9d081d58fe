package io.dbwarden.proxy;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.message;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A fake database that answers the proxy with random and mutated server messages (a broken server, a middlebox, a
 * version the proxy does not know). Whatever it sends, the client gets well-formed messages and either a
 * ReadyForQuery or the end of the connection once the server goes quiet and hangs up; nothing leaks; the proxy goes on
 * serving new sessions. Results are masked for the identity, so rows go through the result handlers (and the masking
 * catalog's own connection meets the same fake server). Seed and session count: {@code -Ddbwarden.fuzz.seed},
 * {@code -Ddbwarden.fuzz.sessions}.
 */
@ExtendWith(LeakDetection.class)
class BackendFuzzTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: everything
              namespace: test
            spec:
              subjects:
                - identity: test/fuzz
              defaultAction: allow
              masking:
                columns:
                  - name: emails
                    columns: ["*.*.email", "*.*.col"]
                    strategy: partial
                detectors:
                  - type: creditCard
                    strategy: partial
            """;
    private static final char[] TYPES = {'1', '2', '3', 'C', 'D', 'E', 'I', 'N', 'n', 'S', 'T', 'V', 'Z', 'A', 'G',
            'H', 'W', 'c', 'd', 's', 't', 'K', 'R', 'v'};

    @Test
    void randomServerMessagesNeitherHangNorBreakTheProxy() throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261130L);
        int sessions = Integer.getInteger("dbwarden.fuzz.sessions", 150);
        Path dir = Files.createTempDirectory("backend-fuzz");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        Random random = new Random(seed);
        AtomicInteger served = new AtomicInteger();
        ExecutorService pool = Executors.newCachedThreadPool();
        try (ServerSocket fake = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            pool.execute(() -> {
                while (!fake.isClosed()) {
                    try {
                        Socket upstream = fake.accept();
                        long connectionSeed = random.nextLong();
                        pool.execute(() -> serve(upstream, new Random(connectionSeed), served));
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
            int ready = 0;
            try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/fuzz", "--upstream",
                    "127.0.0.1:" + fake.getLocalPort(), "--upstream-password-file", write(dir, "nopw", "unused"))) {
                for (int i = 0; i < sessions; i++) {
                    ready += session(proxy.server().port(), "seed " + seed + ", session " + i);
                }
                assertThat(ready).as("answers that reached the client").isPositive();
                // a well-behaved server after all that: the proxy still serves
                assertThat(session(proxy.server().port(), "final session")).isNotNegative();
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(served.get()).as("upstream connections served").isGreaterThanOrEqualTo(sessions / 2);
    }

    private static String write(Path dir, String name, String content) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, content);
        return p.toString();
    }

    /**
     * One client session: two queries, each answered by a ReadyForQuery or the end of the connection. Returns how
     * many ReadyForQuery came after the start-up; a session the proxy leaves open without answering fails.
     */
    private static int session(int port, String what) throws IOException {
        int ready = 0;
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            out.write(RawPg.startup());
            out.flush();
            if (!readUntilReady(in, what)) {
                return 0; // the fake server's start-up was refused: the proxy closed the session
            }
            for (int q = 0; q < 2; q++) {
                out.write(message('Q', "SELECT " + q + "\0"));
                out.flush();
                if (!readUntilReady(in, what)) {
                    return ready;
                }
                ready++;
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError(what + ": the proxy neither answered nor closed the session");
        } catch (SocketException reset) {
            return ready;
        }
        return ready;
    }

    /** Reads up to a ReadyForQuery (true) or the end of the connection (false); every message must be well-formed. */
    private static boolean readUntilReady(DataInputStream in, String what) throws IOException {
        try {
            while (true) {
                char type = (char) in.readUnsignedByte();
                int length = in.readInt();
                if (length < 4 || length > (1 << 24)) {
                    throw new AssertionError(what + ": malformed message to the client: " + type + " length " + length);
                }
                in.readNBytes(length - 4);
                if (type == 'Z') {
                    return true;
                }
            }
        } catch (EOFException | SocketException e) {
            return false;
        }
    }

    /** The fake server: start-up, then random answers to whatever the proxy sends; hangs up when the proxy is quiet. */
    private static void serve(Socket upstream, Random r, AtomicInteger served) {
        try (upstream) {
            upstream.setSoTimeout(150);
            DataInputStream in = new DataInputStream(upstream.getInputStream());
            OutputStream out = upstream.getOutputStream();
            int startupLength = in.readInt();
            in.readNBytes(startupLength - 4);
            ByteArrayOutputStream hello = io.dbwarden.proxy.testing.RawPg.serverGreeting(4242, r.nextInt());
            if (r.nextInt(4) == 0) { // an answer to nothing: no statement is outstanding yet
                char type = "CZ12nsITDV".charAt(r.nextInt(10));
                byte[] m;
                do {
                    m = randomMessage(r);
                } while (m[0] != type && r.nextInt(8) > 0);
                hello.writeBytes(m);
            }
            out.write(r.nextInt(10) == 0 ? mutate(hello.toByteArray(), r) : hello.toByteArray());
            out.flush();
            served.incrementAndGet();
            byte[] buffer = new byte[65_536];
            while (in.read(buffer) > 0) {
                ByteArrayOutputStream answer = new ByteArrayOutputStream();
                int n = 1 + r.nextInt(6);
                for (int m = 0; m < n; m++) {
                    answer.writeBytes(mutate(randomMessage(r), r));
                }
                if (r.nextInt(3) > 0) {
                    answer.writeBytes(message('Z', new byte[] {(byte) "ITE".charAt(r.nextInt(3))}));
                }
                out.write(answer.toByteArray());
                out.flush();
            }
        } catch (SocketTimeoutException | EOFException | SocketException quiet) {
            // hang up
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] randomMessage(Random r) {
        char type = r.nextInt(12) == 0 ? (char) r.nextInt(128) : TYPES[r.nextInt(TYPES.length)];
        ByteBuffer b = ByteBuffer.allocate(1024);
        switch (type) {
            case 'T' -> {
                b.putShort((short) 1);
                b.put(cstrings("col")).putInt(0).putShort((short) 0).putInt(25).putShort((short) -1)
                        .putInt(-1).putShort((short) 0);
            }
            case 'D' -> {
                b.putShort((short) 1);
                byte[] v = ("value " + r.nextInt(1000)).getBytes(StandardCharsets.UTF_8);
                b.putInt(r.nextInt(8) == 0 ? -1 : v.length);
                if (b.getInt(b.position() - 4) >= 0) {
                    b.put(v);
                }
            }
            case 'C' -> b.put(cstrings(new String[] {new String[] {"SELECT 1", "INSERT 0 5", "UPDATE 7", "BEGIN",
                    "COMMIT", "COPY 3", "FETCH 2", ""}[r.nextInt(8)]}));
            case 'E', 'N' -> b.put(cstrings(new String[] {"SERROR", "C" + new String[] {"42000", "57014", "25P02",
                    "08006", "XX000"}[r.nextInt(5)], "Mfuzz message " + r.nextInt(9), ""}));
            case 'S' -> b.put(cstrings(new String[] {new String[] {"client_encoding", "TimeZone", "application_name",
                    "standard_conforming_strings", "search_path", "in_hot_standby"}[r.nextInt(6)],
                    new String[] {"UTF8", "SQL_ASCII", "off", "on", "x"}[r.nextInt(5)]}));
            case 'A' -> b.putInt(r.nextInt()).put(cstrings("chan", "payload"));
            case 'V' -> b.putInt(4).putInt(r.nextInt());
            case 'G', 'H', 'W' -> b.put((byte) 0).putShort((short) 1).putShort((short) 0);
            case 'd' -> b.put("1\tcopied\n".getBytes(StandardCharsets.US_ASCII));
            case 'K' -> b.putInt(r.nextInt()).putInt(r.nextInt());
            case 'R' -> b.putInt(r.nextInt(13));
            case 'v' -> b.putInt(196608 + r.nextInt(3)).putInt(0);
            case 't' -> b.putShort((short) 1).putInt(23);
            case '1', '2', '3', 'I', 'n', 's', 'c' -> {
            }
            default -> {
                byte[] junk = new byte[r.nextInt(30)];
                r.nextBytes(junk);
                b.put(junk);
            }
        }
        byte[] body = new byte[b.position()];
        b.flip().get(body);
        return message(type, body);
    }

    private static byte[] mutate(byte[] m, Random r) {
        byte[] out = m.clone();
        switch (r.nextInt(10)) {
            case 0 -> out[r.nextInt(out.length)] ^= (byte) (1 << r.nextInt(8));
            case 1 -> ByteBuffer.wrap(out).putInt(1, r.nextInt(3) == 0 ? r.nextInt() : 4 + r.nextInt(out.length));
            case 2 -> out = java.util.Arrays.copyOf(out, 5 + r.nextInt(Math.max(1, out.length - 5)));
            default -> {
            }
        }
        return out;
    }
}
