package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;

import java.io.ByteArrayOutputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Real pgjdbc clients through the proxy against real PostgreSQL: the protocol features applications use. */
@ExtendWith(LeakDetection.class)
class ProxyProtocolTest {
    static RunningProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        proxy = RunningProxy.start();
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS items");
            s.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)");
        }
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    /**
     * The extended protocol commits an implicit transaction at Sync, after its statements completed: a deferred
     * constraint failing there rolls them back, and the audit says so (in the simple protocol the server commits
     * before the last statement's completion, so that statement carries the error).
     */
    @Test
    void aCommitFailingAtSyncIsAuditedAsRollingBackTheStatementsBeforeIt() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS pp_child, pp_parent", "CREATE TABLE pp_parent (id int PRIMARY KEY)",
                "CREATE TABLE pp_child (pid int REFERENCES pp_parent DEFERRABLE INITIALLY DEFERRED)");
        try {
            proxy.records.clear();
            try (Connection c = proxy.connect("preferQueryMode=extended");
                 PreparedStatement ps = c.prepareStatement("INSERT INTO pp_child VALUES (?)")) {
                ps.setInt(1, 7);
                assertThatThrownBy(ps::executeUpdate).isInstanceOfSatisfying(SQLException.class,
                        e -> assertThat(e.getSQLState()).isEqualTo("23503"));
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                    .anyMatch(r -> r.statement().normalized().startsWith("<commit")));
            List<ExecutionRecord> ours = proxy.records.stream()
                    .filter(r -> r.statement().normalized().contains("pp_child")
                            || r.statement().normalized().startsWith("<commit")).toList();
            assertThat(ours).hasSize(2);
            assertThat(ours.get(0).commandTag()).isEqualTo("INSERT 0 1");
            ExecutionRecord commit = ours.get(1);
            assertThat(commit.statement().normalized()).isEqualTo("<commit of the implicit transaction at sync>");
            assertThat(commit.protocol()).isEqualTo(Protocol.EXTENDED);
            assertThat(commit.executed()).isTrue();
            assertThat(commit.errorSqlState()).isEqualTo("23503");
            assertThat(commit.errorMessage()).contains("did not commit at Sync").contains("rolled back")
                    .contains("violates foreign key constraint").doesNotContain("pp_child_pid_fkey");

            proxy.records.clear();
            try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("INSERT INTO pp_child VALUES (8)"))
                        .isInstanceOfSatisfying(SQLException.class,
                                e -> assertThat(e.getSQLState()).isEqualTo("23503"));
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                    .anyMatch(r -> r.statement().normalized().contains("pp_child")));
            assertThat(proxy.records).filteredOn(r -> r.statement().normalized().contains("pp_child"))
                    .singleElement().satisfies(r -> assertThat(r.errorSqlState()).isEqualTo("23503"));
            assertThat(proxy.records).noneMatch(r -> r.statement().normalized().startsWith("<commit"));
            try (Connection d = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = d.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pp_child")) {
                rs.next();
                assertThat(rs.getInt(1)).as("both inserts rolled back").isZero();
            }
        } finally {
            EmbeddedPg.execute("DROP TABLE IF EXISTS pp_child, pp_parent");
        }
    }

    @Test
    void simpleProtocolMultiStatementQueryIsAuditedPerStatement() throws Exception {
        proxy.records.clear();
        try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement()) {
            boolean hasResult = s.execute("SELECT 1 AS a; SELECT 'x' AS b, 2; SELECT 42 WHERE false");
            assertThat(hasResult).isTrue();
            ResultSet rs = s.getResultSet();
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(1);
            assertThat(s.getMoreResults()).isTrue();
            rs = s.getResultSet();
            rs.next();
            assertThat(rs.getString(1)).isEqualTo("x");
        }
        await().atMost(5, TimeUnit.SECONDS).until(() -> selects().size() >= 3);
        assertThat(selects()).extracting(r -> r.statement().normalized())
                .containsExactly("select ? as a", "select ? as b, ?", "select ? where false");
        assertThat(selects()).extracting(ExecutionRecord::rows).containsExactly(1L, 1L, 0L);
        assertThat(selects()).allSatisfy(r -> {
            assertThat(r.protocol()).isEqualTo(Protocol.SIMPLE);
            assertThat(r.verdict().decision()).isEqualTo(Decision.ALLOW);
            assertThat(r.executed()).isTrue();
            assertThat(r.session().identity()).isEqualTo("team-a/reporting");
        });
    }

    private static java.util.List<ExecutionRecord> selects() {
        return proxy.records.stream().filter(r -> r.statement().normalized().startsWith("select")).toList();
    }

    @Test
    void extendedProtocolPreparedStatementsAndBatch() throws Exception {
        try (Connection c = proxy.connect("prepareThreshold=1")) {
            c.createStatement().execute("DELETE FROM items WHERE id >= 1000");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO items VALUES (?, ?, ?)")) {
                for (int i = 0; i < 50; i++) {
                    ps.setInt(1, 1000 + i);
                    ps.setString(2, "item-" + i);
                    ps.setBigDecimal(3, new java.math.BigDecimal(i + ".25"));
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                assertThat(counts).hasSize(50).containsOnly(1);
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT name, price FROM items WHERE id = ?")) {
                for (int i = 0; i < 10; i++) { // reuses the server-side named statement after the threshold
                    ps.setInt(1, 1000 + i);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo("item-" + i);
                        assertThat(rs.getBigDecimal(2)).isEqualByComparingTo(i + ".25");
                    }
                }
            }
        }
    }

    @Test
    void binaryTransferAndPipelinedExtendedQueries() throws Exception {
        try (Connection c = proxy.connect("prepareThreshold=-1&binaryTransfer=true");
             PreparedStatement ps = c.prepareStatement("SELECT ?::int8 * 2, ?::float8, now()")) {
            ps.setLong(1, 21);
            ps.setDouble(2, 1.5);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(42);
                assertThat(rs.getDouble(2)).isEqualTo(1.5);
                assertThat(rs.getTimestamp(3)).isNotNull();
            }
        }
    }

    @Test
    void copyInAndOutWithCopyManager() throws Exception {
        try (Connection c = proxy.connect()) {
            c.createStatement().execute("DROP TABLE IF EXISTS copy_target");
            c.createStatement().execute("CREATE TABLE copy_target (id int, label text)");
            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            StringBuilder csv = new StringBuilder();
            for (int i = 0; i < 20_000; i++) {
                csv.append(i).append(",label ").append(i).append('\n');
            }
            long in = copy.copyIn("COPY copy_target FROM STDIN WITH (FORMAT csv)", new StringReader(csv.toString()));
            assertThat(in).isEqualTo(20_000);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            long outRows = copy.copyOut("COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT WITH (FORMAT csv)", out);
            assertThat(outRows).isEqualTo(20_000);
            assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(csv.toString());
            // a failed COPY IN leaves the session usable
            assertThatThrownBy(() -> copy.copyIn("COPY copy_target FROM STDIN WITH (FORMAT csv)",
                    new StringReader("not-a-number,x\n"))).isInstanceOf(SQLException.class);
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM copy_target")) {
                rs.next();
                assertThat(rs.getLong(1)).isEqualTo(20_000);
            }
        }
    }

    @Test
    void largeResultStreamsWithCursorFetchAndInOneGo() throws Exception {
        try (Connection c = proxy.connect()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(1000); // portal suspended / re-execute path
                long sum = 0;
                long count = 0;
                try (ResultSet rs = s.executeQuery("SELECT g, repeat('x', 100) FROM generate_series(1, 300000) g")) {
                    while (rs.next()) {
                        sum += rs.getLong(1);
                        count++;
                    }
                }
                assertThat(count).isEqualTo(300_000);
                assertThat(sum).isEqualTo(300_000L * 300_001L / 2);
            }
            c.commit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT g, md5(g::text) FROM generate_series(1, 200000) g")) {
                long count = 0;
                while (rs.next()) {
                    count++;
                }
                assertThat(count).isEqualTo(200_000);
            }
        }
    }

    @Test
    void noticesAndNotificationsAreRelayed() throws Exception {
        try (Connection listener = proxy.connect(); Connection notifier = proxy.connect()) {
            try (Statement s = listener.createStatement()) {
                s.execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$");
                SQLWarning w = s.getWarnings();
                assertThat((Object) w).isNotNull();
                assertThat(w.getMessage()).contains("hello from plpgsql");
                s.execute("LISTEN dbwarden_channel");
            }
            notifier.createStatement().execute("NOTIFY dbwarden_channel, 'payload-1'");
            PGNotification[] got = await().atMost(5, TimeUnit.SECONDS).until(() -> {
                listener.createStatement().execute("SELECT 1"); // drives reading of async messages
                return listener.unwrap(PGConnection.class).getNotifications();
            }, n -> n != null && n.length > 0);
            PGNotification first = got[0];
            assertThat(first.getName()).isEqualTo("dbwarden_channel");
            assertThat(first.getParameter()).isEqualTo("payload-1");
        }
    }

    @Test
    void cancelReachesTheRightBackendAndTheSessionStaysUsable() throws Exception {
        try (Connection c = proxy.connect(); Connection other = proxy.connect()) {
            Statement s = c.createStatement();
            CompletableFuture<Void> cancel = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(500);
                    s.cancel();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = System.nanoTime();
            assertThatThrownBy(() -> s.execute("SELECT pg_sleep(30)"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"));
            assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start)).isLessThan(20);
            cancel.join();
            try (ResultSet rs = c.createStatement().executeQuery("SELECT 7")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(7);
            }
            try (ResultSet rs = other.createStatement().executeQuery("SELECT 8")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(8);
            }
        }
    }

    @Test
    void serverErrorsKeepTheSessionUsableInBothProtocols() throws Exception {
        try (Connection c = proxy.connect()) {
            assertThatThrownBy(() -> c.createStatement().execute("SELECT * FROM no_such_table"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42P01"));
            c.setAutoCommit(false);
            c.createStatement().execute("INSERT INTO items VALUES (1, 'one', 1)");
            assertThatThrownBy(() -> c.createStatement().execute("INSERT INTO items VALUES (1, 'dup', 1)"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23505"));
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM items WHERE id = 1")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
        }
    }

    @Test
    void upstreamTerminationClosesTheClientCleanly() throws Exception {
        try (Connection c = proxy.connect(); Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            int pid;
            try (ResultSet rs = c.createStatement().executeQuery("SELECT pg_backend_pid()")) {
                rs.next();
                pid = rs.getInt(1);
            }
            admin.createStatement().execute("SELECT pg_terminate_backend(" + pid + ")");
            assertThatThrownBy(() -> c.createStatement().execute("SELECT 1")).isInstanceOf(SQLException.class);
        }
        try (Connection again = proxy.connect(); ResultSet rs = again.createStatement().executeQuery("SELECT 1")) {
            assertThat(rs.next()).isTrue();
        }
    }

    @Test
    void clientDisconnectReleasesTheUpstreamBackend() throws Exception {
        try (Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            Connection c = proxy.connect("ApplicationName=disconnect-probe");
            c.createStatement().execute("SELECT 1");
            assertThat(countBackends(admin, "disconnect-probe")).isEqualTo(1);
            c.close();
            await().atMost(5, TimeUnit.SECONDS).until(() -> countBackends(admin, "disconnect-probe") == 0);
        }
        await().atMost(5, TimeUnit.SECONDS).until(() -> proxy.metrics.activeConnections() == 0);
    }

    private static int countBackends(Connection admin, String app) throws SQLException {
        try (PreparedStatement ps = admin.prepareStatement(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = ?")) {
            ps.setString(1, app);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /**
     * Rows forwarded unchanged are still counted for their statement: per fetch of a cursor-style read (the server
     * suspends the portal, so the count is what passed through) and for a plain query, in both protocols.
     */
    @Test
    void rowsPassedThroughAreCountedPerExecution() throws Exception {
        proxy.records.clear();
        try (Connection c = proxy.connect()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(100);
                int n = 0;
                try (ResultSet rs = s.executeQuery("SELECT g AS fetched FROM generate_series(1, 250) g")) {
                    while (rs.next()) {
                        n++;
                    }
                }
                assertThat(n).isEqualTo(250);
            }
            c.commit();
        }
        try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT g AS plain FROM generate_series(1, 1000) g")) {
            int n = 0;
            while (rs.next()) {
                n++;
            }
            assertThat(n).isEqualTo(1000);
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> {
            assertThat(proxy.records).filteredOn(r -> r.statement().normalized().contains("as fetched"))
                    .extracting(ExecutionRecord::rows).containsExactly(100L, 100L, 50L);
            assertThat(proxy.records).filteredOn(r -> r.statement().normalized().contains("as plain"))
                    .singleElement().satisfies(r -> assertThat(r.rows()).isEqualTo(1000));
        });
    }
}
