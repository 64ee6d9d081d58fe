package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.ProxyServer;
import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.audit.AuditLog;
import io.dbwarden.proxy.config.ClientAuthMode;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.FilterChain;
import io.dbwarden.proxy.masking.Catalog;
import io.dbwarden.proxy.masking.MaskingFilter;
import io.dbwarden.proxy.masking.MaskingRules;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;

/**
 * The JIT warm-up of a proxy on the JVM, before it takes its first client. A fresh JVM interprets the statement path
 * and then spends seconds of CPU compiling it while the first clients wait (measured: 8-14 us of compiler CPU per
 * statement during the first tens of seconds under load, on top of 20-40 us of relaying). So before the real
 * listener opens, a second proxy with the same pipeline (event loops, transport, filter chain classes, audit
 * encoding and hash chain) relays simple, extended-protocol and prepared statements between loopback clients and an
 * in-process stand-in for PostgreSQL, until the compiler has nothing left to do or the time limit is reached.
 * <p>
 * Nothing of it reaches the outside: the stand-in server is in this process, the warm-up's audit events go to a log
 * of their own that is discarded (the real log's hash chain never sees them), its metrics to a registry of their
 * own, its policy is a built-in pass-through, with the masking detectors of the policy in force if it has any.
 * A native image has no JIT, and there the warm-up is skipped.
 */
