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
 * statement with bind parameters asks at each Bind, for the statement with the values bound. The approval service
 * here approves a fixed number of requests, as ChangeApprovals with that many uses would.
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
    private final List<io.dbwarden.proxy.filter.StatementContext> contexts =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private StatementAnalyzer analyzer;
    private PolicyFilter policy;
    private RunningProxy proxy;

    @BeforeEach
    void start() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS appr_rows", "CREATE TABLE appr_rows (id int)");
        PolicyEngine engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
        policy = new PolicyFilter(engine, analyzer, 1000);
        int approvals = 2; // what the approvers granted: two runs
        policy.approvals((context, held, compiled) -> CompletableFuture.completedFuture(
                contexts.add(context) && asked.incrementAndGet() <= approvals
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
        assertThat(rows()).isEqualTo("1,1");
    }

    /**
     * A statement with bind parameters is prepared without an approval; each Bind asks for one of the statement with
     * the values it binds (their digest is part of what the approval covers), before the server plans it.
     */
    @Test
    void eachBindOfAStatementWithParametersAsksForAnApprovalOfItsValues() throws Exception {
        try (Connection c = proxy.connect("prepareThreshold=1");
             PreparedStatement insert = c.prepareStatement("INSERT INTO appr_rows VALUES (?)")) {
            insert.setInt(1, 7);
            assertThat(insert.executeUpdate()).isEqualTo(1);
            assertThat(asked).as("asked at the Bind, not at the Parse").hasValue(1);
            insert.setInt(1, 8);
            assertThat(insert.executeUpdate()).isEqualTo(1);
            assertThat(asked).hasValue(2);
            insert.setInt(1, 9);
            assertThatThrownBy(insert::executeUpdate).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("42501");
                assertThat(e.getMessage()).contains("inserts-need-approval");
            });
            assertThat(asked).hasValue(3);
        }
        assertThat(contexts).hasSize(3).allSatisfy(ctx -> assertThat(ctx.boundValues().digest()).hasSize(32));
        String text = contexts.get(0).statement().text();
        List<String> hashes = contexts.stream()
                .map(ctx -> OperatorApprovals.sha256(text, ctx.boundValues().digest())).toList();
        assertThat(hashes).as("each approval covers other values").doesNotHaveDuplicates()
                .doesNotContain(OperatorApprovals.sha256(text));
        assertThat(rows()).isEqualTo("7,8");
    }

    /**
     * Over the raw protocol: two portals of one statement with other values each ask at their Bind; a Bind of the
     * same values as an approved one asks again once that run has run (an approval is one use); the same values give
     * the same digest, so a retry finds the approval its first attempt asked for.
     */
    @Test
    void portalsAskWithTheirOwnValuesAndTheSameValuesGiveTheSameDigest() throws Exception {
        try (RawPg.Session s = new RawPg.Session(proxy.port())) {
            s.send(RawPg.message('P', RawPg.parse("s", "INSERT INTO appr_rows VALUES ($1::int)")));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            assertThat(asked).as("nothing asked at the Parse").hasValue(0);
            // in a transaction block, so that the portals outlive the Sync that shows what their Binds asked
            s.send(RawPg.message('Q', "BEGIN\0"));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            s.send(RawPg.message('B', bindText("p1", "s", "1")));
            s.send(RawPg.message('B', bindText("p2", "s", "2")));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            assertThat(asked).as("one approval per Bind, each of its own values").hasValue(2);
            s.send(RawPg.message('E', "p1\0\0\0\0\0"));
            s.send(RawPg.message('E', "p2\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E")).filteredOn(m -> m.startsWith("C"))
                    .hasSize(2);
            assertThat(asked).as("the runs asked nothing more").hasValue(2);
            s.send(RawPg.message('Q', "COMMIT\0"));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            s.send(RawPg.message('B', bindText("", "s", "1")));
            s.send(RawPg.message('E', "\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42501\0"))
                    .noneMatch(m -> m.startsWith("2"));
            assertThat(asked).hasValue(3);
        }
        assertThat(contexts.get(2).boundValues().digest()).as("the same values bound again").isEqualTo(
                contexts.get(0).boundValues().digest()).isNotEqualTo(contexts.get(1).boundValues().digest());
        assertThat(rows()).isEqualTo("1,2");
    }

    /**
     * A portal bound while its statement needed no approval, run after a policy change makes it need one of its
     * values: the values were not kept, so the run is refused; bound again, it asks with them.
     */
    @Test
    void aPortalBoundBeforeItsStatementNeededAnApprovalOfItsValuesIsRefused() throws Exception {
        PolicyEngine strict = policy.engine();
        policy.update(PolicyEngine.of(PolicyLoader.parse(POLICY.replace("action: requireApproval", "action: allow"),
                "test"), "test/app"));
        try (RawPg.Session s = new RawPg.Session(proxy.port())) {
            s.send(RawPg.message('Q', "BEGIN\0"));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            s.send(RawPg.message('P', RawPg.parse("s", "INSERT INTO appr_rows VALUES ($1::int)")));
            s.send(RawPg.message('B', bindText("p1", "s", "5")));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
            policy.update(strict);
            s.send(RawPg.message('E', "p1\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42501\0")
                    && m.contains("bound before")).noneMatch(m -> m.startsWith("C"));
            assertThat(asked).hasValue(0);
            s.send(RawPg.message('Q', "ROLLBACK\0"));
            s.untilReady();
            s.send(RawPg.message('B', bindText("", "s", "5")));
            s.send(RawPg.message('E', "\0\0\0\0\0"));
            s.send(RawPg.message('S', ""));
            assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E")).anyMatch(m -> m.startsWith("C"));
            assertThat(asked).hasValue(1);
        }
        assertThat(rows()).isEqualTo("5");
    }

    /**
     * The same value bytes bound to the same text prepared with other declared parameter types are another value (8
     * bytes are one number as int8, another as float8): another approval.
     */
    @Test
    void theParameterTypesThePrepareDeclaredArePartOfWhatIsApproved() throws Exception {
        byte[] value = java.nio.ByteBuffer.allocate(8).putLong(5).array();
        try (RawPg.Session s = new RawPg.Session(proxy.port())) {
            for (int type : new int[] {20, 701, 20}) {
                java.io.ByteArrayOutputStream parse = new java.io.ByteArrayOutputStream();
                parse.writeBytes(RawPg.cstrings("", "INSERT INTO appr_rows SELECT 1 WHERE $1 IS NOT NULL"));
                parse.writeBytes(java.nio.ByteBuffer.allocate(6).putShort((short) 1).putInt(type).array());
                java.io.ByteArrayOutputStream bind = new java.io.ByteArrayOutputStream();
                bind.writeBytes(RawPg.cstrings("", ""));
                bind.writeBytes(java.nio.ByteBuffer.allocate(2 + 2 + 2 + 4 + 8 + 2).putShort((short) 1)
                        .putShort((short) 1).putShort((short) 1).putInt(8).put(value).putShort((short) 0).array());
                s.send(RawPg.message('P', parse.toByteArray()), RawPg.message('B', bind.toByteArray()),
                        RawPg.message('E', "\0\0\0\0\0"), RawPg.message('S', ""));
                s.untilReady();
            }
        }
        assertThat(contexts).hasSize(3);
        assertThat(contexts.get(0).boundValues().digest()).as("int8, then float8")
                .isNotEqualTo(contexts.get(1).boundValues().digest())
                .as("int8 again").isEqualTo(contexts.get(2).boundValues().digest());
        assertThat(rows()).as("two approvals, two runs; the third was refused").isEqualTo("1,1");
    }

    /** A simple query has no Bind: $1 in it has no values, nothing an approval could cover. */
    @Test
    void aSimpleQueryWithParameterSymbolsIsNotPutToApproval() throws Exception {
        try (RawPg.Session s = new RawPg.Session(proxy.port())) {
            s.send(RawPg.message('Q', "INSERT INTO appr_rows VALUES ($1)\0"));
            assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42501\0")
                    && m.contains("no values bound"));
        }
        assertThat(asked).hasValue(0);
    }

    /** A Bind body: portal, statement, text format for all, one parameter, no result format codes. */
    private static String bindText(String portal, String statement, String value) {
        return portal + "\0" + statement + "\0\0\0\0\1" + new String(java.nio.ByteBuffer.allocate(4)
                .putInt(value.length()).array(), java.nio.charset.StandardCharsets.ISO_8859_1) + value + "\0\0";
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

    /** The ids in appr_rows, in order, comma-separated (null: none), read directly. */
    private static String rows() throws SQLException {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT string_agg(id::text, ',' ORDER BY id) FROM appr_rows")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
