package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A cancel stops what the server is working on, not the statements pipelined behind it, through the proxy as without
 * it: with a statement running in the server and the next one (own Sync) still awaiting its verdict in the proxy,
 * the running one is cancelled and the next one runs. When nothing runs in the server, the cancel stops the statement
 * the proxy holds.
 */
@ExtendWith(LeakDetection.class)
class PipelinedCancelTest {
    /** Allows everything; statements naming "held" are decided only after a while, as an approval would be. */
    private static final StatementFilter SLOW_FOR_HELD = ctx -> ctx.statement().normalized().contains("held")
            ? CompletableFuture.supplyAsync(Verdict::allow, CompletableFuture.delayedExecutor(1500, TimeUnit.MILLISECONDS))
            : Verdict.allowNow();

    @Test
    void aCancelStopsTheRunningStatementAndNotThePipelinedOneTheProxyHolds() throws Exception {
        try (Session session = new Session()) {
            DataOutputStream out = session.out;
            DataInputStream in = session.in;
            int[] key = session.key;

            // pipelined, each with its own Sync: a long statement, then one the proxy holds for its verdict
            extended(out, "SELECT pg_sleep(5)");
            extended(out, "SELECT 'second' AS held");
            out.flush();
            Thread.sleep(700); // the first runs in the server, the second awaits its verdict in the proxy
            session.cancel();
            long start = System.nanoTime();
            StringBuilder error = new StringBuilder();
            // the first: cancelled by the server (57014) well before its 5 s
            assertThat(read(in, 'Z', key, error)).isEqualTo("12TEZ");
            assertThat(error.toString()).contains("57014");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(4_000);
            // the second: decided, sent and run once its verdict came
            StringBuilder none = new StringBuilder();
            StringBuilder rows = new StringBuilder();
            assertThat(read(in, 'Z', key, none, rows)).isEqualTo("12TDCZ");
            assertThat(none).isEmpty();
            assertThat(rows.toString()).endsWith("second");
        }
    }

