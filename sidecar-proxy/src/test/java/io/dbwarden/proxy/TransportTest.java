package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestFilters;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

import java.io.ByteArrayOutputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The relay over each socket transport the proxy can run on (io_uring where the kernel allows it, epoll, NIO): the
 * same real-client traffic (simple and extended protocol, a batch, COPY both ways, a large result, a cancel) must
 * behave identically, since which one a pod gets depends on its kernel and seccomp profile.
 */
@ExtendWith(LeakDetection.class)
class TransportTest {

    /**
     * {@code variant}: the transport, and for io_uring how sockets receive: into the loop's provided-buffer ring
     * (the default), a ring of only two buffers (the kernel runs out of them all the time, so every large transfer
     * goes through the re-armed receive), or polling first.
     */
    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "io_uring/ring-of-2", "io_uring/poll-first", "epoll", "nio"})
    void realClientTrafficOverTransport(String variant) throws Exception {
        String transport = variant.split("/")[0];
        assumeTrue(!transport.equals("io_uring") || IoUring.isAvailable(), "io_uring not available on this kernel");
        assumeTrue(!variant.startsWith("io_uring/ring") || IoUring.isRegisterBufferRingSupported(),
                "no provided-buffer rings on this kernel");
        assumeTrue(!transport.equals("epoll") || Epoll.isAvailable(), "epoll not available");
        Map<String, String> properties = new LinkedHashMap<>();
        properties.put("dbwarden.transport", transport);
        properties.put("dbwarden.io-uring.buffer-ring", String.valueOf(!variant.endsWith("poll-first")));
        properties.put("dbwarden.io-uring.buffer-ring-entries", variant.endsWith("ring-of-2") ? "2" : null);
        String expectedReceive = !transport.equals("io_uring") ? "readiness"
                : variant.endsWith("poll-first") || !IoUring.isRegisterBufferRingSupported() ? "poll-first"
                : "buffer-ring";
        RunningProxy proxy = withProperties(properties, () ->
                // one filter answers later, off the event loop: the session pauses and resumes around it
                RunningProxy.start(List.of(TestFilters.denyMentioning("forbidden"),
                        TestFilters.denyMentioningAsync("slowlyrefused", 50))));
        try (proxy; Connection c = proxy.connect("prepareThreshold=1"); Statement s = c.createStatement()) {
            assertThat(proxy.server.transport()).isEqualTo(transport);
            assertThat(proxy.server.receive()).isEqualTo(expectedReceive);
            String table = "transport_" + variant.replaceAll("\\W", "_");
            s.execute("DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int PRIMARY KEY, label text)");

            try (PreparedStatement insert = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?)")) {
                for (int i = 1; i <= 500; i++) {
                    insert.setInt(1, i);
                    insert.setString(2, "row " + i);
                    insert.addBatch();
                }
                assertThat(insert.executeBatch()).hasSize(500).containsOnly(1);
            }
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder csv = new StringBuilder();
            for (int i = 501; i <= 5_000; i++) {
                csv.append(i).append(",copied ").append(i).append('\n');
            }
            assertThat(copy.copyIn("COPY " + table + " FROM STDIN WITH (FORMAT csv)",
                    new StringReader(csv.toString()))).isEqualTo(4_500);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertThat(copy.copyOut("COPY (SELECT * FROM " + table + " WHERE id > 500 ORDER BY id) TO STDOUT "
                    + "WITH (FORMAT csv)", out)).isEqualTo(4_500);
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(csv.toString());

            try (PreparedStatement q = c.prepareStatement("SELECT label FROM " + table + " WHERE id = ?")) {
                for (int id : List.of(7, 501, 5_000)) {
                    q.setInt(1, id);
                    try (ResultSet rs = q.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo((id <= 500 ? "row " : "copied ") + id);
                    }
                }
            }
            long sum = 0;
            long rows = 0;
            try (ResultSet rs = s.executeQuery("SELECT g, repeat('y', 200) FROM generate_series(1, 100000) g")) {
                while (rs.next()) {
                    sum += rs.getLong(1);
                    rows++;
                }
            }
            assertThat(rows).isEqualTo(100_000);
            assertThat(sum).isEqualTo(100_000L * 100_001L / 2);

            // a running statement is cancelled in the server, through a cancel connection the proxy opens over this
            // transport (its own thread: the asynchronous filter's pool must stay free to answer, so that the
            // statement reaches the server)
            CompletableFuture<Void> cancel = new CompletableFuture<>();
            Thread.ofPlatform().name("canceller").start(() -> {
                try {
                    Thread.sleep(500);
                    s.cancel();
                    cancel.complete(null);
                } catch (Throwable e) {
                    cancel.completeExceptionally(e);
                }
            });
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(30)"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"))
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("did not run"));
            cancel.get(20, TimeUnit.SECONDS);
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getLong(1)).isEqualTo(5_000);
            }
            // blocked statements in both protocols, synchronously and after an asynchronous verdict: an error
            // in stream order, and the session goes on
            for (String blocked : List.of("SELECT 1 AS forbidden", "SELECT 1 AS slowlyrefused")) {
                assertThatThrownBy(() -> s.execute(blocked)).isInstanceOf(SQLException.class)
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
                try (PreparedStatement p = c.prepareStatement(blocked + " WHERE ? > 0")) {
                    p.setInt(1, 1);
                    assertThatThrownBy(p::executeQuery).isInstanceOf(SQLException.class)
                            .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
                }
                try (ResultSet rs = s.executeQuery("SELECT 41 + 1")) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(42);
                }
            }
            s.execute("DROP TABLE " + table);
        }
        // a ring of two runs dry on the large result (database side); sockets without a ring never report it (the
        // default ring may, if the loop stalls long enough on a slow machine: that costs a re-armed receive only)
        if (variant.endsWith("ring-of-2")) {
            assertThat(ringExhaustions(proxy)).isPositive();
        } else if (!expectedReceive.equals("buffer-ring")) {
            assertThat(ringExhaustions(proxy)).isZero();
        }
    }

    private static long ringExhaustions(RunningProxy proxy) {
        return proxy.metrics.render().lines()
                .filter(l -> l.startsWith("dbwarden_receive_buffer_ring_exhausted_total "))
                .mapToLong(l -> Long.parseLong(l.substring(l.indexOf(' ') + 1))).sum();
    }

    /**
     * Several sessions on one event loop sharing a ring of two buffers, all receiving large results and sending
     * COPY data at once: every byte arrives, in order, in each session.
     */
    @Test
    void concurrentSessionsShareATinyBufferRing() throws Exception {
        RunningProxy proxy = withTinyRing(() -> RunningProxy.start(List.of(), 1));
        try (proxy; ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            assertThat(proxy.server.receive()).isEqualTo("buffer-ring");
            int sessions = 6;
            List<CompletableFuture<Void>> done = new ArrayList<>();
            for (int n = 0; n < sessions; n++) {
                int session = n;
                done.add(CompletableFuture.runAsync(() -> {
                    try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                        String table = "ring_session_" + session;
                        s.execute("DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int, v text)");
                        StringBuilder csv = new StringBuilder();
                        for (int i = 1; i <= 20_000; i++) {
                            csv.append(i).append(",s").append(session).append('-').append(i).append('\n');
                        }
                        CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
                        assertThat(copy.copyIn("COPY " + table + " FROM STDIN WITH (FORMAT csv)",
                                new StringReader(csv.toString()))).isEqualTo(20_000);
                        ByteArrayOutputStream out = new ByteArrayOutputStream();
                        copy.copyOut("COPY (SELECT * FROM " + table + " ORDER BY id) TO STDOUT WITH (FORMAT csv)",
                                out);
                        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(csv.toString());
                        String filler = String.valueOf((char) (65 + session)).repeat(300);
                        long rows = 0;
                        long sum = 0;
                        try (ResultSet rs = s.executeQuery("SELECT g, repeat(chr(65 + " + session
                                + "), 300) FROM generate_series(1, 30000) g")) {
                            while (rs.next()) {
                                assertThat(rs.getString(2)).isEqualTo(filler);
                                sum += rs.getLong(1);
                                rows++;
                            }
                        }
                        assertThat(rows).isEqualTo(30_000);
                        assertThat(sum).isEqualTo(30_000L * 30_001L / 2);
                        s.execute("DROP TABLE " + table);
                    } catch (SQLException | java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
            assertThat(ringExhaustions(proxy)).isPositive();
        }
    }

    /**
     * A client's socket receives into the ring too: while a filter holds the only event loop, another session's
     * COPY data piles up in its socket; when the loop goes on, the ring of two buffers runs dry on it at once (the
     * database side carries only a few small messages meanwhile). Every row arrives.
     */
    @Test
    void clientSocketsReceiveIntoTheRing() throws Exception {
        StatementFilter holdTheLoop = ctx -> {
            if (ctx.statement().normalized().contains("hold_the_loop")) {
                LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1)); // on the event loop, as a slow filter would
            }
            return Verdict.allowNow();
        };
        RunningProxy proxy = withTinyRing(() -> RunningProxy.start(List.of(holdTheLoop), 1));
        try (proxy; Connection holder = proxy.connect(); Connection copier = proxy.connect();
             Statement s = copier.createStatement()) {
            s.execute("CREATE TEMP TABLE piled (id int, v text)");
            StringBuilder csv = new StringBuilder();
            for (int i = 1; i <= 100_000; i++) {
                csv.append(i).append(",row ").append(i).append('\n');
            }
            long before = ringExhaustions(proxy);
            CompletableFuture<Void> held = CompletableFuture.runAsync(() -> {
                try (Statement h = holder.createStatement()) {
                    h.execute("SELECT 1 AS hold_the_loop");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(200);
            assertThat(held).isNotDone();
            CopyManager copy = copier.unwrap(PGConnection.class).getCopyAPI();
            assertThat(copy.copyIn("COPY piled FROM STDIN WITH (FORMAT csv)", new StringReader(csv.toString())))
                    .isEqualTo(100_000);
            held.get(10, TimeUnit.SECONDS);
            assertThat(ringExhaustions(proxy)).isGreaterThan(before);
            try (ResultSet rs = s.executeQuery("SELECT count(*), sum(id), count(DISTINCT v) FROM piled")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getLong(1)).isEqualTo(100_000);
                assertThat(rs.getLong(2)).isEqualTo(100_000L * 100_001L / 2);
                assertThat(rs.getLong(3)).isEqualTo(100_000);
            }
        }
    }

    /** Starts a proxy on io_uring with a receive ring of two buffers (the test is skipped without such rings). */
    private static RunningProxy withTinyRing(Callable<RunningProxy> start) throws Exception {
        assumeTrue(IoUring.isAvailable() && IoUring.isRegisterBufferRingSupported(), "no io_uring buffer rings here");
        Map<String, String> properties = new LinkedHashMap<>();
        properties.put("dbwarden.transport", "io_uring");
        properties.put("dbwarden.io-uring.buffer-ring", "true");
        properties.put("dbwarden.io-uring.buffer-ring-entries", "2");
        return withProperties(properties, start);
    }

    /** Runs {@code start} with the system properties set (null: cleared), then puts the previous values back. */
    private static RunningProxy withProperties(Map<String, String> properties, Callable<RunningProxy> start)
            throws Exception {
        Map<String, String> before = new LinkedHashMap<>();
        properties.keySet().forEach(k -> before.put(k, System.getProperty(k)));
        try {
            properties.forEach(TransportTest::setProperty);
            return start.call();
        } finally {
            before.forEach(TransportTest::setProperty);
        }
    }

    private static void setProperty(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
