package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A statement prepared under one policy and bound after a change that blocks it: the Bind itself is refused, before
 * the server plans the statement for a portal (planning can already evaluate functions), and the session goes on.
 * A Parse the server does not carry out (a name that exists, a failed batch) leaves the name to the statement the
 * server holds.
 */
@ExtendWith(LeakDetection.class)
class PreparedStatementPolicyChangeTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata: {name: changing, namespace: test}
            spec:
              subjects: [{identity: "*/*"}]
              defaultAction: allow
              rules: %s
            """;

    private StatementAnalyzer analyzer;
    private PolicyFilter policy;
    private RunningProxy proxy;
    private RawPg.Session s;

    /** A proxy with the open policy and a raw session through it, started up. */
    @BeforeEach
    void connect() throws Exception {
        PolicyEngine open = PolicyEngine.of(PolicyLoader.parse(POLICY.formatted("[]"), "test"), "test/app");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
        policy = new PolicyFilter(open, analyzer, 1000);
        proxy = RunningProxy.start(c -> c.withIdentity("test/app"), List.of(policy), open::sessionSettings);
        s = new RawPg.Session(proxy.port());
    }

    @AfterEach
    void close() throws Exception {
        s.close();
        proxy.close();
        analyzer.close();
    }

    @Test
    void aBindAfterAChangeThatBlocksTheStatementIsRefused() throws Exception {
        PolicyEngine closed = PolicyEngine.of(PolicyLoader.parse(POLICY.formatted("""

                    - name: no-clock
                      match: {functions: [pg_catalog.now]}
                      action: deny
                """), "test"), "test/app");
        s.send(RawPg.message('P', RawPg.parse("clock", "SELECT now()")));
        s.send(RawPg.message('B', "\0clock\0\0\0\0\0\0\0"));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E")).anyMatch(m -> m.startsWith("2"));

        policy.update(closed);
        s.send(RawPg.message('B', "\0clock\0\0\0\0\0\0\0"));
        s.send(RawPg.message('S', ""));
        List<String> bound = s.untilReady();
        assertThat(bound).as("no BindComplete: the server never got the Bind").noneMatch(m -> m.startsWith("2"))
                .anyMatch(m -> m.startsWith("E") && m.contains("C42501\0") && m.contains("no-clock"));
        assertThat(bound.get(bound.size() - 1)).isEqualTo("ZI");
        await().untilAsserted(() -> assertThat(proxy.records).anySatisfy(r -> {
            assertThat(r.statement().normalized()).isEqualTo("select now()");
            assertThat(r.verdict().decision()).isEqualTo(Decision.DENY);
            assertThat(r.executed()).isFalse();
        }));

        // the session goes on with what the policy allows
        s.send(RawPg.message('Q', "SELECT 1\0"));
        assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E")).anyMatch(m -> m.startsWith("D"));

        // a Parse of the name with an allowed text does not replace the statement: the server refuses it
        // (42P05, the name exists), so the name still runs now(), and a Bind of it is judged as that
        s.send(RawPg.message('P', RawPg.parse("clock", "SELECT 1")));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42P05\0"));
        s.send(RawPg.message('B', "\0clock\0\0\0\0\0\0\0"));
        s.send(RawPg.message('E', "\0\0\0\0\0"));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).as("now() must not run as 'SELECT 1'")
                .noneMatch(m -> m.startsWith("D"))
                .anyMatch(m -> m.startsWith("E") && m.contains("C42501\0") && m.contains("no-clock"));
    }

    /**
     * A Parse the server skips (an earlier message of its batch failed) does not replace the statement of its name
     * either: what runs under the name later is judged and audited as the statement the server holds.
     */
    @Test
    void aSkippedParseLeavesTheNameToTheStatementTheServerHolds() throws Exception {
        s.send(RawPg.message('P', RawPg.parse("s", "SELECT 'held'::text AS held")));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).noneMatch(m -> m.startsWith("E"));
        // the first Parse fails in the server (no such table), so it skips the second one
        s.send(RawPg.message('P', RawPg.parse("", "SELECT * FROM no_such_table_for_parse")));
        s.send(RawPg.message('P', RawPg.parse("s", "SELECT 2 AS other")));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).anyMatch(m -> m.startsWith("E") && m.contains("C42P01\0"));
        s.send(RawPg.message('B', "\0s\0\0\0\0\0\0\0"));
        s.send(RawPg.message('E', "\0\0\0\0\0"));
        s.send(RawPg.message('S', ""));
        assertThat(s.untilReady()).anyMatch(m -> m.startsWith("D") && m.contains("held"));
        await().untilAsserted(() -> assertThat(proxy.records).last().satisfies(r -> {
            assertThat(r.statement().normalized()).isEqualTo("select ?::text as held");
            assertThat(r.executed()).isTrue();
        }));
    }
}
