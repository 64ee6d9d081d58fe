package io.dbwarden.proxy;

import io.dbwarden.proxy.audit.HashChain;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Mutated and random client messages after a valid start-up, session after session, against one proxy in front of
 * the real server. Whatever arrives, a session either answers a final query correctly or is closed (never hangs once
 * the client stops sending); nothing leaks; no write to the table gets past a policy that allows only SELECT; its
 * masked column never reaches the client unmasked; the audit chain stays intact; and the proxy goes on serving new
 * sessions. The seed is fixed (override with
 * {@code -Ddbwarden.fuzz.seed=N}, {@code -Ddbwarden.fuzz.sessions=N}) so a failure can be replayed.
 */
@ExtendWith(LeakDetection.class)
class ProtocolFuzzTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: readers
              namespace: test
            spec:
              subjects:
                - identity: test/fuzz
              defaultAction: deny
              rules:
                - name: reads
                  match:
                    statements: [SELECT]
                  action: allow
                - name: housekeeping
                  match:
                    statements: [TRANSACTION, SET, SHOW]
                  action: allow
              masking:
                columns:
                  - name: values
                    columns: ["public.fuzz_guard.v"]
                    strategy: partial
                detectors:
                  - type: creditCard
                    strategy: partial
            """;

    private static final String[] SQL = {
            "SELECT 1", "SELECT id, v FROM fuzz_guard ORDER BY id", "DELETE FROM fuzz_guard",
            "UPDATE fuzz_guard SET v = 'x'", "DROP TABLE fuzz_guard", "BEGIN", "COMMIT", "ROLLBACK",
            "SELECT 1; DELETE FROM fuzz_guard", "COPY fuzz_guard FROM STDIN", "COPY fuzz_guard TO STDOUT",
            "SELECT $1::int", "SELECT pg_sleep(0.01)", "SET statement_timeout = 1000", "SELECT 'unterminated",
            "TRUNCATE fuzz_guard", "INSERT INTO fuzz_guard VALUES (99, 'x')", "SELECT lo_creat(-1)", ""};
    private static final char[] TYPES = {'Q', 'P', 'B', 'D', 'E', 'C', 'S', 'H', 'F', 'd', 'c', 'f'};
    /** fuzz_guard.v holds "row N", masked for this identity: the whole value must never reach the client. */
    private static final java.util.regex.Pattern UNMASKED = java.util.regex.Pattern.compile("row \\d");

    @Test
    void randomAndMutatedMessagesNeitherBreakTheProxyNorGetWritesThrough() throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261130L);
        int sessions = Integer.getInteger("dbwarden.fuzz.sessions", 250);
        String before;
        long largeObjectsBefore;
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS fuzz_guard");
            s.execute("CREATE TABLE fuzz_guard (id int PRIMARY KEY, v text)");
            s.execute("INSERT INTO fuzz_guard SELECT g, 'row ' || g FROM generate_series(1, 20) g");
            s.execute("GRANT ALL ON fuzz_guard TO PUBLIC");
            before = contents(s);
            try (ResultSet rs = s.executeQuery("SELECT coalesce(max(oid::text::bigint), 0) FROM "
                    + "pg_catalog.pg_largeobject_metadata")) {
                rs.next();
                largeObjectsBefore = rs.getLong(1);
            }
        }
        Path dir = Files.createTempDirectory("protocol-fuzz");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        Random random = new Random(seed);
        int answered = 0;
        int closed = 0;
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/fuzz", "--max-message-bytes", "65536")) {
            for (int i = 0; i < sessions; i++) {
                Outcome o = session(proxy.server().port(), random, "seed " + seed + ", session " + i);
                if (o == Outcome.ANSWERED) {
                    answered++;
                } else {
                    closed++;
                }
            }
            try (Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT 40 + 2")) {
                rs.next();
                assertThat(rs.getInt(1)).as("the proxy still serves new sessions").isEqualTo(42);
            }
        }
        assertThat(answered).as("sessions that stayed usable").isPositive();
        assertThat(closed).as("sessions closed on bad input").isPositive();
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            assertThat(contents(s)).as("no write got through the policy").isEqualTo(before);
            s.execute("DROP TABLE fuzz_guard");
            // SELECT lo_creat(...) is a SELECT the policy allows (and lo_creat by function call too): clean up
            s.execute("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata"
                    + " WHERE oid::text::bigint > " + largeObjectsBefore);
        }
        Path audit = dir.resolve("audit.jsonl");
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> {
            HashChain.Verification v = HashChain.verify(Files.readAllLines(audit));
            assertThat(v.problems()).isEmpty();
            assertThat(v.events()).isPositive();
        });
        // literals stay out of the audit (the server's own error texts have them replaced by "?")
        assertThat(Files.readString(audit)).doesNotContain("'row ").doesNotContain("'unterminated");
    }

    @Test
    void randomStartUpPacketsEitherStartASessionOrCloseTheConnection() throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261130L);
        int sessions = Integer.getInteger("dbwarden.fuzz.sessions", 250);
        Path dir = Files.createTempDirectory("startup-fuzz");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        Random random = new Random(seed);
        int started = 0;
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/fuzz")) {
            for (int i = 0; i < sessions; i++) {
                byte[] packet = mutate(startupPacket(random), random);
                ByteBuffer view = ByteBuffer.wrap(packet);
                int declared = packet.length >= 4 ? view.getInt(0) : -1;
                // a packet shorter than its length word: the proxy rightly waits for the rest
                boolean incomplete = packet.length < 8
                        || (declared >= 8 && declared <= 10_000 && declared > packet.length);
                // SSLRequest / GSSENCRequest: one byte answers it, then the proxy waits for the next packet
                boolean oneByteAnswer = !incomplete && declared == 8
                        && (view.getInt(4) == 80877103 || view.getInt(4) == 80877104);
                try (Socket socket = new Socket("127.0.0.1", proxy.server().port())) {
                    socket.setSoTimeout(15_000);
                    OutputStream out = socket.getOutputStream();
                    out.write(packet);
                    out.flush();
                    java.io.InputStream in = socket.getInputStream();
                    ByteArrayOutputStream received = new ByteArrayOutputStream();
                    try {
                        if (oneByteAnswer) {
                            received.write(in.read());
                        } else if (!incomplete) {
                            for (int b = in.read(); b >= 0; b = in.read()) {
                                received.write(b);
                                if (endsWithReady(received)) {
                                    break;
                                }
                            }
                            if (endsWithReady(received)) {
                                started++;
                            }
                        }
                        socket.shutdownOutput(); // nothing more comes: the session must end
                        while (in.read() >= 0) {
                            // drain until the proxy closes
                        }
                    } catch (SocketException reset) {
                        // closed
                    } catch (SocketTimeoutException e) {
                        throw new AssertionError("seed " + seed + ", packet " + i + ": the proxy neither answered nor "
                                + "closed the connection after " + java.util.HexFormat.of().formatHex(packet)
                                + ", having sent " + java.util.HexFormat.of().formatHex(received.toByteArray()));
                    }
                }
            }
            try (Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.next()).as("the proxy still serves new sessions").isTrue();
            }
        }
        assertThat(started).as("well-formed start-ups among the packets").isPositive();
    }

    private static boolean endsWithReady(ByteArrayOutputStream received) {
        byte[] b = received.toByteArray();
        int n = b.length;
        return n >= 6 && b[n - 6] == 'Z' && b[n - 5] == 0 && b[n - 4] == 0 && b[n - 3] == 0 && b[n - 2] == 5
                && b[n - 1] == 'I';
    }

    /** A start-up packet: StartupMessage (mostly), SSLRequest, GSSENCRequest, CancelRequest or another code. */
    private static byte[] startupPacket(Random r) {
        ByteBuffer b = ByteBuffer.allocate(512);
        b.putInt(0);
        switch (r.nextInt(8)) {
            case 0 -> b.putInt(80877103);
            case 1 -> b.putInt(80877104);
            case 2 -> b.putInt(80877102).putInt(r.nextInt()).putInt(r.nextInt());
            case 3 -> b.putInt(r.nextInt());
            default -> {
                b.putInt(r.nextInt(4) == 0 ? 196608 + r.nextInt(4) : 196608);
                String[] names = {"user", "database", "application_name", "options", "replication", "_pq_.x",
                        "client_encoding", "search_path"};
                int n = r.nextInt(5);
                cstring(b, "user");
                cstring(b, "app");
                for (int k = 0; k < n; k++) {
                    cstring(b, names[r.nextInt(names.length)]);
                    cstring(b, r.nextBoolean() ? EmbeddedPg.DATABASE : "x" + r.nextInt(9));
                }
                b.put((byte) 0);
            }
        }
        b.putInt(0, b.position());
        byte[] packet = new byte[b.position()];
        b.flip().get(packet);
        return packet;
    }

    private enum Outcome { ANSWERED, CLOSED }

    /**
     * One session: start-up, a few random or mutated messages, then Sync, ROLLBACK and a query whose answer proves
     * the session usable. When a length word makes those closing messages part of another (or claims bytes never
     * sent), the proxy rightly waits, so the client stops sending and the proxy must close the session; otherwise it
     * must answer or close.
     */
    private static Outcome session(int port, Random random, String what) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(15_000);
            OutputStream out = socket.getOutputStream();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            // half the sessions send their messages right behind the start-up, before the proxy is connected upstream
            boolean pipelined = random.nextBoolean();
            if (!pipelined) {
                out.write(RawPg.startup());
                out.flush();
                if (!readUntilReady(in, null)) {
                    throw new AssertionError(what + ": start-up failed");
                }
            }
            ByteArrayOutputStream fuzz = new ByteArrayOutputStream();
            int n = 1 + random.nextInt(6);
            for (int m = 0; m < n; m++) {
                fuzz.writeBytes(mutate(message(random), random));
            }
            int trailer = fuzz.size();
            fuzz.writeBytes(RawPg.message('S', ""));
            fuzz.writeBytes(RawPg.message('Q', "ROLLBACK\0")); // the fuzz may have left a transaction open
            fuzz.writeBytes(RawPg.message('Q', "SELECT 'alive'\0"));
            byte[] bytes = fuzz.toByteArray();
            try {
                if (pipelined) {
                    out.write(RawPg.startup());
                }
                out.write(bytes);
                out.flush();
                if (!framedUpTo(bytes, trailer)) {
                    // a length word swallowed the closing messages (or claims bytes never sent): no answer is owed,
                    // so the client stops sending and the session must end
                    socket.shutdownOutput();
                }
                StringBuilder text = new StringBuilder();
                // answers to the fuzz (errors included) come first; the last ReadyForQuery follows 'alive'
                for (int rounds = 0; rounds < 20; rounds++) {
                    boolean open = readUntilReady(in, text);
                    if (UNMASKED.matcher(text).find()) {
                        throw new AssertionError(what + ": a masked value reached the client after "
                                + RawPg.describe(bytes));
                    }
                    if (!open) {
                        return Outcome.CLOSED;
                    }
                    if (text.indexOf("alive") >= 0) {
                        return Outcome.ANSWERED;
                    }
                }
                throw new AssertionError(what + ": no answer to the final query after 20 ReadyForQuery, after "
                        + RawPg.describe(bytes));
            } catch (SocketTimeoutException e) {
                throw new AssertionError(what + ": the proxy neither answered nor closed the session after "
                        + RawPg.describe(bytes));
            } catch (SocketException reset) {
                return Outcome.CLOSED;
            }
        }
    }

    /** Whether the messages' length words, all plausible, lead exactly to offset {@code at}. */
    private static boolean framedUpTo(byte[] bytes, int at) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        int i = 0;
        while (i < at) {
            if (i + 5 > bytes.length) {
                return false;
            }
            int length = b.getInt(i + 1);
            if (length < 4 || length > 65_536) {
                return false;
            }
            i += 1 + length;
        }
        return i == at;
    }

    /** Messages up to the next ReadyForQuery; false when the connection ends first. Text of 'D' and 'E' kept. */
    private static boolean readUntilReady(DataInputStream in, StringBuilder text) throws IOException {
        try {
            while (true) {
                char type = (char) in.readUnsignedByte();
                int length = in.readInt();
                if (length < 4 || length > (1 << 24)) {
                    throw new AssertionError("the proxy sent a malformed message: type " + type + " length " + length);
                }
                byte[] body = in.readNBytes(length - 4);
                if (text != null && (type == 'D' || type == 'E')) {
                    text.append(new String(body, StandardCharsets.UTF_8));
                }
                if (type == 'Z') {
                    return true;
                }
            }
        } catch (EOFException | SocketException e) {
            return false;
        }
    }

    /** A well-formed message of a random type, with random but plausible content. */
    private static byte[] message(Random r) {
        char type = r.nextInt(10) == 0 ? (char) r.nextInt(128) : TYPES[r.nextInt(TYPES.length)];
        ByteBuffer b = ByteBuffer.allocate(4096);
        String sql = r.nextBoolean() ? SQL[r.nextInt(SQL.length)] : disguisedWrite(r);
        switch (type) {
            case 'Q' -> cstring(b, sql);
            case 'P' -> {
                cstring(b, r.nextBoolean() ? "" : "s" + r.nextInt(3));
                cstring(b, sql);
                int params = r.nextInt(3);
                b.putShort((short) params);
                for (int p = 0; p < params; p++) {
                    b.putInt(r.nextBoolean() ? 23 : r.nextInt());
                }
            }
            case 'B' -> {
                cstring(b, r.nextBoolean() ? "" : "p" + r.nextInt(3));
                cstring(b, r.nextBoolean() ? "" : "s" + r.nextInt(3));
                b.putShort((short) r.nextInt(2)).putShort((short) 0);
                int params = r.nextInt(3);
                b.putShort((short) params);
                for (int p = 0; p < params; p++) {
                    byte[] v = Integer.toString(r.nextInt(100)).getBytes(StandardCharsets.US_ASCII);
                    b.putInt(v.length).put(v);
                }
                b.putShort((short) 0);
            }
            case 'D', 'C' -> {
                b.put((byte) (r.nextBoolean() ? 'S' : 'P'));
                cstring(b, r.nextBoolean() ? "" : "s" + r.nextInt(3));
            }
            case 'E' -> {
                cstring(b, r.nextBoolean() ? "" : "p" + r.nextInt(3));
                b.putInt(r.nextInt(3));
            }
            case 'F' -> {
                b.putInt(r.nextBoolean() ? 952 + r.nextInt(50) : r.nextInt());
                b.putShort((short) 1).putShort((short) 1);
                int args = r.nextInt(3);
                b.putShort((short) args);
                for (int a = 0; a < args; a++) {
                    b.putInt(4).putInt(r.nextInt());
                }
                b.putShort((short) 1);
            }
            case 'd' -> b.put("1\tcopied\n".getBytes(StandardCharsets.US_ASCII));
            case 'f' -> cstring(b, "client gave up");
            case 'S', 'H', 'c' -> {
            }
            default -> {
                byte[] junk = new byte[r.nextInt(40)];
                r.nextBytes(junk);
                b.put(junk);
            }
        }
        byte[] body = new byte[b.position()];
        b.flip().get(body);
        return RawPg.message(type, body);
    }

    /** Writes to fuzz_guard the server would run, in shapes a classifier might miss. */
    private static final String[] WRITES = {
            "DELETE FROM fuzz_guard WHERE id = 1", "UPDATE fuzz_guard SET v = 'x' WHERE id > 0",
            "INSERT INTO fuzz_guard SELECT 100 + g, 'x' FROM generate_series(1, 3) g", "TRUNCATE fuzz_guard",
            "WITH d AS (DELETE FROM fuzz_guard RETURNING id) SELECT count(*) FROM d",
            "WITH u AS (UPDATE fuzz_guard SET v = 'x' RETURNING id) SELECT * FROM u",
            "EXPLAIN ANALYZE DELETE FROM fuzz_guard", "PREPARE fz AS DELETE FROM fuzz_guard; EXECUTE fz",
            "DO $$BEGIN DELETE FROM fuzz_guard; END$$", "DO $x$ BEGIN EXECUTE 'DELETE FROM fuzz_guard'; END $x$",
            "MERGE INTO fuzz_guard t USING (SELECT 1 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE",
            "BEGIN; DELETE FROM fuzz_guard; COMMIT", "SELECT 1; UPDATE fuzz_guard SET v = 'x' WHERE true",
            "DELETE FROM public.fuzz_guard WHERE true", "DELETE FROM \"fuzz_guard\" WHERE id < 5",
            "DELETE FROM U&\"fuzz\\005fguard\" WHERE id = 2", "ALTER TABLE fuzz_guard RENAME COLUMN v TO w",
            "CREATE TABLE fuzz_other AS SELECT * FROM fuzz_guard", "DROP TABLE fuzz_guard",
            "SELECT set_config('search_path', 'pg_temp', false)",
            "CREATE FUNCTION fz() RETURNS void LANGUAGE sql AS 'DELETE FROM fuzz_guard'; SELECT fz()",
            "COPY fuzz_guard (id, v) FROM PROGRAM 'echo 200,x' WITH (FORMAT csv)",
            "SELECT * FROM fuzz_guard FOR UPDATE; DELETE FROM fuzz_guard WHERE id = 3",
            "DECLARE c CURSOR FOR DELETE FROM fuzz_guard RETURNING id", "CALL fz()"};
    private static final String[] SEPARATORS = {" ", "\n", "\t", "/**/", " /* c /* nested */ */ ", " --c\n", "  "};

    /** One of {@link #WRITES} with random letter case and comments or whitespace between its words. */
    private static String disguisedWrite(Random r) {
        String[] words = WRITES[r.nextInt(WRITES.length)].split(" ");
        StringBuilder sql = new StringBuilder(r.nextInt(4) == 0 ? "/* lead */ " : "");
        for (int w = 0; w < words.length; w++) {
            if (w > 0) {
                sql.append(SEPARATORS[r.nextInt(SEPARATORS.length)]);
            }
            String word = words[w];
            boolean literal = word.contains("'") || word.contains("\"") || word.contains("$");
            sql.append(literal ? word : r.nextBoolean() ? word.toUpperCase(java.util.Locale.ROOT) : word);
        }
        return sql.toString();
    }

    /** Usually unchanged; else a flipped byte, a wrong length word, a cut, or junk appended. */
    private static byte[] mutate(byte[] m, Random r) {
        byte[] out = m.clone();
        switch (r.nextInt(8)) {
            case 0 -> out[r.nextInt(out.length)] ^= (byte) (1 << r.nextInt(8));
            case 1 -> ByteBuffer.wrap(out).putInt(1, r.nextInt(3) == 0 ? r.nextInt() : 4 + r.nextInt(out.length));
            case 2 -> out = java.util.Arrays.copyOf(out, 5 + r.nextInt(Math.max(1, out.length - 5)));
            case 3 -> {
                byte[] junk = new byte[1 + r.nextInt(16)];
                r.nextBytes(junk);
                out = ByteBuffer.allocate(out.length + junk.length).put(out).put(junk).array();
            }
            default -> {
            }
        }
        return out;
    }

    private static void cstring(ByteBuffer b, String s) {
        b.put(s.getBytes(StandardCharsets.UTF_8)).put((byte) 0);
    }

    private static String contents(Statement s) throws java.sql.SQLException {
        List<String> rows = new ArrayList<>();
        try (ResultSet rs = s.executeQuery("SELECT id, v FROM fuzz_guard ORDER BY id")) {
            while (rs.next()) {
                rows.add(rs.getInt(1) + "=" + rs.getString(2));
            }
        }
        return String.join(",", rows);
    }
}