final class WarmUp {
    private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);

    /** Compile time (ms) the JIT may still spend per settle window for the warm-up to count as done. */
    private static final long SETTLED_COMPILE_MILLIS = 30;
    private static final long SETTLE_WINDOW_MILLIS = 1_000;
    private static final long MIN_MILLIS = 1_500;
    private static final int ROUNDS_PER_SESSION = 10;
    private static final String IDENTITY = ProxyConfig.WARM_UP_IDENTITY;
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: warm-up
            spec:
              subjects:
                - identity: "*/*"
              mode: enforce
              defaultAction: allow
              allowUnparsedStatements: true
            """;

    private WarmUp() {
    }

    /**
     * What a warm-up did.
     *
     * @param statements statements relayed, by protocol: simple, extended (unnamed statements), prepared (named)
     * @param masked     values the masking detectors changed (none without detectors)
     * @param settled    the compiler went quiet before the time limit
     * @param stopped    ended early because the proxy is shutting down
     */
    record Outcome(Duration took, long[] statements, long masked, boolean settled, boolean stopped) {
        long total() {
            return statements[0] + statements[1] + statements[2];
        }
    }

    /** Whether this runtime compiles at run time (false in a native image, where a warm-up has nothing to do). */
    static boolean jitAvailable() {
        if (System.getProperty("org.graalvm.nativeimage.imagecode") != null) {
            return false;
        }
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        return jit != null && jit.isCompilationTimeMonitoringSupported();
    }

    /**
     * Warms up for at most {@code limit}, with {@code eventLoops} loops (as the real proxy will use) and two clients
     * per loop, its results masked by the detectors of {@code masking} (the rules in force; column rules need the
     * database's catalog, and the stand-in's columns come from no table), ending early once {@code stop} is true (the
     * proxy was asked to shut down meanwhile). Never fails the start: a warm-up that cannot run is logged and skipped.
     */
    static Outcome runLogged(Duration limit, int eventLoops, MaskingRules masking, BooleanSupplier stop) {
        if (limit.isZero() || !jitAvailable() || stop.getAsBoolean()) {
            return null;
        }
        LOG.info("warming up the statement path (at most {} s; --warm-up-seconds 0 skips it)", limit.toSeconds());
        try {
            Outcome o = run(limit, eventLoops, 2 * eventLoops, masking, stop);
            LOG.info("warm-up {}: seconds={} statements={} (simple={} extended={} prepared={}){} compiler={}",
                    o.stopped() ? "stopped early to shut down" : "done",
                    String.format(Locale.ROOT, "%.1f", o.took().toMillis() / 1000.0), o.total(), o.statements()[0],
                    o.statements()[1], o.statements()[2],
                    masking.detectorsOnly().isEmpty() ? "" : " masked_values=" + o.masked(),
                    o.settled() ? "settled" : "still compiling");
            return o;
        } catch (Exception e) {
            LOG.warn("warm-up skipped: {}", e.toString());
            return null;
        }
    }

    /** Runs a warm-up of at most {@code limit} with {@code clients} loopback clients, or until {@code stop}. */
    static Outcome run(Duration limit, int eventLoops, int clients, MaskingRules masking, BooleanSupplier stop)
            throws Exception {
        long start = System.nanoTime();
        long deadline = start + limit.toNanos();
        List<DatabaseAccessPolicy> policies = PolicyLoader.parse(POLICY, "built-in warm-up policy");
        try (StandIn database = new StandIn();
             OutputStream discard = discard();
             AuditLog audit = AuditLog.open(null, discard, 65_536, null);
             StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 500, 1)) {
            Catalog catalog = new Catalog(sql -> CompletableFuture.failedFuture(
                    new IllegalStateException("no catalog during the warm-up")), 60_000);
            PolicyFilter policy = new PolicyFilter(PolicyEngine.of(policies, IDENTITY), analyzer, 10_000,
                    catalog.graph());
            MaskingFilter maskingFilter = new MaskingFilter(masking.detectorsOnly(), catalog);
            ProxyMetrics metrics = new ProxyMetrics();
            LongAdder masked = new LongAdder();
            ExecutionListener maskedValues = r -> r.resultSummary().values().forEach(masked::add);
            FilterChain chain = new FilterChain(List.of(policy, maskingFilter), List.of(maskingFilter),
                    List.of(maskingFilter, metrics, audit, maskedValues));
            ProxyConfig config = new ProxyConfig(new HostPort("127.0.0.1", 0),
                    new HostPort("127.0.0.1", database.port()), "warmup", "warmup", null, UpstreamTlsMode.DISABLE,
                    null, null, null, false, ClientAuthMode.TRUST, null, false, IDENTITY, 1 << 20,
                    Duration.ofSeconds(10), Duration.ofSeconds(30));
            try (ProxyServer proxy = ProxyServer.start(LiveConfig.fixed(config), chain, metrics,
                    () -> policy.engine().sessionSettings(), eventLoops)) {
                AtomicBoolean done = new AtomicBoolean();
                AtomicReference<Throwable> failure = new AtomicReference<>();
                long[][] counts = new long[clients][3];
                List<Thread> threads = new ArrayList<>();
                for (int i = 0; i < clients; i++) {
                    long[] mine = counts[i];
                    int seed = i;
                    threads.add(Thread.ofPlatform().daemon().name("dbwarden-warm-up-" + i).start(() -> {
                        try {
                            // sessions come and go as they do behind pools and batch jobs: the connection set-up
                            // and accept paths are part of what a client meets
                            for (long n = seed * 1_000_003L; !done.get(); ) {
                                try (Client c = new Client(proxy.port())) {
                                    n = c.rounds(n, ROUNDS_PER_SESSION, done, mine);
                                }
                            }
                        } catch (Throwable t) {
                            if (!done.get()) {
                                failure.compareAndSet(null, t);
                                done.set(true);
                            }
                        }
                    }));
                }
                boolean settled = awaitCompiler(deadline, start, () -> done.get() || stop.getAsBoolean());
                done.set(true);
                for (Thread t : threads) {
                    t.join(10_000);
                }
                if (failure.get() != null) {
                    throw new IOException("warm-up client failed: " + failure.get(), failure.get());
                }
                long[] total = new long[3];
                for (long[] c : counts) {
                    for (int k = 0; k < 3; k++) {
                        total[k] += c[k];
                    }
                }
                return new Outcome(Duration.ofNanos(System.nanoTime() - start), total, masked.sum(), settled,
                        !settled && stop.getAsBoolean());
            }
        }
    }

    /**
     * Where the warm-up's audit events go: /dev/null where there is one, so that they take the path of the real log's
     * file writes (a file channel), else nowhere.
     */
    private static OutputStream discard() {
        Path devNull = Path.of("/dev/null");
        if (Files.isWritable(devNull)) {
            try {
                return Files.newOutputStream(devNull, StandardOpenOption.WRITE);
            } catch (IOException | UnsupportedOperationException e) {
                LOG.debug("warm-up audit events go nowhere: {}", e.toString());
            }
        }
        return OutputStream.nullOutputStream();
    }

    /**
     * Waits until the deadline, or until the JIT compiled for less than {@link #SETTLED_COMPILE_MILLIS} within the
     * last {@link #SETTLE_WINDOW_MILLIS} (after at least {@link #MIN_MILLIS}), or until {@code stop}; true when the
     * compiler settled.
     */
    private static boolean awaitCompiler(long deadline, long start, BooleanSupplier stop) throws InterruptedException {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long windowStart = System.nanoTime();
        long compiledAtWindowStart = jit.getTotalCompilationTime();
        while (!stop.getAsBoolean()) {
            long now = System.nanoTime();
            if (now - deadline >= 0) {
                return false;
            }
            if ((now - windowStart) / 1_000_000 >= SETTLE_WINDOW_MILLIS) {
                long compiled = jit.getTotalCompilationTime();
                if (compiled - compiledAtWindowStart <= SETTLED_COMPILE_MILLIS
                        && (now - start) / 1_000_000 >= MIN_MILLIS) {
                    return true;
                }
                windowStart = now;
                compiledAtWindowStart = compiled;
            }
            Thread.sleep(Math.max(1, Math.min(100, (deadline - now) / 1_000_000)));
        }
        return false;
    }

    /** The PostgreSQL protocol side of a warm-up client, over a blocking loopback socket to the warm-up proxy. */
    private static final class Client implements AutoCloseable {
        /** Simple-query texts, each around a number: before it, after it. */
        private static final String[][] SIMPLE = {
                {"SELECT id, name, email FROM accounts WHERE id = ", ""},
                {"select id, balance from accounts where email = 'user", "@example.com' and active"},
                {"UPDATE accounts SET balance = balance + ", " WHERE id = 42"},
                {"SELECT a.id, count(*) FROM accounts a JOIN orders o ON o.account_id = a.id WHERE a.id IN (",
                        ", 7) GROUP BY a.id;"},
        };
        private static final String EXTENDED = "SELECT id, name, email FROM accounts WHERE id = $1";
        private static final String PREPARED = "SELECT balance FROM accounts WHERE id = $1";

        private final Socket socket;
        private final DataInputStream in;
        private final DataOutputStream out;

        Client(int port) throws IOException {
            socket = new Socket(InetAddress.getLoopbackAddress(), port);
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(30_000);
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
            byte[] params = cstrings("user", "warmup", "database", "warmup", "application_name", "dbwarden-warm-up",
                    "");
            out.writeInt(8 + params.length);
            out.writeInt(196608);
            out.write(params);
            out.flush();
            readUntilReady();
        }

        /**
         * Up to {@code rounds} rounds of simple, extended and prepared statements (as pgjdbc and pgbench send them),
         * numbered from {@code n}; returns the next number.
         */
        long rounds(long n, int rounds, AtomicBoolean stop, long[] counts) throws IOException {
            message(out, 'P', concat(cstrings("w", PREPARED), new byte[] {0, 1, 0, 0, 0, 23}));
            message(out, 'D', concat(new byte[] {'S'}, cstrings("w")));
            message(out, 'S', new byte[0]);
            out.flush();
            readUntilReady();
            for (int round = 0; round < rounds && !stop.get(); round++) {
                for (int i = 0; i < 50; i++, n++) {
                    String[] text = SIMPLE[(int) (n % SIMPLE.length)];
                    message(out, 'Q', cstrings(text[0] + n % 100_000 + text[1]));
                    out.flush();
                    readUntilReady();
                }
                counts[0] += 50;
                for (int i = 0; i < 50; i++, n++) {
                    message(out, 'P', concat(cstrings("", EXTENDED), new byte[] {0, 0}));
                    bind("", n);
                    message(out, 'D', concat(new byte[] {'P'}, cstrings("")));
                    message(out, 'E', concat(cstrings(""), new byte[] {0, 0, 0, 0}));
                    message(out, 'S', new byte[0]);
                    out.flush();
                    readUntilReady();
                }
                counts[1] += 50;
                for (int i = 0; i < 50; i++, n++) {
                    bind("w", n);
                    message(out, 'E', concat(cstrings(""), new byte[] {0, 0, 0, 0}));
                    message(out, 'S', new byte[0]);
                    out.flush();
                    readUntilReady();
                }
                counts[2] += 50;
            }
            return n;
        }

        private void bind(String statement, long n) throws IOException {
            byte[] value = Long.toString(n % 100_000).getBytes(StandardCharsets.US_ASCII);
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(cstrings("", statement));
            b.writeBytes(new byte[] {0, 0, 0, 1});
            b.writeBytes(new byte[] {0, 0, 0, (byte) value.length});
            b.writeBytes(value);
            b.writeBytes(new byte[] {0, 0});
            message(out, 'B', b.toByteArray());
        }

        /** Reads up to ReadyForQuery; an ErrorResponse on the way fails the warm-up (the relay is not right). */
        private void readUntilReady() throws IOException {
            while (true) {
                byte type = in.readByte();
                byte[] body = in.readNBytes(in.readInt() - 4);
                if (type == 'E') {
                    throw new IOException("the warm-up proxy answered with an error: "
                            + new String(body, StandardCharsets.UTF_8).replace('\0', ' ').trim());
                }
                if (type == 'Z') {
                    return;
                }
            }
        }

        @Override
        public void close() throws IOException {
            try {
                message(out, 'X', new byte[0]);
                out.flush();
            } catch (IOException ignored) {
                // the proxy is gone already
            }
            socket.close();
        }
    }

    /**
     * Stands in for PostgreSQL on a loopback port of this process: trusts every session and answers every query with
     * one row of three text columns (or the command tag of a statement that returns none), as a real server would
     * frame it.
     */
    static final class StandIn implements AutoCloseable {
        private final ServerSocket server;
        private final Map<Socket, Boolean> sessions = new ConcurrentHashMap<>();
        private final AtomicLong statements = new AtomicLong();

        StandIn() throws IOException {
            server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
            Thread.ofPlatform().daemon().name("dbwarden-warm-up-db").start(this::accept);
        }

        int port() {
            return server.getLocalPort();
        }

        /** Statements answered (simple-query statements and Executes). */
        long statements() {
            return statements.get();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    sessions.put(s, Boolean.TRUE);
                    Thread.ofPlatform().daemon().name("dbwarden-warm-up-db-session").start(() -> serve(s));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void serve(Socket s) {
            try (s) {
                s.setTcpNoDelay(true);
                DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16));
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream(), 1 << 16));
                int length = in.readInt();
                if (in.readInt() == 80877103) { // SSLRequest: no TLS here, then the real startup packet
                    out.writeByte('N');
                    out.flush();
                    length = in.readInt();
                    in.readInt();
                }
                in.readNBytes(length - 8);
                message(out, 'R', new byte[] {0, 0, 0, 0});
                for (String[] p : new String[][] {{"server_version", "16.0"}, {"server_encoding", "UTF8"},
                        {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"},
                        {"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"TimeZone", "UTC"}}) {
                    message(out, 'S', cstrings(p));
                }
                message(out, 'K', new byte[] {0, 0, 0x10, 0, 0, 0, 0, 7});
                char status = 'I';
                message(out, 'Z', new byte[] {(byte) status});
                out.flush();
                boolean failed = false; // extended protocol: after an error, skip to Sync
                Map<String, Reply> prepared = new HashMap<>();
                Map<String, Reply> portals = new HashMap<>();
                while (true) {
                    byte type = in.readByte();
                    byte[] body = in.readNBytes(in.readInt() - 4);
                    if (failed && type != 'S') {
                        continue;
                    }
                    switch (type) {
                        case 'Q' -> {
                            Reply r = Reply.of(cstring(body, 0));
                            if (r.row()) {
                                message(out, 'T', ROW_DESCRIPTION);
                                message(out, 'D', row(statements.incrementAndGet()));
                            }
                            if (r.tag() == null) {
                                message(out, 'I', new byte[0]); // EmptyQueryResponse
                            } else {
                                message(out, 'C', cstrings(r.tag()));
                            }
                            status = r.after(status);
                            message(out, 'Z', new byte[] {(byte) status});
                            out.flush();
                        }
                        case 'P' -> {
                            String name = cstring(body, 0);
                            prepared.put(name, Reply.of(cstring(body, name.length() + 1)));
                            message(out, '1', new byte[0]);
                        }
                        case 'B' -> {
                            String portal = cstring(body, 0);
                            portals.put(portal, prepared.get(cstring(body, portal.length() + 1)));
                            message(out, '2', new byte[0]);
                        }
                        case 'D' -> {
                            Reply r = (body[0] == 'S' ? prepared : portals).get(cstring(body, 1));
                            if (body[0] == 'S') {
                                message(out, 't', new byte[] {0, 1, 0, 0, 0, 23});
                            }
                            if (r != null && r.row()) {
                                message(out, 'T', ROW_DESCRIPTION);
                            } else {
                                message(out, 'n', new byte[0]);
                            }
                        }
                        case 'E' -> {
                            Reply r = portals.get(cstring(body, 0));
                            if (r != null && r.row()) {
                                message(out, 'D', row(statements.incrementAndGet()));
                            } else {
                                statements.incrementAndGet();
                            }
                            message(out, 'C', cstrings(r == null || r.tag() == null ? "SELECT 0" : r.tag()));
                            status = r == null ? status : r.after(status);
                        }
                        case 'C' -> message(out, '3', new byte[0]);
                        case 'H' -> out.flush();
                        case 'S' -> {
                            failed = false;
                            message(out, 'Z', new byte[] {(byte) status});
                            out.flush();
                        }
                        case 'X' -> {
                            return;
                        }
                        default -> {
                            message(out, 'E', cstrings("SERROR", "C0A000", "Mthe warm-up server does not take "
                                    + "message type " + (char) type, ""));
                            failed = true;
                        }
                    }
                }
            } catch (EOFException | SocketException ended) {
                // the proxy closed the session
            } catch (IOException e) {
                LOG.debug("warm-up database session ended: {}", e.toString());
            } finally {
                sessions.remove(s);
            }
        }

        /**
         * What the stand-in answers to a statement (the warm-up sends one per query): a row of three text columns or
         * none, the command tag (null for an empty query), the transaction status it leaves (0: as it was).
         */
        private record Reply(boolean row, String tag, char status) {
            char after(char before) {
                return status == 0 ? before : status;
            }

            static Reply of(String sql) {
                String text = sql.stripLeading();
                int end = 0;
                while (end < text.length() && Character.isLetter(text.charAt(end))) {
                    end++;
                }
                String first = text.substring(0, end).toUpperCase(Locale.ROOT);
                return switch (first) {
                    case "SELECT", "WITH", "VALUES", "SHOW" -> new Reply(true, "SELECT 1", (char) 0);
                    case "INSERT" -> new Reply(false, "INSERT 0 1", (char) 0);
                    case "UPDATE", "DELETE" -> new Reply(false, first + " 1", (char) 0);
                    case "BEGIN", "START" -> new Reply(false, "BEGIN", 'T');
                    case "COMMIT", "END" -> new Reply(false, "COMMIT", 'I');
                    case "ROLLBACK", "ABORT" -> new Reply(false, "ROLLBACK", 'I');
                    case "DISCARD" -> new Reply(false, text.strip().toUpperCase(Locale.ROOT), (char) 0); // pool reset
                    default -> new Reply(false, first.isEmpty() ? null : first, (char) 0);
                };
            }
        }

        private static String cstring(byte[] body, int from) {
            int end = from;
            while (end < body.length && body[end] != 0) {
                end++;
            }
            return new String(body, from, end - from, StandardCharsets.UTF_8);
        }

        private static final byte[] ROW_DESCRIPTION = rowDescription("id", "name", "email");

        private static byte[] rowDescription(String... columns) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(new byte[] {0, (byte) columns.length});
            for (String column : columns) {
                b.writeBytes(cstrings(column));
                // table oid, column number, type oid (text), size, modifier, format
                b.writeBytes(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 25, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                        (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0});
            }
            return b.toByteArray();
        }

        private static byte[] row(long n) {
            String[] values = {Long.toString(n), "user " + n, "user" + n + "@example.com"};
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(new byte[] {0, (byte) values.length});
            for (String v : values) {
                byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
                b.writeBytes(new byte[] {0, 0, 0, (byte) bytes.length});
                b.writeBytes(bytes);
            }
            return b.toByteArray();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : sessions.keySet()) {
                s.close();
            }
        }
    }

    /** A protocol message: type byte, length word, body. */
    private static void message(DataOutputStream out, char type, byte[] body) throws IOException {
        out.writeByte(type);
        out.writeInt(4 + body.length);
        out.write(body);
    }

    private static byte[] cstrings(String... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (String v : values) {
            b.writeBytes(v.getBytes(StandardCharsets.UTF_8));
            b.write(0);
        }
        return b.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
