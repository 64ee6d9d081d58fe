package io.dbwarden.proxy;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.describe;
import static io.dbwarden.proxy.testing.RawPg.message;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Under a policy that allows everything, the proxy is transparent: random well-formed sequences of simple and extended
 * protocol messages (named and unnamed statements and portals, row limits, errors inside and outside transactions,
 * COPY in and out, notices, notifications, cursors and SQL prepared statements, function calls, multi-statement
 * queries, pipelining) get the same answers through the proxy as straight from the server: the same message types
 * in the same order, the same rows, command tags, SQLSTATEs and transaction status.
 * Seed and count: {@code -Ddbwarden.fuzz.seed}, {@code -Ddbwarden.fuzz.sessions}.
 */
@ExtendWith(LeakDetection.class)
class DifferentialProtocolTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: everything
              namespace: test
            spec:
              subjects:
                - identity: test/diff
              defaultAction: allow
              allowUnparsedStatements: true
            """;
    private static final String[] SQL = {
            "SELECT 1", "SELECT g, 'v' || g FROM generate_series(1, 3) g", "SELECT 1/0", "SELECT $1::int + 1",
            "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s", "ROLLBACK TO SAVEPOINT s", "SELECT 'a'; SELECT 'b'",
            "CREATE TEMP TABLE IF NOT EXISTS dt (x int)", "INSERT INTO dt VALUES (1), (2)",
            "SELECT x FROM dt ORDER BY x",
            "DELETE FROM dt WHERE x = 1", "DO $$BEGIN RAISE NOTICE 'hello'; END$$", "SHOW TimeZone",
            "COPY (SELECT 1 AS one) TO STDOUT", "", "SELECT 'x' FROM nonexistent_table",
            "SELECT 1; SELECT 1/0; SELECT 2",
            "SET statement_timeout = 0", "SELECT pg_catalog.length($1)",
            "DECLARE c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 5) g", "FETCH 2 FROM c", "CLOSE c",
            "PREPARE q AS SELECT 42", "EXECUTE q", "DEALLOCATE q", "LISTEN ch", "NOTIFY ch, 'payload'"};

    @Test
    void theProxyAnswersLikeTheServer() throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261130L);
        int sessions = Integer.getInteger("dbwarden.fuzz.sessions", 150);
        Path dir = Files.createTempDirectory("differential");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        Random random = new Random(seed);
        int port = EmbeddedPg.get().port();
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/diff", "--upstream-user", "postgres")) {
            for (int i = 0; i < sessions; i++) {
                byte[] messages = script(random);
                List<String> direct = exchange(port, "postgres", messages);
                List<String> proxied = exchange(proxy.server().port(), "app", messages);
                assertThat(proxied).as("seed %d, session %d: answers through the proxy to%s", seed, i,
                        describe(messages)).isEqualTo(direct);
            }
        }
    }

    /** A random sequence of well-formed messages, ending with Sync, ROLLBACK and a final query. */
    private static byte[] script(Random r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int n = 1 + r.nextInt(8);
        boolean batchOpen = false; // extended-protocol messages since the last Sync
        for (int m = 0; m < n; m++) {
            String sql = SQL[r.nextInt(SQL.length)];
            boolean hasParam = sql.contains("$1");
            int kind = r.nextInt(10);
            if (kind == 9 && !batchOpen) {
                // FunctionCall of int4pl(int4, int4) (OID 177), binary arguments and result; an int overflow errs
                int a = r.nextBoolean() ? r.nextInt(100) : Integer.MAX_VALUE;
                out.writeBytes(message('F', concat(ints(177), shorts(1), shorts(1), shorts(2), ints(4), ints(a),
                        ints(4), ints(1), shorts(1))));
                continue;
            }
            batchOpen |= kind >= 2 && kind <= 6;
            if (kind == 7) {
                batchOpen = false;
            }
            switch (kind) {
                case 0 -> out.writeBytes(message('Q', cstrings(hasParam ? sql.replace("$1", "7") : sql)));
                case 1 -> {
                    // COPY IN: rows, then done or fail (after a COPY that could not start, the server ignores them)
                    out.writeBytes(message('Q', cstrings("COPY dt FROM STDIN")));
                    out.writeBytes(message('d', (r.nextInt(50) + "\n" + r.nextInt(50) + "\n")
                            .getBytes(StandardCharsets.US_ASCII)));
                    out.writeBytes(r.nextInt(4) == 0 ? message('f', cstrings("client gave up"))
                            : message('c', new byte[0]));
                }
                case 2, 3 -> {
                    // Parse + Bind + Describe portal + Execute (a driver's statement), sometimes with a row limit
                    String statement = r.nextBoolean() ? "" : "s" + r.nextInt(2);
                    String portal = r.nextInt(3) == 0 ? "p" + r.nextInt(2) : "";
                    if (sql.contains(";")) {
                        sql = "SELECT 3"; // one statement per Parse
                    }
                    out.writeBytes(message('P', concat(cstrings(statement, sql), shorts(0))));
                    out.writeBytes(bind(portal, statement, hasParam));
                    if (r.nextBoolean()) {
                        out.writeBytes(message('D', concat(new byte[] {'P'}, cstrings(portal))));
                    }
                    out.writeBytes(message('E', concat(cstrings(portal), ints(r.nextInt(3) == 0 ? 1 : 0))));
                    if (r.nextBoolean()) {
                        out.writeBytes(message('S', new byte[0]));
                        batchOpen = false;
                    }
                }
                case 4 -> out.writeBytes(bind("p" + r.nextInt(2), "s" + r.nextInt(2), r.nextBoolean()));
                case 5 -> out.writeBytes(message('E', concat(cstrings("p" + r.nextInt(2)), ints(r.nextInt(2)))));
                case 6 -> out.writeBytes(message(r.nextBoolean() ? 'D' : 'C',
                        concat(new byte[] {(byte) (r.nextBoolean() ? 'S' : 'P')}, cstrings("s" + r.nextInt(2)))));
                case 7 -> out.writeBytes(message('S', new byte[0]));
                case 8 -> out.writeBytes(message('H', new byte[0]));
                default -> {
                    // a function call inside an unsynced batch: refused by the proxy on purpose, not compared
                }
            }
        }
        out.writeBytes(message('S', new byte[0]));
        out.writeBytes(message('Q', cstrings("ROLLBACK")));
        out.writeBytes(message('Q', cstrings("SELECT 'end'")));
        return out.toByteArray();
    }

    private static byte[] bind(String portal, String statement, boolean param) {
        byte[] value = "5".getBytes(StandardCharsets.US_ASCII);
        byte[] params = param ? concat(shorts(1), ints(value.length), value) : shorts(0);
        return message('B', concat(cstrings(portal, statement), shorts(0), params, shorts(0)));
    }

    /**
     * Sends the start-up and the script on a fresh connection and returns what answers it, after the start-up:
     * message types with what must match (rows, tags, SQLSTATEs, transaction status), up to the final query's
     * ReadyForQuery.
     */
    private static List<String> exchange(int port, String user, byte[] script) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(15_000);
            OutputStream out = socket.getOutputStream();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            out.write(RawPg.startup(user));
            out.flush();
            while (read(in).charAt(0) != 'Z') {
                // start-up: parameters and keys differ by design
            }
            out.write(script);
            out.flush();
            List<String> answers = new ArrayList<>();
            while (true) {
                String m = read(in);
                answers.add(m);
                if (m.equals("D:end")) {
                    answers.add(read(in)); // CommandComplete
                    answers.add(read(in)); // ReadyForQuery
                    return answers;
                }
            }
        }
    }

    /** One message as compared: its type, and for the types whose content must match, that content. */
    private static String read(DataInputStream in) throws IOException {
        char type = (char) in.readUnsignedByte();
        byte[] body = in.readNBytes(in.readInt() - 4);
        return switch (type) {
            case 'D' -> "D:" + dataRow(body);
            case 'V' -> "V:" + java.util.HexFormat.of().formatHex(body);
            case 'C', 'Z' -> type + ":" + new String(body, StandardCharsets.UTF_8).replace("\0", "");
            case 'E' -> "E:" + field(body, 'C');
            case 'T' -> "T:" + rowDescription(body);
            case 'd' -> "d:" + new String(body, StandardCharsets.UTF_8);
            default -> String.valueOf(type);
        };
    }

    /** Column names, type OIDs and formats (table OIDs differ between sessions for temporary tables). */
    private static String rowDescription(byte[] body) {
        ByteBuffer b = ByteBuffer.wrap(body);
        StringBuilder s = new StringBuilder();
        int n = b.getShort();
        for (int c = 0; c < n; c++) {
            int start = b.position();
            while (b.get() != 0) {
                // column name
            }
            s.append(new String(body, start, b.position() - start - 1, StandardCharsets.UTF_8));
            b.getInt();
            b.getShort();
            s.append(' ').append(b.getInt());
            b.getShort();
            b.getInt();
            s.append(' ').append(b.getShort()).append(';');
        }
        return s.toString();
    }

    private static String dataRow(byte[] body) {
        ByteBuffer b = ByteBuffer.wrap(body);
        StringBuilder s = new StringBuilder();
        int n = b.getShort();
        for (int c = 0; c < n; c++) {
            int len = b.getInt();
            if (c > 0) {
                s.append('|');
            }
            if (len < 0) {
                s.append("NULL");
            } else {
                byte[] v = new byte[len];
                b.get(v);
                s.append(new String(v, StandardCharsets.UTF_8));
            }
        }
        return s.toString();
    }

    private static String field(byte[] body, char code) {
        int i = 0;
        while (i < body.length && body[i] != 0) {
            int end = i + 1;
            while (body[end] != 0) {
                end++;
            }
            if (body[i] == code) {
                return new String(body, i + 1, end - i - 1, StandardCharsets.UTF_8);
            }
            i = end + 1;
        }
        return "?";
    }

    private static byte[] shorts(int v) {
        return ByteBuffer.allocate(2).putShort((short) v).array();
    }

    private static byte[] ints(int v) {
        return ByteBuffer.allocate(4).putInt(v).array();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        return b.toByteArray();
    }
}
