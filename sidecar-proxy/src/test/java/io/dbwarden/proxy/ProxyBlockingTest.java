package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestFilters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A blocked statement never reaches the database, the client gets a clear error where the server would have put
 * its own, and the session and the data stay consistent: in both protocols, in and out of transactions, with
 * synchronous and asynchronous filters.
 */
@ExtendWith(LeakDetection.class)
class ProxyBlockingTest {
    static RunningProxy syncProxy;
    static RunningProxy asyncProxy;

    @BeforeAll
    static void start() {
        syncProxy = RunningProxy.start(List.of(TestFilters.denyMentioning("forbidden")));
        asyncProxy = RunningProxy.start(List.of(TestFilters.denyMentioningAsync("forbidden", 30)));
    }

    @AfterAll
    static void stop() {
        syncProxy.close();
        asyncProxy.close();
    }

    @BeforeEach
    void resetTables() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS forbidden, ledger");
            s.execute("CREATE TABLE forbidden (id int)");
            s.execute("INSERT INTO forbidden VALUES (1), (2), (3)");
            s.execute("CREATE TABLE ledger (id int)");
        }
        syncProxy.records.clear();
        asyncProxy.records.clear();
    }

    static RunningProxy proxy(String which) {
        return which.equals("sync") ? syncProxy : asyncProxy;
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedSimpleQueryNeverRunsAndSessionContinues(String which) throws Exception {
        RunningProxy proxy = proxy(which);
        try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.execute("DELETE FROM forbidden"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> {
                        SQLException se = (SQLException) e;
                        assertThat(se.getSQLState()).isEqualTo("42501");
                        assertThat(se.getMessage()).contains("no-forbidden").contains("test-policy");
                    });
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM ledger")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
        }
        assertRowsStillThere();
        await().atMost(5, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                .anyMatch(r -> r.verdict().decision() == Decision.DENY));
        ExecutionRecord denied = proxy.records.stream().filter(r -> r.verdict().decision() == Decision.DENY)
                .findFirst().orElseThrow();
        assertThat(denied.executed()).isFalse();
        assertThat(denied.verdict().rule()).isEqualTo("no-forbidden");
        assertThat(denied.statement().normalized()).isEqualTo("delete from forbidden");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedStatementInMultiStatementQueryStopsTheWholeMessage(String which) throws Exception {
        try (Connection c = proxy(which).connect("preferQueryMode=simple"); Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.execute("INSERT INTO ledger VALUES (1); DELETE FROM forbidden; "
                    + "INSERT INTO ledger VALUES (2)"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
        }
        assertLedger(0);
        assertRowsStillThere();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedStatementInTransactionAbortsItLikeAServerError(String which) throws Exception {
        try (Connection c = proxy(which).connect("preferQueryMode=simple")) {
            c.setAutoCommit(false);
            Statement s = c.createStatement();
            s.execute("INSERT INTO ledger VALUES (10)");
            assertThatThrownBy(() -> s.execute("DELETE FROM forbidden"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            // the transaction is failed, exactly as after a server-side error
            assertThatThrownBy(() -> s.execute("INSERT INTO ledger VALUES (11)"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25P02"));
            c.commit(); // COMMIT of a failed transaction rolls back
            c.setAutoCommit(true);
            try (ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
        }
        assertLedger(0);
        assertRowsStillThere();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedParseInExtendedProtocolKeepsSessionUsable(String which) throws Exception {
        try (Connection c = proxy(which).connect("prepareThreshold=1")) {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM forbidden WHERE id = ?")) {
                ps.setInt(1, 1);
                assertThatThrownBy(ps::executeUpdate)
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            }
            try (PreparedStatement ok = c.prepareStatement("INSERT INTO ledger VALUES (?)")) {
                ok.setInt(1, 5);
                assertThat(ok.executeUpdate()).isEqualTo(1);
            }
        }
        assertLedger(1);
        assertRowsStillThere();
    }

    /**
     * libpq's way (PQprepare, then PQexecPrepared: each with its own Sync): after a blocked Parse, a Bind of the name
     * says the statement does not exist because its Parse was blocked, not that it was never prepared with Parse.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void bindingAStatementWhoseParseWasBlockedSaysSo(String which) throws Exception {
        try (RawPg.Session s = new RawPg.Session(proxy(which).port())) {
            s.send(RawPg.message('P', RawPg.parse("s1", "DELETE FROM forbidden WHERE id = $1")));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42501\0"));
            s.send(RawPg.message('B', "\0s1\0\0\0\0\0\0\0"));
            s.send(RawPg.message('E', "\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            List<String> bound = s.untilReady();
            assertThat(bound).anyMatch(m -> m.startsWith("E") && m.contains("C26000\0")
                    && m.contains("\"s1\" does not exist: the proxy blocked its Parse"));
            assertThat(bound.get(bound.size() - 1)).isEqualTo("ZI");
            // a name never prepared still gets the other explanation
            s.send(RawPg.message('B', "\0s2\0\0\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).anyMatch(m -> m.contains("C26000\0")
                    && m.contains("\"s2\" was not prepared with Parse in this session"));
        }
        assertRowsStillThere();
    }


    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedStatementInBatchRollsBackTheWholeBatch(String which) throws Exception {
        try (Connection c = proxy(which).connect(""); Statement s = c.createStatement()) {
            s.addBatch("INSERT INTO ledger VALUES (1)");
            s.addBatch("INSERT INTO ledger VALUES (2)");
            s.addBatch("DELETE FROM forbidden");
            s.addBatch("INSERT INTO ledger VALUES (3)");
            assertThatThrownBy(s::executeBatch).isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(e.getMessage()).contains("no-forbidden"));
            try (ResultSet rs = s.executeQuery("SELECT 2")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
        }
        assertLedger(0); // an extended-protocol batch is one implicit transaction: nothing of it stays
        assertRowsStillThere();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void blockedStatementInsideExplicitTransactionWithExtendedProtocol(String which) throws Exception {
        try (Connection c = proxy(which).connect("")) {
            c.setAutoCommit(false);
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO ledger VALUES (?)")) {
                ins.setInt(1, 1);
                ins.executeUpdate();
            }
            assertThatThrownBy(() -> c.prepareStatement("TRUNCATE forbidden").execute())
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            assertThatThrownBy(() -> c.createStatement().execute("SELECT 1"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("25P02"));
            c.rollback();
            try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM ledger")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
            c.commit();
        }
        assertRowsStillThere();
    }

    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void manyInterleavedAllowedAndBlockedStatementsStayInOrder(String which) throws Exception {
        try (Connection c = proxy(which).connect("")) {
            for (int i = 0; i < 40; i++) {
                if (i % 3 == 0) {
                    assertThatThrownBy(() -> c.createStatement().executeQuery("SELECT * FROM forbidden"))
                            .isInstanceOf(SQLException.class);
                } else {
                    try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1")) {
                        ps.setInt(1, i);
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            assertThat(rs.getInt(1)).isEqualTo(i + 1);
                        }
                    }
                }
            }
        }
    }

    /**
     * A statement held in the proxy (its verdict, e.g. an approval, is still pending) is invisible to the server, so
     * the client's cancel must cancel it in the proxy: 57014 at once, and it never runs, even when the verdict
     * would have allowed it.
     */
    @org.junit.jupiter.api.Test
    void cancelWhileAStatementAwaitsItsVerdictCancelsItInTheProxy() throws Exception {
        try (RunningProxy slow = RunningProxy.start(List.of(TestFilters.denyMentioningAsync("forbidden", 3_000)));
             Connection c = slow.connect(); Statement s = c.createStatement()) {
            Thread canceller = new Thread(() -> {
                try {
                    Thread.sleep(500);
                    s.cancel();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            canceller.start();
            long start = System.nanoTime();
            assertThatThrownBy(() -> s.execute("INSERT INTO ledger VALUES (42)"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"))
                    .hasMessageContaining("canceling statement due to user request");
            canceller.join();
            // answered when the verdict came (3 s), not after a server round trip of the statement
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(10_000);
            await().atMost(5, TimeUnit.SECONDS).until(() -> slow.records.stream()
                    .anyMatch(r -> r.statement().normalized().startsWith("insert into ledger")));
            assertThat(slow.records).filteredOn(r -> r.statement().normalized().startsWith("insert into ledger"))
                    .singleElement().satisfies(r -> {
                        assertThat(r.executed()).isFalse();
                        assertThat(r.errorSqlState()).isEqualTo("57014");
                    });
            assertLedger(0);
            // the session goes on, and a later statement is not affected by the earlier cancel
            s.execute("INSERT INTO ledger VALUES (1)");
            assertLedger(1);
        }
    }

    /** The query length from which the proxy splits texts on a worker (ClientRelay.OFFLOADED_SPLIT_LENGTH). */
    private static final int OFFLOADED = 256 * 1024;

    /** {@code INSERT INTO ledger VALUES (1), (2), ...}: long enough to be split off the event loop. */
    private static String hugeInsert(int rows) {
        StringBuilder sb = new StringBuilder("INSERT INTO ledger VALUES (1)");
        for (int i = 2; i <= rows; i++) {
            sb.append(", (").append(i).append(')');
        }
        return sb.toString();
    }

    /**
     * Query texts of hundreds of kilobytes are split on a worker while the session's reads pause; they are decided
     * and executed exactly like short ones, in both protocols, and the session goes on with what it sent meanwhile.
     */
    @ParameterizedTest
    @ValueSource(strings = {"sync", "async"})
    void hugeQueryTextsAreDecidedAndRunLikeShortOnes(String which) throws Exception {
        String insert = hugeInsert(40_000);
        assertThat(insert.length()).isGreaterThan(OFFLOADED);
        RunningProxy proxy = proxy(which);
        try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement()) {
            assertThat(s.execute(insert + "; SELECT count(*) FROM ledger")).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(40_000);
            assertThat(s.getMoreResults()).isTrue();
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(40_000);
            }
            // a blocked statement after a huge one stops the whole message, as for a short text
            assertThatThrownBy(() -> s.execute(insert + "; DELETE FROM forbidden"))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM ledger")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(40_000);
            }
        }
        // extended protocol: Bind/Execute/Sync arrive with the Parse and wait for its split
        try (Connection c = proxy.connect("prepareThreshold=1")) {
            StringBuilder list = new StringBuilder("1");
            for (int i = 2; i <= 60_000; i++) {
                list.append(", ").append(i);
            }
            String in = "SELECT count(*) FROM ledger WHERE id = ? AND id IN (" + list + ")";
            assertThat(in.length()).isGreaterThan(OFFLOADED);
            try (PreparedStatement ps = c.prepareStatement(in)) {
                ps.setInt(1, 7);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(1);
                }
            }
            String delete = in.replace("SELECT count(*) FROM ledger", "DELETE FROM forbidden");
            try (PreparedStatement ps = c.prepareStatement(delete)) {
                ps.setInt(1, 1);
                assertThatThrownBy(ps::executeUpdate)
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
        }
        assertLedger(40_000);
        assertRowsStillThere();
        assertThat(proxy.records).anySatisfy(r -> assertThat(r.statement().normalized())
                .startsWith("insert into ledger values (?), (?)").doesNotContain("40000"));
    }

    private static void assertRowsStillThere() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
             ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM forbidden")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(3);
        }
    }

    private static void assertLedger(int expected) throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
             ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FROM ledger")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(expected);
        }
    }
}
