package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Blast-radius limits through the proxy against real PostgreSQL, for the simple and the extended protocol, in
 * autocommit and inside transactions: within the limit the change stays; above it nothing changes, the client gets
 * SQLSTATE 54000, and the session is exactly where a server error would have left it.
 */
@ExtendWith(LeakDetection.class)
class BlastRadiusTest {
    @TempDir
    Path dir;

    private RunCommand.Running proxy;
    private Path audit;

    @BeforeEach
    void start() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS br_items");
            s.execute("CREATE TABLE br_items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)");
            s.execute("INSERT INTO br_items SELECT g, 0 FROM generate_series(1, 10) g");
        }
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: bounded
                  namespace: test
                spec:
                  subjects:
                    - identity: test/app
                  defaultAction: allow
                  allowUnparsedStatements: true
                  rules:
                    - name: at-most-three
                      match:
                        statements: [UPDATE, DELETE]
                        tables: ["public.br_items"]
                      action: allow
                      maxAffectedRows: 3
                """);
        audit = dir.resolve("audit.jsonl");
        proxy = CliProxy.start(dir, policy, "test/app");
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private Connection connect(String mode) throws SQLException {
        return CliProxy.connect(proxy, "socketTimeout=10&preferQueryMode=" + mode);
    }

    private static int changed() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM br_items WHERE v <> 0")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static int remaining() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM br_items")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /** True when no session of the test database sits in an open transaction (the proxy left none behind). */
    private static boolean autocommitted(Statement s) throws SQLException {
        s.executeQuery("SELECT 1").close(); // the session is usable
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement d = c.createStatement();
             ResultSet rs = d.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     + "AND state LIKE 'idle in transaction%'")) {
            rs.next();
            return rs.getInt(1) == 0;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void autocommitKeepsSmallChangesAndRollsBackLargeOnes(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            assertThat(s.executeUpdate("UPDATE br_items SET v = 1 WHERE id <= 3")).isEqualTo(3);
            assertThat(changed()).isEqualTo(3); // committed: visible to another session
            assertThatThrownBy(() -> s.executeUpdate("UPDATE br_items SET v = 2"))
                    .isInstanceOfSatisfying(SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("54000");
                        assertThat(e.getMessage()).contains("would change 10 rows").contains("the 3 that rule "
                                + "\"at-most-three\" of policy \"bounded\" allows").contains("rolled back");
                    });
            assertThatThrownBy(() -> s.executeUpdate("DELETE FROM br_items WHERE id > 2"))
                    .hasMessageContaining("would change 8 rows");
            assertThat(changed()).isEqualTo(3);
            assertThat(remaining()).isEqualTo(10);
            // the session is usable and not left inside the proxy's transaction
            assertThat(autocommitted(s)).isTrue();
            assertThat(s.executeUpdate("DELETE FROM br_items WHERE id = 10")).isEqualTo(1);
            assertThat(remaining()).isEqualTo(9);
            assertThat(autocommitted(s)).isTrue();
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(Files.readAllLines(audit))
                .anySatisfy(l -> assertThat(l).contains("\"errorCode\":\"54000\"").contains("\"rule\":\"at-most-three\"")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void insideATransactionAnOversizedChangeFailsTheTransactionLikeAServerError(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            assertThat(s.executeUpdate("UPDATE br_items SET v = 1 WHERE id = 1")).isEqualTo(1);
            assertThat(s.executeUpdate("UPDATE br_items SET v = 1 WHERE id IN (2, 3)")).isEqualTo(2);
            c.commit();
            assertThat(changed()).isEqualTo(3);

            assertThat(s.executeUpdate("UPDATE br_items SET v = 5 WHERE id = 4")).isEqualTo(1);
            assertThatThrownBy(() -> s.executeUpdate("UPDATE br_items SET v = 9 WHERE id > 4"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("54000"));
            assertThatThrownBy(() -> s.executeQuery("SELECT 1")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("25P02")); // in failed transaction, as on any error
            c.rollback();
            assertThat(changed()).isEqualTo(3); // the whole failed transaction rolled back
            assertThat(s.executeUpdate("DELETE FROM br_items WHERE id = 9")).isEqualTo(1);
            c.commit();
            assertThat(remaining()).isEqualTo(9);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void aLimitedStatementThatFailsByItselfLeavesTheSessionClean(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.executeUpdate("UPDATE br_items SET v = 1 / (id - id) WHERE id = 1"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22012"));
            assertThat(autocommitted(s)).isTrue();
            assertThat(s.executeUpdate("UPDATE br_items SET v = 1 WHERE id = 1")).isEqualTo(1);
            assertThat(changed()).isEqualTo(1);
        }
    }

    @Test
    void aLimitedStatementMustBeSentOnItsOwn() throws Exception {
        try (Connection c = connect("simple"); Statement s = c.createStatement()) {
            assertThatThrownBy(() -> s.execute("SELECT 1; DELETE FROM br_items WHERE id = 1"))
                    .isInstanceOfSatisfying(SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("0A000");
                        assertThat(e.getMessage()).contains("send it as a query of its own");
                    });
            assertThat(remaining()).isEqualTo(10);
            assertThat(autocommitted(s)).isTrue();
        }
    }

    /**
     * "BEGIN; <limited statement>; ...; COMMIT" in one query string (psql -c, scripts): the limited statement is
     * guarded by a savepoint and the rest runs after it, as the server would have run the string.
     */
    @Test
    void aLimitedStatementInsideATransactionOfOneQueryString() throws Exception {
        try (Connection c = connect("simple"); Statement s = c.createStatement()) {
            // a line comment ends the statement after it: the separator of the rest must not be commented out
            assertThat(s.execute("BEGIN; UPDATE br_items SET v = 1 WHERE id <= 2; SELECT count(*) FROM br_items "
                    + "WHERE v = 1 -- the changed rows\n; COMMIT")).isFalse();
            assertThat(s.getUpdateCount()).isZero(); // BEGIN
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(2);
            assertThat(s.getMoreResults()).isTrue();
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                assertThat(rs.getInt(1)).as("the statements after it see its rows").isEqualTo(2);
            }
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isZero(); // COMMIT
            assertThat(changed()).isEqualTo(2);
            assertThat(autocommitted(s)).isTrue();
            // a trailing semicolon and a comment after the last statement are no statements
            s.execute("BEGIN; UPDATE br_items SET v = 1 WHERE id = 3; COMMIT; -- done");
            assertThat(changed()).isEqualTo(3);
            s.execute("UPDATE br_items SET v = 0 WHERE id = 3");
            assertThat(autocommitted(s)).isTrue();

            // over the limit: an error like the server's, the rest not run, the transaction failed until ROLLBACK
            assertThatThrownBy(() -> s.execute("BEGIN; UPDATE br_items SET v = 2; INSERT INTO br_items VALUES (11, 0); "
                    + "COMMIT")).isInstanceOfSatisfying(SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("54000");
                        assertThat(e.getMessage()).contains("would change 10 rows");
                    });
            assertThatThrownBy(() -> s.executeQuery("SELECT 1")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            s.execute("ROLLBACK");
            assertThat(changed()).isEqualTo(2);
            assertThat(remaining()).isEqualTo(10);
            assertThat(autocommitted(s)).isTrue();
            // statements between BEGIN and it run first, as a query of their own
            assertThat(s.execute("BEGIN; SET LOCAL lock_timeout = '5s'; SELECT count(*) FROM br_items; "
                    + "UPDATE br_items SET v = 4 WHERE id = 5; COMMIT")).isFalse();
            assertThat(s.getMoreResults()).isFalse(); // SET
            assertThat(s.getMoreResults()).isTrue();
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(10);
            }
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(1);
            assertThat(changed()).isEqualTo(3);
            assertThat(autocommitted(s)).isTrue();
            // one of them fails: the rest does not run, the transaction is failed as the server leaves it
            assertThatThrownBy(() -> s.execute("BEGIN; SELECT 1 / (id - id) FROM br_items; UPDATE br_items SET v = 5 "
                    + "WHERE id = 6; COMMIT")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("22012"));
            assertThatThrownBy(() -> s.executeQuery("SELECT 1")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            s.execute("ROLLBACK");
            assertThat(changed()).isEqualTo(3);
            // and over the limit after them
            assertThatThrownBy(() -> s.execute("BEGIN; SELECT 1; DELETE FROM br_items; COMMIT"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("54000"));
            s.execute("ROLLBACK");
            assertThat(remaining()).isEqualTo(10);
            assertThat(autocommitted(s)).isTrue();
            // a COPY before it is refused: its data could not get through while the proxy holds the client's
            // messages (a COPY after it can)
            assertThatThrownBy(() -> s.execute("BEGIN; COPY br_items FROM STDIN; DELETE FROM br_items WHERE id = 1; "
                    + "COMMIT")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("0A000"));
            assertThat(autocommitted(s)).isTrue();
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(Files.readAllLines(audit))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"insert into br_items values (?, ?)\"")
                        .contains("\"executed\":false").contains("row-limited statement before it"))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"commit\"").contains("\"executed\":true"))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"update br_items set v = ? where id = ?\"")
                        .contains("\"executed\":false").contains("a statement before it in the same query failed")));
    }

    /**
     * Several row-limited statements in one transaction string: each guarded in turn, the statements between them run
     * as queries of their own; one over its limit rolls back only itself and stops the rest, as a server error would.
     */
    @Test
    void severalLimitedStatementsInOneTransactionString() throws Exception {
        try (Connection c = connect("simple"); Statement s = c.createStatement()) {
            assertThat(s.execute("BEGIN; UPDATE br_items SET v = 3 WHERE id <= 2; UPDATE br_items SET v = 4 "
                    + "WHERE id = 3; SELECT sum(v) FROM br_items; DELETE FROM br_items WHERE id = 10; "
                    + "SELECT count(*) FROM br_items; COMMIT")).isFalse();
            assertThat(s.getUpdateCount()).isZero(); // BEGIN
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(2);
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(1);
            assertThat(s.getMoreResults()).isTrue();
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                assertThat(rs.getInt(1)).as("after both updates").isEqualTo(10);
            }
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(1);
            assertThat(s.getMoreResults()).isTrue();
            try (ResultSet rs = s.getResultSet()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(9);
            }
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isZero(); // COMMIT
            assertThat(s.getMoreResults()).isFalse();
            assertThat(s.getUpdateCount()).isEqualTo(-1);
            assertThat(changed()).isEqualTo(3);
            assertThat(remaining()).isEqualTo(9);
            assertThat(autocommitted(s)).isTrue();

            // the second over its limit: rolled back, the rest not run, the transaction failed until ROLLBACK
            assertThatThrownBy(() -> s.execute("BEGIN; UPDATE br_items SET v = 5 WHERE id = 4; SELECT 1; "
                    + "DELETE FROM br_items; INSERT INTO br_items VALUES (11, 0); COMMIT"))
                    .isInstanceOfSatisfying(SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("54000");
                        assertThat(e.getMessage()).contains("would change 9 rows");
                    });
            assertThatThrownBy(() -> s.executeQuery("SELECT 1")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            s.execute("ROLLBACK");
            assertThat(changed()).isEqualTo(3);
            assertThat(remaining()).isEqualTo(9);
            assertThat(autocommitted(s)).isTrue();
            // a statement between them fails: the next limited one does not run
            assertThatThrownBy(() -> s.execute("BEGIN; UPDATE br_items SET v = 6 WHERE id = 5; SELECT 1 / 0; "
                    + "UPDATE br_items SET v = 6 WHERE id = 6; COMMIT")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("22012"));
            s.execute("ROLLBACK");
            assertThat(changed()).isEqualTo(3);
            // a COPY before the last limited one is still refused (its data would wait behind the guard)
            assertThatThrownBy(() -> s.execute("BEGIN; UPDATE br_items SET v = 7 WHERE id = 7; COPY br_items FROM "
                    + "STDIN; DELETE FROM br_items WHERE id = 1; COMMIT")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("0A000"));
            assertThat(changed()).isEqualTo(3);
            assertThat(autocommitted(s)).isTrue();
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(Files.readAllLines(audit))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"insert into br_items values (?, ?)\"")
                        .contains("\"executed\":false").contains("row-limited statement before it"))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"update br_items set v = ? where id = ?\"")
                        .contains("\"executed\":false").contains("a statement before it in the same query failed")));
    }

    /** The real psql with -c, which sends the whole string as one query. */
    @Test
    void psqlRunsAGuardedTransactionString() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/psql")),
                "psql is not installed");
        ProcessBuilder pb = new ProcessBuilder("/usr/bin/psql", "-X", "-At", "-h", "127.0.0.1", "-p",
                String.valueOf(proxy.server().port()), "-U", "app", "-d", EmbeddedPg.DATABASE, "-c",
                "BEGIN; SET LOCAL lock_timeout = '5s'; UPDATE br_items SET v = 7 WHERE id IN (1, 2); "
                        + "SELECT sum(v) FROM br_items; COMMIT");
        pb.environment().put("PGSSLMODE", "disable");
        pb.environment().remove("PGPASSWORD");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        p.getOutputStream().close();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("14");
        assertThat(changed()).isEqualTo(2);
    }

    @Test
    void unlimitedStatementsAreNotWrapped() throws Exception {
        try (Connection c = connect("extended"); Statement s = c.createStatement()) {
            s.execute("CREATE TEMP TABLE scratch AS SELECT g FROM generate_series(1, 50) g");
            assertThat(s.executeUpdate("DELETE FROM scratch")).isEqualTo(50); // no rule limits this table
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void rowsAStatementChangesWithoutCountingThemCannotEscapeTheLimit(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            // EXPLAIN ANALYZE runs the delete but reports "EXPLAIN"; a write in WITH is not in the main statement's count
            for (String sql : new String[] {"EXPLAIN ANALYZE DELETE FROM br_items",
                    "EXPLAIN (ANALYZE, COSTS OFF) UPDATE br_items SET v = 1",
                    "WITH d AS (DELETE FROM br_items RETURNING id) DELETE FROM br_items WHERE id = 1"}) {
                assertThatThrownBy(() -> s.execute(sql)).as(sql).hasMessageContaining("row-limited")
                        .hasMessageContaining("run the UPDATE or DELETE as a statement of its own");
            }
            assertThat(remaining()).isEqualTo(10);
            assertThat(changed()).isZero();
            // a plain EXPLAIN runs nothing and stays allowed
            assertThat(s.execute("EXPLAIN DELETE FROM br_items")).isTrue();
            assertThat(remaining()).isEqualTo(10);
            assertThat(autocommitted(s)).isTrue();
        }
    }
}
