package io.dbwarden.proxy.approval;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An approval covers one run of one exact statement text, in the extended protocol too: a statement prepared with
 * Parse (a driver's server-side prepared statement) asks for an approval again at each run after the first, and a
 * statement with bind parameters is not put to approval at all (an approval of its text would not cover the values
 * a later Bind supplies). The approval service here approves a fixed number of requests, as ChangeApprovals with
 * that many uses would.
 */
@ExtendWith(LeakDetection.class)
class PreparedApprovalTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata: {name: reviewed-inserts, namespace: test}
            spec:
              subjects: [{identity: "*/*"}]
              defaultAction: allow
              rules:
                - name: inserts-need-approval
                  match: {statements: [INSERT], tables: ["public.appr_rows"]}
                  action: requireApproval
                - name: routines-need-approval
                  match: {statements: [CREATE]}
                  action: requireApproval
            """;

    private final AtomicInteger asked = new AtomicInteger();
    private StatementAnalyzer analyzer;
    private RunningProxy proxy;

    @BeforeEach
    void start() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS appr_rows", "CREATE TABLE appr_rows (id int)");
        PolicyEngine engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
        PolicyFilter policy = new PolicyFilter(engine, analyzer, 1000);
        int approvals = 2; // what the approvers granted: two runs
        policy.approvals((context, held, compiled) -> CompletableFuture.completedFuture(
                asked.incrementAndGet() <= approvals
                        ? Verdict.approved(held.policy(), held.rule(), "approved: test")
                        : Verdict.deny(held.policy(), held.rule(), "approval used up", held.error())));
        proxy = RunningProxy.start(c -> c.withIdentity("test/app"), List.of(policy), engine::sessionSettings);
    }

    @AfterEach
    void stop() {
        proxy.close();
        analyzer.close();
    }

    @Test
    void aPreparedStatementAsksForAnApprovalAtEachRun() throws Exception {
        // prepareThreshold=1: a named server-side statement, so runs after the first are Bind and Execute only
        try (Connection c = proxy.connect("prepareThreshold=1");
             PreparedStatement insert = c.prepareStatement("INSERT INTO appr_rows VALUES (1)")) {
            assertThat(insert.executeUpdate()).isEqualTo(1);
            assertThat(insert.executeUpdate()).as("a second approval, asked for at this run").isEqualTo(1);
            assertThat(asked).hasValue(2);
            assertThatThrownBy(insert::executeUpdate).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("42501");
                assertThat(e.getMessage()).contains("inserts-need-approval");
            });
            assertThat(asked).hasValue(3);
            // the session goes on
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM appr_rows")) {
                rs.next();
                assertThat(rs.getInt(1)).as("one row per approval, none for the refused run").isEqualTo(2);
            }
        }
    }

    /** Two portals bound to one approved statement before either runs: the approval covers the first run only. */
    @Test
    void theApprovalOfAParseCoversOnePortalsRun() throws Exception {
        try (RawPg.Session s = new RawPg.Session(proxy.port())) {
            s.send(RawPg.message('P', RawPg.parse("s", "INSERT INTO appr_rows VALUES (1)")));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            assertThat(asked).as("approved at the Parse").hasValue(1);
            s.send(RawPg.message('B', "p1\0s\0\0\0\0\0\0\0"));
            s.send(RawPg.message('B', "p2\0s\0\0\0\0\0\0\0"));
            s.send(RawPg.message('E', "p1\0\0\0\0\0"));
            s.send(RawPg.message('E', "p2\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E")).filteredOn(m -> m.startsWith("C"))
                    .hasSize(2);
            assertThat(asked).as("the second portal's run asked again").hasValue(2);
            s.send(RawPg.message('B', "\0s\0\0\0\0\0\0\0"));
            s.send(RawPg.message('E', "\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42501\0"));
            assertThat(asked).hasValue(3);
        }
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT count(*) FROM appr_rows")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(2);
        }
    }


    @Test
    void aStatementWithBindParametersIsNotPutToApproval() throws Exception {
        try (Connection c = proxy.connect("prepareThreshold=1");
             PreparedStatement insert = c.prepareStatement("INSERT INTO appr_rows VALUES (?)")) {
            insert.setInt(1, 7);
            assertThatThrownBy(insert::executeUpdate).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("42501");
                assertThat(e.getMessage()).contains("cannot take bind parameters");
            });
            assertThat(asked).as("no approval asked for").hasValue(0);
            // the same change with its value in its text can be approved and run
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO appr_rows VALUES (7)")).isEqualTo(1);
            }
            assertThat(asked).hasValue(1);
        }
    }

    /** $1 in a routine's body is the routine's parameter, not a bind parameter: such a definition is approved. */
    @Test
    void aRoutineWhoseBodyUsesItsParametersCanBeApproved() throws Exception {
        try (Connection c = proxy.connect(); Statement s = c.createStatement()) {
            s.execute("CREATE OR REPLACE FUNCTION appr_inc(int) RETURNS int LANGUAGE sql RETURN $1 + 1");
            assertThat(asked).hasValue(1);
            try (ResultSet rs = s.executeQuery("SELECT appr_inc(41)")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(42);
            }
        } finally {
            EmbeddedPg.execute("DROP FUNCTION IF EXISTS appr_inc(int)");
        }
    }
}
