package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.masking.Catalog;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * How the policy filter uses the graph of partitions (the real {@link Catalog}, its queries run on a JDBC connection
 * to the embedded server): verdicts are cached per version of the graph, names the graph does not know reload it (at
 * most once per interval), and a graph that cannot be loaded fails closed where restricting rules name tables.
 */
class PolicyTableGraphTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: guarded
              namespace: test
            spec:
              subjects:
                - identity: test/guarded
              defaultAction: allow
              rules:
                - name: no-secrets
                  match:
                    tables: ["public.tg_secrets"]
                  action: deny
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: allow-only
              namespace: test
            spec:
              subjects:
                - identity: test/allow-only
              defaultAction: deny
              rules:
                - name: reads
                  match:
                    statements: [SELECT]
                    tables: ["public.tg_secrets"]
                  action: allow
                - name: session
                  match:
                    statements: [SET]
                  action: allow
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: trial
              namespace: test
            spec:
              subjects:
                - identity: test/trial
              mode: audit
              defaultAction: allow
              rules:
                - name: no-secrets
                  match:
                    tables: ["public.tg_secrets"]
                  action: deny
            """;

    static StatementAnalyzer analyzer;
    static Connection direct;

    @BeforeAll
    static void setUp() throws Exception {
        analyzer = new StatementAnalyzer(1000, 1 << 20, 5_000, 1);
        direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
        EmbeddedPg.execute("DROP TABLE IF EXISTS tg_secrets, tg_plain CASCADE",
                "CREATE TABLE tg_secrets (id int, v text) PARTITION BY RANGE (id)",
                "CREATE TABLE tg_secrets_1 PARTITION OF tg_secrets FOR VALUES FROM (0) TO (10)",
                "CREATE TABLE tg_plain (id int, v text)");
    }

    @AfterAll
    static void tearDown() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS tg_secrets, tg_plain CASCADE");
        direct.close();
        analyzer.close();
    }

    /** The catalog's queries, run on the test's own connection; counts the graph loads. */
    private static Function<String, CompletionStage<List<List<String>>>> query(AtomicInteger graphLoads) {
        return io.dbwarden.proxy.testing.CatalogQueries.over(direct, sql -> {
            if (sql.startsWith("WITH RECURSIVE")) { // a full load (not the check whether the catalogs changed)
                graphLoads.incrementAndGet();
            }
        });
    }

    private static PolicyFilter filter(String identity, Catalog catalog) throws Exception {
        return new PolicyFilter(PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), identity), analyzer, 1000,
                catalog.graph());
    }

    private static CompletableFuture<Verdict> evaluate(PolicyFilter f, String sql) {
        StatementInfo statement = StatementInfo.of(SqlText.split(sql, true).getFirst());
        return f.onStatement(new StatementContext(new SessionInfo("test/x", "app", EmbeddedPg.DATABASE, "t", "",
                "127.0.0.1:5000", 1), statement, Protocol.SIMPLE, 'I')).toCompletableFuture();
    }

    private static Verdict verdict(PolicyFilter f, String sql) throws Exception {
        return evaluate(f, sql).get(10, TimeUnit.SECONDS);
    }

    @Test
    void verdictsAreCachedPerVersionOfTheGraph() throws Exception {
        AtomicInteger loads = new AtomicInteger();
        Catalog catalog = new Catalog(query(loads), 60_000);
        PolicyFilter f = filter("test/guarded", catalog);
        assertThat(verdict(f, "SELECT v FROM tg_secrets_1").rule()).isEqualTo("no-secrets");
        assertThat(verdict(f, "SELECT v FROM tg_plain").decision()).isEqualTo(Decision.ALLOW);
        CompletableFuture<Verdict> plain = evaluate(f, "SELECT v FROM tg_plain");
        assertThat(evaluate(f, "SELECT v FROM tg_plain")).as("cached").isSameAs(plain);
        assertThat(loads).hasValue(1);

        // DDL through the proxy drops the graph; a reload that finds the same catalogs keeps it and the verdicts
        catalog.invalidate();
        assertThat(verdict(f, "SELECT v FROM tg_secrets WHERE id = 1").rule()).isEqualTo("no-secrets");
        assertThat(loads).hasValue(1);
        assertThat(evaluate(f, "SELECT v FROM tg_plain")).isSameAs(plain);

        // other edges: verdicts decided with the old graph are dropped
        EmbeddedPg.execute("ALTER TABLE tg_secrets ATTACH PARTITION tg_plain FOR VALUES FROM (10) TO (20)");
        try {
            catalog.invalidate();
            Verdict attached = verdict(f, "SELECT v FROM tg_plain");
            assertThat(attached.rule()).isEqualTo("no-secrets");
            assertThat(attached.error().detail()).contains("public.tg_plain is a partition of public.tg_secrets");
        } finally {
            EmbeddedPg.execute("ALTER TABLE tg_secrets DETACH PARTITION tg_plain");
        }
    }

    /**
     * The filter's version, which prepared statements are re-judged by at Execute: it moves with the policy set and,
     * where rules name tables, with the graph's edges, and is -1 while no graph is loaded.
     */
    @Test
    void theVersionMovesWithThePolicySetAndTheGraphsEdgesOnly() throws Exception {
        AtomicInteger loads = new AtomicInteger();
        Catalog catalog = new Catalog(query(loads), 60_000);
        PolicyFilter f = filter("test/guarded", catalog);
        assertThat(f.version()).as("rules name tables, no graph loaded yet").isEqualTo(-1);
        verdict(f, "SELECT v FROM tg_secrets_1");
        long loaded = f.version();
        assertThat(loaded).isNotNegative();

        catalog.invalidate(); // DDL through the proxy
        assertThat(f.version()).isEqualTo(-1);
        verdict(f, "SELECT v FROM tg_plain");
        assertThat(f.version()).as("reloaded with the same edges").isEqualTo(loaded);

        EmbeddedPg.execute("ALTER TABLE tg_secrets ATTACH PARTITION tg_plain FOR VALUES FROM (10) TO (20)");
        long attached;
        try {
            catalog.invalidate();
            verdict(f, "SELECT v FROM tg_plain");
            attached = f.version();
            assertThat(attached).isGreaterThan(loaded);
        } finally {
            EmbeddedPg.execute("ALTER TABLE tg_secrets DETACH PARTITION tg_plain");
        }

        f.update(PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/guarded"));
        assertThat(f.version()).as("a new policy set, the same graph").isGreaterThan(attached);

        PolicyFilter noTables = filter("test/nobody", catalog);
        assertThat(noTables.version()).as("no rule names a table: the graph does not matter").isZero();
        catalog.invalidate();
        assertThat(noTables.version()).isZero();
        noTables.update(PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/nobody"));
        assertThat(noTables.version()).isPositive();
    }

    @Test
    void namesTheGraphDoesNotKnowAreLookedUpAndRelationsMadeSinceReloadIt() throws Exception {
        AtomicInteger loads = new AtomicInteger();
        Catalog catalog = new Catalog(query(loads), 60_000);
        PolicyFilter f = filter("test/guarded", catalog);
        assertThat(verdict(f, "SELECT v FROM tg_plain").decision()).isEqualTo(Decision.ALLOW);
        // system catalogs and views, qualified or not, are known relations
        assertThat(verdict(f, "SELECT relname FROM pg_class JOIN pg_catalog.pg_namespace n ON true").decision())
                .isEqualTo(Decision.ALLOW);
        assertThat(verdict(f, "SELECT * FROM pg_stat_activity, information_schema.tables").decision())
                .isEqualTo(Decision.ALLOW);
        assertThat(loads).hasValue(1);
        // no such table: looked up each time (the server refuses it), the graph not reloaded, the verdict not cached
        for (int i = 0; i < 3; i++) {
            CompletableFuture<Verdict> v = evaluate(f, "SELECT * FROM tg_nowhere");
            assertThat(v.get(10, TimeUnit.SECONDS).decision()).isEqualTo(Decision.ALLOW);
            assertThat(evaluate(f, "SELECT * FROM tg_nowhere")).isNotSameAs(v);
        }
        assertThat(loads).hasValue(1);
        // made since the graph was loaded (outside the proxy, no DDL through it): the graph is reloaded at once
        EmbeddedPg.execute("CREATE TABLE tg_late PARTITION OF tg_secrets FOR VALUES FROM (100) TO (200)");
        try {
            Verdict late = verdict(f, "SELECT * FROM tg_late");
            assertThat(late.rule()).isEqualTo("no-secrets");
            assertThat(loads).hasValue(2);
        } finally {
            EmbeddedPg.execute("DROP TABLE tg_late");
        }
        // statements without tables never wait for the graph
        assertThat(verdict(f, "SET application_name = 'x'").decision()).isEqualTo(Decision.ALLOW);
        assertThat(loads).hasValue(2);
    }

    @Test
    void aGraphThatCannotBeLoadedFailsClosedWhereRestrictingRulesNameTables() throws Exception {
        AtomicInteger attempts = new AtomicInteger();
        Catalog failing = new Catalog(sql -> {
            attempts.incrementAndGet();
            return CompletableFuture.failedFuture(new SQLException("connection refused"));
        }, 60_000);
        PolicyFilter guarded = filter("test/guarded", failing);
        Verdict v = verdict(guarded, "SELECT v FROM tg_plain");
        assertThat(v.decision()).isEqualTo(Decision.DENY);
        assertThat(v.rule()).isEqualTo("policy-catalog");
        assertThat(v.error().message()).contains("could not look up which relations show their rows");
        assertThat(verdict(guarded, "SET application_name = 'x'").decision()).isEqualTo(Decision.ALLOW);
        assertThat(verdict(guarded, "SELECT id FROM tg_plain").rule()).isEqualTo("policy-catalog");
        assertThat(attempts).as("a failing catalog connection is not asked again at once").hasValue(1);

        // allow rules alone: the names decide (an allow rule never matches more without the graph)
        PolicyFilter allowOnly = filter("test/allow-only", failing);
        assertThat(verdict(allowOnly, "SELECT v FROM public.tg_secrets").decision()).isEqualTo(Decision.ALLOW);
        assertThat(verdict(allowOnly, "SELECT v FROM tg_secrets_1").decision()).isEqualTo(Decision.DENY);
        assertThat(verdict(allowOnly, "SELECT v FROM tg_secrets_1").rule()).isNull();

        // a policy in audit mode blocks nothing, so it does not block for want of the graph either
        PolicyFilter trial = filter("test/trial", failing);
        assertThat(verdict(trial, "SELECT v FROM tg_plain").decision()).isEqualTo(Decision.ALLOW);
        assertThat(verdict(trial, "SELECT v FROM tg_secrets").decision()).isEqualTo(Decision.AUDIT);
    }

    /** Wherever a partition of a denied table stands in a statement, and however its name is written. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {
            "SELECT * FROM tg_secrets_1",
            "SELECT * FROM public.tg_secrets_1",
            "SELECT * FROM \"tg_secrets_1\"",
            "SELECT * FROM PUBLIC.TG_SECRETS_1",
            "SELECT * FROM U&\"tg\\005fsecrets_1\"",
            "SELECT * FROM ONLY tg_secrets_1",
            "SELECT * FROM tg_plain p JOIN tg_secrets_1 s ON s.id = p.id",
            "SELECT (SELECT max(v) FROM tg_secrets_1)",
            "SELECT * FROM tg_plain WHERE id IN (SELECT id FROM tg_secrets_1)",
            "SELECT * FROM tg_plain p, LATERAL (SELECT v FROM tg_secrets_1 s WHERE s.id = p.id) x",
            "WITH s AS (SELECT * FROM tg_secrets_1) SELECT * FROM s",
            "TABLE tg_secrets_1",
            "VALUES ((SELECT max(v) FROM tg_secrets_1))",
            "SELECT * FROM tg_plain UNION ALL SELECT * FROM tg_secrets_1",
            "COPY tg_secrets_1 TO STDOUT",
            "COPY (SELECT * FROM tg_secrets_1) TO STDOUT",
            "UPDATE tg_plain SET v = (SELECT v FROM tg_secrets_1 LIMIT 1)",
            "DELETE FROM tg_secrets_1 WHERE id = 1",
            "INSERT INTO tg_plain SELECT * FROM tg_secrets_1",
            "EXPLAIN ANALYZE SELECT * FROM tg_secrets_1",
            "DECLARE c CURSOR FOR SELECT * FROM tg_secrets_1",
            "PREPARE p AS SELECT * FROM tg_secrets_1",
            "SELECT*FROM\"tg_secrets_1\"",
    })
    void aPartitionIsCoveredInEveryShape(String sql) throws Exception {
        PolicyFilter f = filter("test/guarded", new Catalog(query(new AtomicInteger()), 60_000));
        Verdict v = verdict(f, sql);
        assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
        assertThat(v.rule()).as(sql).isEqualTo("no-secrets");
    }

    @Test
    void allowRulesCoverPartitionsOnceTheGraphIsLoaded() throws Exception {
        PolicyFilter f = filter("test/allow-only", new Catalog(query(new AtomicInteger()), 60_000));
        Verdict v = verdict(f, "SELECT v FROM tg_secrets_1");
        assertThat(v.decision()).isEqualTo(Decision.ALLOW);
        assertThat(v.rule()).isEqualTo("reads");
        assertThat(verdict(f, "SELECT v FROM tg_plain").decision()).isEqualTo(Decision.DENY);
    }
}
