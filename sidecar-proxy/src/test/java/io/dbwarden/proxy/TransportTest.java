package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestFilters;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
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
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "epoll", "nio"})
    void realClientTrafficOverTransport(String transport) throws Exception {
        assumeTrue(!transport.equals("io_uring") || IoUring.isAvailable(), "io_uring not available on this kernel");
        assumeTrue(!transport.equals("epoll") || Epoll.isAvailable(), "epoll not available");
        String before = System.getProperty("dbwarden.transport");
        System.setProperty("dbwarden.transport", transport);
        RunningProxy proxy;
        try {
            // one filter answers later, off the event loop: the session pauses and resumes around it
            proxy = RunningProxy.start(List.of(TestFilters.denyMentioning("forbidden"),
                    TestFilters.denyMentioningAsync("slowlyrefused", 50)));
        } finally {
            if (before == null) {
                System.clearProperty("dbwarden.transport");
            } else {
                System.setProperty("dbwarden.transport", before);
            }
        }
        try (proxy; Connection c = proxy.connect("prepareThreshold=1"); Statement s = c.createStatement()) {
            assertThat(proxy.server.transport()).isEqualTo(transport);
            String table = "transport_" + transport;
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
    }
}
