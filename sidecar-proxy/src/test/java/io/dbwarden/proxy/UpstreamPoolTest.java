package io.dbwarden.proxy;

import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Database connections of sessions that ended cleanly serve later sessions, reset to their start-up state, and only
 * those: a session that ends in a transaction, with a cancel request sent, or with other start-up parameters does
 * not hand its connection on; kept connections end after the idle timeout and when the server ends them.
 */
@ExtendWith(LeakDetection.class)
class UpstreamPoolTest {
    private static final UpstreamPooling KEEP = new UpstreamPooling(Duration.ofSeconds(60), 8);
    /** The driver sends application_name in the start-up message (not with SET afterwards) for 9.0 and later. */
    private static final String STARTUP = "assumeMinServerVersion=10&ApplicationName=";

    @BeforeAll
    static void table() throws SQLException {
        EmbeddedPg.execute("DROP TABLE IF EXISTS pool_rows",
                "CREATE TABLE pool_rows (id int)",
                "GRANT SELECT, INSERT ON pool_rows TO " + EmbeddedPg.SCRAM_USER);
    }

    @Test
    void aCleanlyEndedSessionsConnectionServesTheNextSessionResetToItsStartState() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int pid;
            String workMem;
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                pid = pid(c);
                workMem = value(s, "SHOW work_mem");
                s.execute("SET work_mem = '7MB'");
                s.execute("SET ROLE NONE");
                s.execute("CREATE TEMP TABLE pool_scratch (x int)");
                s.execute("PREPARE pool_stmt AS SELECT 1");
                s.execute("SELECT pg_advisory_lock(424242)");
                s.execute("LISTEN pool_channel");
                // server-side prepared statements of the driver (named S_1...) after its threshold of five uses
                for (int i = 0; i < 6; i++) {
                    try (PreparedStatement p = c.prepareStatement("SELECT count(*) FROM pool_rows WHERE id = ?")) {
                        p.setInt(1, i);
                        p.executeQuery().close();
                    }
                }
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            assertThat(advisoryLocksOf(pid)).isZero(); // released by the reset, before any new session

            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                assertThat(pid(c)).isEqualTo(pid);
                assertThat(value(s, "SHOW work_mem")).isEqualTo(workMem);
                assertThat(value(s, "SELECT coalesce(to_regclass('pg_temp.pool_scratch')::text, 'none')"))
                        .isEqualTo("none");
                assertThat(value(s, "SELECT count(*) FROM pg_prepared_statements")).isEqualTo("0");
                assertThat(value(s, "SELECT count(*) FROM pg_listening_channels()")).isEqualTo("0");
                for (int i = 0; i < 6; i++) { // the driver's statement names are free again
                    try (PreparedStatement p = c.prepareStatement("SELECT count(*) FROM pool_rows WHERE id = ?")) {
                        p.setInt(1, i);
                        p.executeQuery().close();
                    }
                }
                assertThat(idle(proxy)).isZero();
            }
            assertThat(proxy.metrics.render()).contains("dbwarden_upstream_reused_total 1\n");
        }
    }

    @Test
    void aSessionEndedInsideATransactionDoesNotHandOnItsConnection() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int pid;
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                s.execute("INSERT INTO pool_rows VALUES (777)");
                pid = pid(c);
            } // closed without commit: the database rolls the transaction back as the connection ends
            await().atMost(10, TimeUnit.SECONDS).until(() -> !backendExists(pid));
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                assertThat(pid(c)).isNotEqualTo(pid);
                assertThat(value(s, "SELECT count(*) FROM pool_rows WHERE id = 777")).isEqualTo("0");
            }
            assertThat(proxy.metrics.render()).contains("dbwarden_upstream_reused_total 0\n");
        }
    }

    @Test
    void aConnectionIsReusedOnlyForTheSameStartupParameters() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int first;
            try (Connection c = proxy.connect(STARTUP + "alpha")) {
                first = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            int second;
            try (Connection c = proxy.connect(STARTUP + "beta"); Statement s = c.createStatement()) {
                second = pid(c);
                assertThat(second).isNotEqualTo(first);
                assertThat(value(s, "SHOW application_name")).isEqualTo("beta");
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 2);
            try (Connection c = proxy.connect(STARTUP + "alpha"); Statement s = c.createStatement()) {
                assertThat(pid(c)).isEqualTo(first);
                assertThat(value(s, "SHOW application_name")).isEqualTo("alpha");
            }
        }
    }

    @Test
    void theNextSessionIsToldTheSettingsTheResetRestoredNotTheOnesTheLastSessionChanged() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int pid;
            try (Connection c = proxy.connect(STARTUP + "alpha"); Statement s = c.createStatement()) {
                pid = pid(c);
                s.execute("SET application_name = 'changed'");
                s.execute("SET TimeZone = 'Asia/Tokyo'");
                Map<String, String> reported = c.unwrap(org.postgresql.PGConnection.class).getParameterStatuses();
                assertThat(reported).containsEntry("application_name", "changed").containsEntry("TimeZone",
                        "Asia/Tokyo");
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            try (Connection c = proxy.connect(STARTUP + "alpha"); Statement s = c.createStatement()) {
                assertThat(pid(c)).isEqualTo(pid);
                // what the session start told the driver: the values DISCARD ALL reported, not the old session's
                Map<String, String> reported = c.unwrap(org.postgresql.PGConnection.class).getParameterStatuses();
                assertThat(reported).containsEntry("application_name", "alpha");
                assertThat(reported.get("TimeZone")).isEqualTo(value(s, "SHOW TimeZone")).isNotEqualTo("Asia/Tokyo");
            }
        }
    }

    @Test
    void theSessionSettingsOfTheKeptConnectionHoldAfterTheReset() throws Exception {
        // a read-only policy starts sessions read-only; the reset (allowed in a read-only session) keeps that
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, () -> Map.of("default_transaction_read_only", "on"))) {
            int pid;
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                pid = pid(c);
                s.execute("SET default_transaction_read_only = off");
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                assertThat(pid(c)).isEqualTo(pid);
                assertThat(value(s, "SHOW default_transaction_read_only")).isEqualTo("on");
                assertThatThrownBy(() -> s.execute("INSERT INTO pool_rows VALUES (1)"))
                        .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25006"));
            }
        }
    }

    @Test
    void cancelWorksOnAReusedConnectionAndASessionThatCancelledDoesNotHandItsConnectionOn() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int pid;
            try (Connection c = proxy.connect()) {
                pid = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
                assertThat(pid(c)).isEqualTo(pid);
                CompletableFuture<Void> cancel = CompletableFuture.runAsync(() -> {
                    await().atMost(10, TimeUnit.SECONDS).until(() -> sleeping(pid));
                    try {
                        s.cancel();
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                });
                assertThatThrownBy(() -> s.execute("SELECT pg_sleep(30)"))
                        .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("57014"));
                cancel.get(10, TimeUnit.SECONDS);
                assertThat(value(s, "SELECT 1")).isEqualTo("1"); // the session goes on
            }
            // the cancel could still reach the database after the session: its connection ends with it
            await().atMost(10, TimeUnit.SECONDS).until(() -> !backendExists(pid));
            assertThat(idle(proxy)).isZero();
        }
    }

    @Test
    void keptConnectionsEndAfterTheIdleTimeoutOrWhenTheServerEndsThem() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(new UpstreamPooling(Duration.ofSeconds(1), 8), Map::of)) {
            int pid;
            try (Connection c = proxy.connect()) {
                pid = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 0 && !backendExists(pid));
        }
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            int pid;
            try (Connection c = proxy.connect()) {
                pid = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
            EmbeddedPg.execute("SELECT pg_terminate_backend(" + pid + ")");
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 0);
            try (Connection c = proxy.connect()) {
                assertThat(pid(c)).isNotEqualTo(pid);
            }
        }
    }

    @Test
    void withPoolingOffEverySessionGetsItsOwnConnection() throws Exception {
        try (RunningProxy proxy = RunningProxy.startPooled(UpstreamPooling.OFF, Map::of)) {
            int pid;
            try (Connection c = proxy.connect()) {
                pid = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> !backendExists(pid));
            try (Connection c = proxy.connect()) {
                assertThat(pid(c)).isNotEqualTo(pid);
            }
            assertThat(idle(proxy)).isZero();
        }
    }

    @Test
    void keptConnectionsEndWithTheProxy() throws Exception {
        int pid;
        try (RunningProxy proxy = RunningProxy.startPooled(KEEP, Map::of)) {
            try (Connection c = proxy.connect()) {
                pid = pid(c);
            }
            await().atMost(10, TimeUnit.SECONDS).until(() -> idle(proxy) == 1);
        }
        await().atMost(10, TimeUnit.SECONDS).until(() -> !backendExists(pid));
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT pg_backend_pid()")) {
            r.next();
            return r.getInt(1);
        }
    }

    private static String value(Statement s, String sql) throws SQLException {
        try (ResultSet r = s.executeQuery(sql)) {
            r.next();
            return r.getString(1);
        }
    }

    private static long idle(RunningProxy proxy) {
        return proxy.metrics.render().lines().filter(l -> l.startsWith("dbwarden_upstream_idle_connections "))
                .mapToLong(l -> Long.parseLong(l.substring(l.indexOf(' ') + 1).trim())).findFirst().orElseThrow();
    }

    private static String directValue(String sql) throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            return value(s, sql);
        }
    }

    private static boolean backendExists(int pid) throws SQLException {
        return !"0".equals(directValue("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid));
    }

    private static boolean sleeping(int pid) throws SQLException {
        return !"0".equals(directValue("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid
                + " AND state = 'active' AND query LIKE '%pg_sleep%'"));
    }

    private static long advisoryLocksOf(int pid) throws SQLException {
        return Long.parseLong(directValue("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                + pid));
    }
}