    /**
     * The cancel request is taken in on another event loop than the session's, and the session learns of it through
     * a task on its own loop. If that loop is busy meanwhile, it reads the server's answer to the cancelled statement
     * before it runs the task: the task must still see that a statement was running when the request came, and leave
     * the held statement alone (it once cancelled that one too).
     */
    @Test
    void aCancelTheSessionLearnsOfAfterTheCancelledStatementsAnswerStillSparesTheHeldOne() throws Exception {
        Map<String, Thread> loops = new ConcurrentHashMap<>();
        StatementFilter blocker = ctx -> {
            String sql = ctx.statement().normalized();
            if (sql.contains("pg_sleep")) {
                loops.putIfAbsent("session", Thread.currentThread());
            } else if (sql.contains("block_loop")) { // an alias: literals are gone from the normalized text
                loops.putIfAbsent("blocker", Thread.currentThread());
                try {
                    Thread.sleep(1500); // holds the event loop it shares with the session
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return SLOW_FOR_HELD.onStatement(ctx);
        };
        // accepted in turn on two loops: the session (loop 0), an idle session (loop 1), the blocker (loop 0), and
        // the cancel request (loop 1)
        try (Session session = new Session(RunningProxy.start(List.of(blocker), 2));
             Session idle = new Session(session.proxy, false);
             Session blocking = new Session(session.proxy, false)) {
            extended(session.out, "SELECT pg_sleep(5)");
            extended(session.out, "SELECT 'second' AS held");
            session.out.flush();
            Thread.sleep(700); // the first runs in the server, the second awaits its verdict in the proxy
            blocking.out.write(RawPg.message('Q', "SELECT 1 AS block_loop\0"));
            blocking.out.flush();
            Thread.sleep(300); // the session's loop is now busy with the blocker's statement
            session.cancel();
            StringBuilder error = new StringBuilder();
            assertThat(read(session.in, 'Z', session.key, error)).isEqualTo("12TEZ");
            assertThat(error.toString()).contains("57014");
            assertThat(loops.get("blocker")).as("the blocker shares the session's event loop").isNotNull()
                    .isSameAs(loops.get("session"));
            StringBuilder none = new StringBuilder();
            StringBuilder rows = new StringBuilder();
            assertThat(read(session.in, 'Z', session.key, none, rows)).isEqualTo("12TDCZ");
            assertThat(none).isEmpty();
            assertThat(rows.toString()).endsWith("second");
            assertThat(read(blocking.in, 'Z', blocking.key, new StringBuilder())).isEqualTo("TDCZ");
        }
    }

    @Test
    void aCancelStopsTheHeldStatementWhenTheServerOnlyOwesAnswersToMessagesThatRunNothing() throws Exception {
        try (Session session = new Session()) {
            DataOutputStream out = session.out;
            DataInputStream in = session.in;
            int[] key = session.key;
            out.write(RawPg.message('P', "old\0SELECT 1\0\0\0"));
            out.write(RawPg.message('S', ""));
            out.flush();
            assertThat(read(in, 'Z', key, new StringBuilder())).isEqualTo("1Z");

            // as a driver does it: the Close of a statement it dropped goes ahead of the next query, in its batch; the
            // server answers the Close only at Sync, so the proxy owes the client that answer while it holds the query
            out.write(RawPg.message('C', "Sold\0"));
            extended(out, "SELECT 'second' AS held FROM pg_sleep(0)");
            out.flush();
            Thread.sleep(500);
            session.cancel();
            StringBuilder error = new StringBuilder();
            StringBuilder rows = new StringBuilder();
            assertThat(read(in, 'Z', key, error, rows)).isEqualTo("3EZ");
            assertThat(error.toString()).contains("57014").contains("did not run");
            assertThat(rows).isEmpty();

            extended(out, "SELECT 'after' AS label");
            out.flush();
            StringBuilder none = new StringBuilder();
            assertThat(read(in, 'Z', key, none, rows)).isEqualTo("12TDCZ");
            assertThat(none).isEmpty();
            assertThat(rows.toString()).endsWith("after");
        }
    }

    /** A raw-protocol session through a proxy (by default one with {@link #SLOW_FOR_HELD}), past start-up. */
    private static final class Session implements AutoCloseable {
        final RunningProxy proxy;
        /** Whether closing the session stops the proxy. */
        private final boolean ownsProxy;
        final Socket socket;
        final DataOutputStream out;
        final DataInputStream in;
        final int[] key = new int[2];

        Session() throws Exception {
            this(RunningProxy.start(List.of(SLOW_FOR_HELD)));
        }

        Session(RunningProxy proxy) throws Exception {
            this(proxy, true);
        }

        Session(RunningProxy proxy, boolean ownsProxy) throws Exception {
            this.proxy = proxy;
            this.ownsProxy = ownsProxy;
            try {
                socket = new Socket("127.0.0.1", proxy.port());
                socket.setSoTimeout(20_000);
                out = new DataOutputStream(socket.getOutputStream());
                in = new DataInputStream(socket.getInputStream());
                out.write(RawPg.startup());
                out.flush();
                assertThat(read(in, 'Z', key, new StringBuilder())).endsWith("Z");
            } catch (Exception | AssertionError e) {
                if (ownsProxy) {
                    proxy.close();
                }
                throw e;
            }
        }

        /** Sends a CancelRequest with this session's key on a connection of its own. */
        void cancel() throws Exception {
            try (Socket c = new Socket("127.0.0.1", proxy.port())) {
                DataOutputStream co = new DataOutputStream(c.getOutputStream());
                co.writeInt(16);
                co.writeInt(80877102);
                co.writeInt(key[0]);
                co.writeInt(key[1]);
                co.flush();
                // the proxy closes the connection once it has taken the request in
                assertThat(c.getInputStream().read()).isEqualTo(-1);
            }
        }

        @Override
        public void close() throws Exception {
            try {
                socket.close();
            } finally {
                if (ownsProxy) {
                    proxy.close();
                }
            }
        }
    }

    private static void extended(DataOutputStream out, String sql) throws Exception {
        out.write(RawPg.message('P', "\0" + sql + "\0\0\0"));
        out.write(RawPg.message('B', "\0\0\0\0\0\0\0\0"));
        out.write(RawPg.message('D', "P\0"));
        out.write(RawPg.message('E', "\0\0\0\0\0"));
        out.write(RawPg.message('S', ""));
    }

    private static String read(DataInputStream in, char last, int[] key, StringBuilder errors) throws Exception {
        return read(in, last, key, errors, new StringBuilder());
    }

    /** Message types up to {@code last} (start-up chatter and notices skipped); keeps the cancel key, errors, rows. */
    private static String read(DataInputStream in, char last, int[] key, StringBuilder errors, StringBuilder rows)
            throws Exception {
        StringBuilder types = new StringBuilder();
        while (true) {
            char type = (char) in.readByte();
            int len = in.readInt();
            byte[] body = in.readNBytes(len - 4);
            if (type == 'K') {
                key[0] = ((body[0] & 0xff) << 24) | ((body[1] & 0xff) << 16) | ((body[2] & 0xff) << 8) | (body[3] & 0xff);
                key[1] = ((body[4] & 0xff) << 24) | ((body[5] & 0xff) << 16) | ((body[6] & 0xff) << 8) | (body[7] & 0xff);
                continue;
            }
            if (type == 'S' || type == 'R' || type == 'N') {
                continue;
            }
            types.append(type);
            if (type == 'E') {
                errors.append(new String(body, StandardCharsets.UTF_8));
            }
            if (type == 'D') {
                rows.append(new String(body, StandardCharsets.UTF_8));
            }
            if (type == last) {
                return types.toString();
            }
        }
    }
}
