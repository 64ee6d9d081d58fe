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
import org.postgresql.PGConnection;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Cursors (DECLARE/FETCH/MOVE/CLOSE), SQL-level prepared statements (PREPARE/EXECUTE) and COPY (query) TO through
 * the proxy, as psql's FETCH_COUNT, psycopg's named cursors or Django's iterator() use them: the policy judges
 * FETCH and EXECUTE by the query behind the name, with the same table rules as the query itself, blast-radius limits
 * and later policy changes included; a name the proxy has not seen defined is judged as unknown.
 */
@ExtendWith(LeakDetection.class)
class NamedQueriesTest {
    @TempDir
    Path dir;

    private RunCommand.Running proxy;
    private Path policy;

    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: named
              namespace: test
            spec:
              subjects:
                - identity: test/app
              defaultAction: deny
              rules:
                - name: reads
                  match:
                    statements: [SELECT]
                    tables: ["public.nq_items"]
                  action: allow
                - name: exports
                  match:
                    statements: [COPY, SELECT]
                    tables: ["public.nq_items"]
                  action: allow
                - name: one-row-deletes
                  match:
                    statements: [DELETE]
                    tables: ["public.nq_items"]
                  action: allow
                  maxAffectedRows: 1
                - name: updates-need-approval
                  match:
                    statements: [UPDATE]
                  action: requireApproval
                - name: housekeeping
                  match:
                    statements: [TRANSACTION, SET, SHOW]
                  action: allow
            %s""";

    @BeforeEach
    void start() throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS nq_items, nq_secrets");
            s.execute("CREATE TABLE nq_items (id int PRIMARY KEY, name text)");
            s.execute("INSERT INTO nq_items SELECT g, 'item ' || g FROM generate_series(1, 10) g");
            s.execute("CREATE TABLE nq_secrets (id int)");
            s.execute("CREATE OR REPLACE FUNCTION nq_open(r refcursor) RETURNS refcursor AS $$ BEGIN "
                    + "OPEN r FOR SELECT id FROM nq_items; RETURN r; END $$ LANGUAGE plpgsql");
        }
        policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY.formatted(""));
        proxy = CliProxy.start(dir, policy, "test/app", "--policy-reload-seconds", "1");
    }

    @AfterEach
    void stop() {
        proxy.close();
    }

    private Connection connect(String mode) throws SQLException {
        return CliProxy.connect(proxy, "socketTimeout=10&preferQueryMode=" + mode);
    }

    private static List<Integer> ids(Statement s, String sql) throws SQLException {
        List<Integer> ids = new ArrayList<>();
        try (ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                ids.add(rs.getInt(1));
            }
        }
        return ids;
    }

    private static int items() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM nq_items")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void cursorsOverAllowedTablesWork(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            // as Django's QuerySet.iterator() and psycopg's named cursors send them
            s.execute("DECLARE \"_django_curs_1\" NO SCROLL CURSOR WITHOUT HOLD FOR SELECT id FROM nq_items ORDER BY id");
            assertThat(ids(s, "FETCH FORWARD 3 FROM \"_django_curs_1\"")).containsExactly(1, 2, 3);
            s.execute("MOVE FORWARD 2 IN \"_django_curs_1\"");
            assertThat(ids(s, "FETCH NEXT FROM \"_django_curs_1\"")).containsExactly(6);
            s.execute("CLOSE \"_django_curs_1\"");
            c.commit();

            // a cursor on a table no rule allows is refused at DECLARE, and FETCH from it finds nothing to run
            assertThatThrownBy(() -> s.execute("DECLARE bad CURSOR FOR SELECT id FROM nq_secrets"))
                    .hasMessageContaining("denied");
            c.rollback();
            // a cursor the proxy did not see declared (opened by a function) is judged as unknown: no table rule
            // can allow it
            s.execute("SELECT nq_open('fn_cursor')");
            assertThatThrownBy(() -> s.executeQuery("FETCH ALL FROM fn_cursor")).hasMessageContaining("denied")
                    .hasMessageContaining("could not list every table");
            c.rollback();

            // WITH HOLD cursors outlive their transaction; the others end with it, in the proxy as in the server
            s.execute("DECLARE held CURSOR WITH HOLD FOR SELECT id FROM nq_items WHERE id > 8 ORDER BY id");
            s.execute("DECLARE gone CURSOR FOR SELECT id FROM nq_items ORDER BY id");
            c.commit();
            c.setAutoCommit(true);
            assertThat(ids(s, "FETCH ALL FROM held")).containsExactly(9, 10);
            assertThatThrownBy(() -> s.executeQuery("FETCH ALL FROM gone")).hasMessageContaining("denied");
            s.execute("CLOSE held");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"simple", "extended"})
    void preparedStatementsAreJudgedByWhatTheyRun(String mode) throws Exception {
        try (Connection c = connect(mode); Statement s = c.createStatement()) {
            s.execute("PREPARE one(int) AS SELECT id FROM nq_items WHERE id = $1");
            assertThat(ids(s, "EXECUTE one(4)")).containsExactly(4);
            s.execute("PREPARE del(int) AS DELETE FROM nq_items WHERE id <= $1");
            // within the rule's row limit the delete stays; above it nothing changes
            assertThat(s.executeUpdate("EXECUTE del(1)")).isEqualTo(1);
            assertThat(items()).isEqualTo(9);
            assertThatThrownBy(() -> s.executeUpdate("EXECUTE del(5)")).hasMessageContaining("one-row-deletes")
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("54000"));
            assertThat(items()).isEqualTo(9);
            s.execute("DEALLOCATE del");
            // unknown names (prepared by dynamic SQL in the server, or deallocated) are refused
            assertThatThrownBy(() -> s.executeUpdate("EXECUTE del(1)")).hasMessageContaining("denied");
            assertThat(items()).isEqualTo(9);
        }
        // the audit event of an EXECUTE names the query it ran
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(Files.readAllLines(dir.resolve("audit.jsonl")))
                .anySatisfy(l -> assertThat(l).contains("\"statement\":\"execute one(?)\"")
                        .contains("\"runs\":\"select id from nq_items where id = $1\"")
                        .contains("\"rule\":\"reads\"")));
    }

    @Test
    void aPolicyChangeReachesStatementsPreparedBeforeIt() throws Exception {
        try (Connection c = connect("simple"); Statement s = c.createStatement()) {
            s.execute("PREPARE del(int) AS DELETE FROM nq_items WHERE id = $1");
            assertThat(s.executeUpdate("EXECUTE del(10)")).isEqualTo(1);
            // the first rule now freezes deletes
            Files.writeString(policy, POLICY.formatted("").replace("  rules:\n", """
                      rules:
                        - name: freeze
                          match:
                            statements: [DELETE]
                          action: deny
                          message: deletes are frozen
                    """));
            // (probing with an id that does not exist: the probes before the reload delete nothing)
            await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThatThrownBy(() ->
                    s.executeUpdate("EXECUTE del(1000)")).hasMessageContaining("deletes are frozen"));
            assertThatThrownBy(() -> s.executeUpdate("EXECUTE del(9)")).hasMessageContaining("deletes are frozen");
            assertThat(items()).isEqualTo(9);
            assertThat(ids(s, "SELECT count(*) FROM nq_items")).containsExactly(9); // the session goes on
        }
    }

    @Test
    void statementsThatNeedApprovalAreNotDefinedUnderANameForLater() throws Exception {
        try (Connection c = connect("simple"); Statement s = c.createStatement()) {
            // an approval covers one exact statement that runs once: PREPARE only defines it, EXECUTE says nothing
            assertThatThrownBy(() -> s.execute("PREPARE up(int) AS UPDATE nq_items SET name = 'x' WHERE id = $1"))
                    .hasMessageContaining("cannot run through PREPARE/EXECUTE or a cursor")
                    .hasMessageContaining("Send the statement itself");
            // sent as itself it goes the approval way (here, without an approval service: refused as needing one)
            assertThatThrownBy(() -> s.execute("UPDATE nq_items SET name = 'x' WHERE id = 1"))
                    .hasMessageContaining("updates-need-approval").hasMessageNotContaining("PREPARE/EXECUTE");
        }
    }

    @Test
    void copyOfAQueryIsJudgedByItsTables() throws Exception {
        try (Connection c = connect("simple")) {
            StringWriter out = new StringWriter();
            ((PGConnection) c.unwrap(PGConnection.class)).getCopyAPI().copyOut(
                    "COPY (SELECT id FROM nq_items WHERE id <= 2 ORDER BY id) TO STDOUT", out);
            assertThat(out.toString()).isEqualTo("1\n2\n");
            StringWriter none = new StringWriter();
            assertThatThrownBy(() -> ((PGConnection) c.unwrap(PGConnection.class)).getCopyAPI().copyOut(
                    "COPY (SELECT id FROM nq_secrets) TO STDOUT", none)).hasMessageContaining("denied");
        }
    }
}
