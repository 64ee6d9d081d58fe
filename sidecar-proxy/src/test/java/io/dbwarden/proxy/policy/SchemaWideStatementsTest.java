package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Statements that act on every table of a schema, a role or a tablespace name none of those tables, so no list of
 * them is complete, nor is that of a statement with CASCADE (it also changes what depends on the objects it names): a
 * rule denying a schema's tables (in a policy that allows everything else) refuses them, and says why. Statements
 * that name their tables are judged by the names.
 */
class SchemaWideStatementsTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: open-but-guarded
              namespace: test
            spec:
              subjects:
                - identity: test/admin
              defaultAction: allow
              rules:
                - name: hands-off-secret
                  match:
                    tables: ["secret.*"]
                  action: deny
            """;

    static PolicyEngine engine;
    static StatementAnalyzer analyzer;

    @BeforeAll
    static void load() throws Exception {
        engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/admin");
        analyzer = new StatementAnalyzer(1_000, 1 << 20, 5_000, 1);
    }

    @AfterAll
    static void close() {
        analyzer.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "GRANT ALL ON ALL TABLES IN SCHEMA secret TO alice",
            "REVOKE ALL ON ALL TABLES IN SCHEMA secret FROM alice",
            "GRANT USAGE ON SCHEMA secret TO alice",
            "DROP SCHEMA secret CASCADE",
            "ALTER SCHEMA secret RENAME TO open",
            "ALTER SCHEMA secret OWNER TO alice",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA secret GRANT SELECT ON TABLES TO alice",
            "CREATE PUBLICATION leak FOR ALL TABLES",
            "CREATE PUBLICATION leak FOR TABLES IN SCHEMA secret",
            "DROP OWNED BY alice CASCADE",
            "REASSIGN OWNED BY alice TO mallory",
            "ALTER TABLE ALL IN TABLESPACE fast SET TABLESPACE slow",
            "IMPORT FOREIGN SCHEMA remote FROM SERVER elsewhere INTO secret",
            // CASCADE also changes what depends on the named objects: views, referencing tables, typed columns
            "DROP TABLE public.scratch CASCADE",
            "TRUNCATE public.users CASCADE",
            "ALTER TABLE public.users DROP COLUMN nickname CASCADE",
            "DROP TYPE public.mood CASCADE",
            "DROP EXTENSION hstore CASCADE",
            "REVOKE SELECT ON public.users FROM alice CASCADE"
    })
    void schemaWideStatementsAreRefused(String sql) {
        Verdict v = QueryDecisions.decide(engine, analyzer, sql);
        assertThat(v.forwards()).as(sql).isFalse();
        assertThat(v.rule()).as(sql).isEqualTo("hands-off-secret");
        assertThat(v.error().detail()).as(sql).contains("every table of a schema, role or tablespace");
        assertThat(analyzer.analyzeNow(io.dbwarden.proxy.filter.StatementInfo.of(
                io.dbwarden.proxy.sql.SqlText.split(sql, true).get(0))).tablesComplete()).as(sql).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "GRANT SELECT ON public.users TO alice",
            "REVOKE SELECT ON public.users FROM secret", // a role named secret is no table
            "DROP TABLE public.scratch",
            "TRUNCATE public.users",
            "ALTER TABLE public.users DROP COLUMN nickname",
            "CREATE PUBLICATION orders_feed FOR TABLE public.orders",
            "SELECT * FROM public.users"
    })
    void statementsNamingTheirTablesAreJudgedByThem(String sql) {
        assertThat(QueryDecisions.decide(engine, analyzer, sql).forwards()).as(sql).isTrue();
    }
}
