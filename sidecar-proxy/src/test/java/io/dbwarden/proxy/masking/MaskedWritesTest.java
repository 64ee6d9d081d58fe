package io.dbwarden.proxy.masking;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * UPDATE and MERGE under masking: what they write (SET values, MERGE's INSERT values) is judged expression by
 * expression, as a query's output items are; conditions (WHERE, ON, WHEN ... AND) are reads, and RETURNING comes back
 * masked. A value carrying a masked column's values into a column its rule does not mask is a copy, refused.
 */
class MaskedWritesTest {
    @TempDir
    Path dir;
    MaskingRules rules;

    @BeforeEach
    void rules() throws Exception {
        rules = MaskingRules.compile(PolicyLoader.load(MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.customers.email"]
                        strategy: partial
                      - name: ssn
                        columns: ["*.*.ssn"]
                        strategy: redact
                """)), "test/x", null);
    }

    private String copies(String sql) {
        StatementInfo statement = StatementInfo.of(SqlText.split(sql, true).getFirst());
        MaskingRules.ColumnRule rule = MaskingFilter.copiesMaskedValues(statement, rules, Ancestry.NONE, List.of());
        return rule == null ? null : rule.name().substring(rule.name().indexOf('/') + 1);
    }

    @Test
    void updatesThatCarryMaskedValuesElsewhereAreCopies() {
        assertThat(copies("UPDATE tickets t SET note = c.email FROM customers c WHERE c.id = t.cid"))
                .isEqualTo("emails");
        // through a subquery's alias, a whole row, a scalar subquery
        assertThat(copies("UPDATE tickets t SET note = s.e FROM (SELECT id, email AS e FROM customers) s "
                + "WHERE s.id = t.cid")).isEqualTo("emails");
        assertThat(copies("UPDATE tickets t SET note = c::text FROM customers c WHERE c.id = t.cid"))
                .isEqualTo("emails");
        assertThat(copies("UPDATE tickets t SET note = (SELECT ssn FROM customers WHERE id = t.cid)"))
                .isEqualTo("ssn");
        // into the masked column itself only its own rule's values stay masked
        assertThat(copies("UPDATE customers SET email = email || ssn WHERE id = 3")).isEqualTo("ssn");
        assertThat(copies("UPDATE customers SET name = email WHERE id = 3")).isEqualTo("emails");
        assertThat(copies("UPDATE tickets SET (note, other) = (SELECT email, name FROM customers WHERE id = 1)"))
                .isEqualTo("emails");
        assertThat(copies("WITH s AS (SELECT email FROM customers) UPDATE tickets SET note = s.email FROM s"))
                .isEqualTo("emails");
    }

    @Test
    void updatesThatOnlyReadMaskedColumnsPass() {
        assertThat(copies("UPDATE tickets SET note = 'done' WHERE cid IN (SELECT id FROM customers "
                + "WHERE email LIKE 'a%')")).isNull();
        assertThat(copies("UPDATE customers SET email = lower(email) WHERE id = 3")).isNull();
        assertThat(copies("UPDATE tickets t SET note = c.name FROM customers c WHERE c.email = 'x' AND c.id = t.cid"))
                .isNull();
        assertThat(copies("UPDATE tickets t SET note = s.name FROM (SELECT id, name FROM customers "
                + "WHERE email <> '') s WHERE s.id = t.cid RETURNING s.name")).isNull();
    }

    @Test
    void mergesThatWriteMaskedValuesElsewhereAreCopies() {
        assertThat(copies("MERGE INTO archive a USING customers c ON a.id = c.id WHEN NOT MATCHED THEN "
                + "INSERT (id, v) VALUES (c.id, c.email)")).isEqualTo("emails");
        assertThat(copies("MERGE INTO archive a USING customers c ON false WHEN NOT MATCHED THEN "
                + "INSERT VALUES (c.id, lower(c.email))")).isEqualTo("emails");
        assertThat(copies("MERGE INTO archive a USING (SELECT id, email AS e FROM customers) s ON a.id = s.id "
                + "WHEN MATCHED THEN UPDATE SET v = s.e")).isEqualTo("emails");
        assertThat(copies("MERGE INTO archive a USING customers AS c ON a.id = c.id WHEN MATCHED AND c.id > 1 THEN "
                + "UPDATE SET v = CASE WHEN c.id = 2 THEN c.ssn ELSE 'x' END")).isEqualTo("ssn");
        assertThat(copies("MERGE INTO archive a USING customers c ON a.id = c.id WHEN MATCHED THEN DELETE "
                + "WHEN NOT MATCHED THEN INSERT (v) VALUES (c::text)")).isEqualTo("emails");
        assertThat(copies("MERGE INTO customers t USING customers s ON t.id = s.id WHEN MATCHED THEN "
                + "UPDATE SET email = s.ssn")).isEqualTo("ssn");
        assertThat(copies("MERGE INTO ONLY public.archive USING customers c ON true WHEN NOT MATCHED THEN "
                + "INSERT (v) OVERRIDING USER VALUE VALUES (c.email)")).isEqualTo("emails");
        assertThat(copies("WITH x AS (SELECT email FROM customers) MERGE INTO archive a USING x ON false "
                + "WHEN NOT MATCHED THEN INSERT VALUES (x.email)")).isEqualTo("emails");
        // a clause of no form PostgreSQL has: the whole statement is judged
        assertThat(copies("MERGE INTO archive a USING customers c ON a.id = c.id WHEN MATCHED THEN "
                + "frobnicate c.email")).isEqualTo("emails");
    }

    @Test
    void mergesThatOnlyReadMaskedColumnsPass() {
        assertThat(copies("MERGE INTO orders o USING customers c ON o.cid = c.id WHEN MATCHED THEN "
                + "UPDATE SET id = o.id RETURNING lower(c.email)")).isNull();
        assertThat(copies("MERGE INTO archive a USING customers c ON a.v = c.email WHEN NOT MATCHED "
                + "AND c.email LIKE 'a%' THEN INSERT (id, v) VALUES (c.id, c.name)")).isNull();
        assertThat(copies("MERGE INTO archive a USING customers c ON a.id = c.id WHEN MATCHED AND "
                + "CASE WHEN c.email IS NULL THEN true ELSE false END THEN DELETE "
                + "WHEN NOT MATCHED THEN DO NOTHING")).isNull();
        assertThat(copies("MERGE INTO customers t USING customers s ON t.id = s.id WHEN MATCHED THEN "
                + "UPDATE SET email = lower(s.email)")).isNull();
        assertThat(copies("MERGE INTO archive a USING customers c ON a.id = c.id WHEN NOT MATCHED THEN "
                + "INSERT DEFAULT VALUES WHEN NOT MATCHED BY SOURCE THEN DELETE")).isNull();
        assertThat(copies("MERGE INTO archive a USING (SELECT id, name FROM customers WHERE email <> '') s "
                + "ON a.id = s.id WHEN NOT MATCHED THEN INSERT (v) VALUES (s.name)")).isNull();
    }

    @Test
    void upsertsAreJudgedByWhatTheirUpdateWritesToo() {
        assertThat(copies("INSERT INTO tickets (id, note) SELECT id, 'x' FROM customers ON CONFLICT (id) "
                + "DO UPDATE SET note = (SELECT email FROM customers LIMIT 1)")).isEqualTo("emails");
        assertThat(copies("INSERT INTO tickets (id, note) SELECT 1, 'x' ON CONFLICT (id) DO UPDATE SET "
                + "note = (SELECT ssn FROM customers LIMIT 1) WHERE tickets.id > 0")).isEqualTo("ssn");
        assertThat(copies("INSERT INTO tickets (id, note) SELECT id, email FROM customers ON CONFLICT (id) "
                + "DO NOTHING")).isEqualTo("emails");
        assertThat(copies("INSERT INTO customers (id, email) SELECT id, 'x' FROM customers ON CONFLICT (id) "
                + "DO UPDATE SET email = ssn")).isEqualTo("ssn");
        // conditions, the proposed row of values that are no copies, and a masked column set from itself pass
        assertThat(copies("INSERT INTO tickets (id, note) SELECT c.id, 'x' FROM customers c WHERE c.email LIKE 'a%' "
                + "ON CONFLICT (id) DO UPDATE SET note = excluded.note")).isNull();
        assertThat(copies("INSERT INTO customers (id, email) SELECT id, 'x' FROM customers ON CONFLICT (id) "
                + "DO UPDATE SET email = lower(customers.email) WHERE customers.ssn IS NOT NULL")).isNull();
    }

    /** Values reach a write through aliases, whole rows, field selection, LATERAL, VALUES and WITH queries. */
    @Test
    void everyWayAValueReachesAWriteCounts() {
        for (String sql : List.of(
                "INSERT INTO t (v) SELECT x FROM (SELECT email AS x FROM customers) s",
                "INSERT INTO t SELECT (c).email FROM customers c",
                "INSERT INTO t SELECT row_to_json(c)::text FROM customers c",
                "INSERT INTO t SELECT x FROM customers, LATERAL (SELECT email) l(x)",
                "INSERT INTO t SELECT e FROM customers CROSS JOIN LATERAL unnest(ARRAY[email]) AS u(e)",
                "UPDATE tickets SET note = x FROM customers, LATERAL (SELECT email) l(x)",
                "UPDATE tickets SET note = u.e FROM customers CROSS JOIN LATERAL unnest(ARRAY[email]) AS u(e)",
                "INSERT INTO t SELECT v FROM (VALUES ((SELECT email FROM customers LIMIT 1))) s(v)",
                "INSERT INTO t (v) SELECT \"email\" FROM \"customers\"",
                "INSERT INTO t (v) SELECT EMAIL FROM PUBLIC.CUSTOMERS",
                "INSERT INTO t (v) SELECT format('%s', c) FROM customers c",
                "INSERT INTO t (v) SELECT t2 FROM (SELECT * FROM customers) t2",
                "INSERT INTO t (v) SELECT t2::text FROM customers t2",
                "UPDATE tickets SET note = t2::text FROM customers t2",
                "UPDATE tickets SET note = (t2).email FROM customers t2",
                "UPDATE tickets SET note = (SELECT c FROM customers c LIMIT 1)::text",
                "UPDATE tickets SET note = x.email FROM (TABLE customers) x",
                "UPDATE tickets SET note = w.e FROM (WITH q AS (SELECT email e FROM customers) SELECT e FROM q) w",
                "WITH q AS (SELECT email e FROM customers) UPDATE tickets SET note = q.e FROM q",
                "MERGE INTO t USING (SELECT * FROM customers) s ON false WHEN NOT MATCHED THEN INSERT VALUES (s.email)",
                "MERGE INTO t USING customers s ON false WHEN NOT MATCHED THEN INSERT VALUES (s.*)",
                "MERGE INTO t USING customers s ON false WHEN NOT MATCHED THEN INSERT VALUES ((SELECT string_agg(ssn, ',') FROM customers))",
                "MERGE INTO t USING customers s ON false WHEN NOT MATCHED THEN INSERT (a, b) VALUES (1, s)",
                "MERGE INTO t x USING customers s ON false WHEN MATCHED THEN UPDATE SET (a, b) = (s.email, 1)",
                "MERGE INTO t x USING customers s ON false WHEN MATCHED THEN UPDATE SET a = DEFAULT, b = s.ssn")) {
            assertThat(copies(sql)).as(sql).isNotNull();
        }
    }

    /**
     * A column of a subquery or WITH query is judged by the select-list item that makes it, not by the subquery's
     * whole row: {@code s.id} of {@code (SELECT id, email AS e FROM customers) s} carries nothing masked.
     */
    @Test
    void columnsOfDerivedRowsAreJudgedByTheItemsThatMakeThem() {
        assertThat(copies("MERGE INTO archive a USING (SELECT id, email AS e FROM customers) s ON a.id = s.id "
                + "WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)")).isNull();
        assertThat(copies("MERGE INTO archive a USING (SELECT id, email AS e FROM customers) s ON a.id = s.id "
                + "WHEN MATCHED AND s.e LIKE 'a%' THEN UPDATE SET v = s.id + 1")).isNull();
        assertThat(copies("UPDATE tickets t SET note = s.n FROM (SELECT c.id, c.name AS n, c.email FROM customers c) "
                + "s WHERE s.id = t.cid")).isNull();
        assertThat(copies("INSERT INTO archive (id) SELECT s.id FROM (SELECT id, email AS e FROM customers) s"))
                .isNull();
        assertThat(copies("INSERT INTO archive (id) SELECT x.k FROM (SELECT s.id AS k, s.e FROM "
                + "(SELECT id, email AS e FROM customers) s) x")).isNull();
        // the columns that do carry masked values, however they are reached
        assertThat(copies("MERGE INTO archive a USING (SELECT id, email AS e FROM customers) s ON a.id = s.id "
                + "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.e)")).isEqualTo("emails");
        assertThat(copies("INSERT INTO archive (v) SELECT x.k FROM (SELECT s.e AS k FROM "
                + "(SELECT id, email AS e FROM customers) s) x")).isEqualTo("emails");
        assertThat(copies("INSERT INTO archive (v) SELECT s.id FROM (SELECT ssn AS id FROM customers) s"))
                .isEqualTo("ssn");
        assertThat(copies("INSERT INTO archive (v) SELECT s.id FROM (SELECT (SELECT ssn FROM customers LIMIT 1) "
                + "AS id) s")).isEqualTo("ssn");
        assertThat(copies("INSERT INTO archive (v) SELECT s.id FROM (SELECT to_json(c) AS id FROM customers c) s"))
                .isNotNull();
        assertThat(copies("INSERT INTO archive (v) SELECT s.id FROM (SELECT x.e AS id FROM "
                + "(SELECT email AS e FROM customers) x) s")).isEqualTo("emails");
        assertThat(copies("UPDATE tickets SET note = s.id::text FROM (SELECT id, email FROM customers) "
                + "AS s(email, id)")).as("columns renamed by position").isEqualTo("emails");
        assertThat(copies("WITH s(email, id) AS (SELECT id, email FROM customers) INSERT INTO archive (v) "
                + "SELECT s.id FROM s")).isEqualTo("emails");
        // when the item cannot be told, the whole row counts
        for (String sql : List.of(
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT * FROM customers) s",
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT id FROM customers UNION SELECT length(email) FROM customers) s",
                "INSERT INTO archive (v) SELECT s.lower FROM (SELECT lower(email), id FROM customers) s",
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT id, email AS id FROM customers) s",
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT s.e AS id FROM (SELECT email AS e FROM customers) s) s",
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT e AS id FROM (SELECT email AS e FROM customers) x) s",
                "INSERT INTO archive (v) SELECT s.id FROM (SELECT (email) AS id2, (email) FROM customers) s")) {
            assertThat(copies(sql)).as(sql).isEqualTo("emails");
        }
    }

    /**
     * After WITH queries, the statement is judged as it would be without them (its RETURNING list is output, not what
     * it writes); a WITH query that writes is judged the same way, as a statement of its own that may read the other
     * WITH queries; what a main SELECT or DELETE returns is output.
     */
    @Test
    void statementsAfterWithQueriesAreJudgedByWhatTheyWrite() {
        assertThat(copies("WITH x AS (SELECT 1) INSERT INTO archive (v) SELECT email FROM customers RETURNING id"))
                .isEqualTo("emails");
        assertThat(copies("WITH x AS (SELECT 1) UPDATE tickets SET note = c.email FROM customers c "
                + "RETURNING tickets.id")).isEqualTo("emails");
        assertThat(copies("WITH x AS (SELECT 1) MERGE INTO archive a USING customers c ON false WHEN NOT MATCHED "
                + "THEN INSERT (v) VALUES (c.email) RETURNING a.id")).isEqualTo("emails");
        assertThat(copies("WITH x AS (SELECT id, email FROM customers) UPDATE tickets SET note = x.email FROM x "
                + "WHERE x.id = tickets.cid RETURNING tickets.id")).isEqualTo("emails");
        assertThat(copies("WITH x AS (SELECT email FROM customers) UPDATE tickets SET email = x.email FROM x"))
                .as("the target is the table after UPDATE, not the first the WITH query reads").isEqualTo("emails");
        assertThat(copies("WITH conflict AS (SELECT 1) INSERT INTO tickets (id, note) SELECT 1, 'x' ON CONFLICT (id) "
                + "DO UPDATE SET note = (SELECT ssn FROM customers LIMIT 1)")).isEqualTo("ssn");
        assertThat(copies("WITH w AS (INSERT INTO archive (v) SELECT email FROM customers RETURNING id) SELECT 1"))
                .isEqualTo("emails");
        assertThat(copies("WITH w AS (UPDATE tickets SET note = (SELECT ssn FROM customers LIMIT 1) RETURNING id) "
                + "SELECT count(*) FROM w")).isNotNull();
        // reads in WITH queries, and columns of them that carry nothing masked, pass
        assertThat(copies("WITH t AS (SELECT id FROM customers WHERE email LIKE 'a%') UPDATE tickets SET closed = "
                + "true WHERE cid IN (SELECT id FROM t)")).isNull();
        assertThat(copies("WITH s AS (SELECT id, ssn FROM customers) UPDATE tickets SET note = s.id FROM s"))
                .isNull();
        assertThat(copies("WITH x AS (SELECT 1) UPDATE customers SET email = lower(email) WHERE id = 3")).isNull();
        assertThat(copies("WITH x AS (SELECT id, email AS e FROM customers) INSERT INTO archive (id) SELECT x.id "
                + "FROM x RETURNING id")).isNull();
        assertThat(copies("WITH x AS (SELECT id FROM customers WHERE ssn IS NULL) MERGE INTO archive a USING x "
                + "ON a.id = x.id WHEN NOT MATCHED THEN INSERT (id) VALUES (x.id)")).isNull();
        assertThat(copies("WITH x AS (SELECT 1) INSERT INTO archive (id, v) VALUES (1, 'literal')")).isNull();
    }

    /**
     * Copies through a subquery joined after another join's condition (JOIN or comma), or through a WITH query that
     * another row reads; a statement that only filters by such a row copies nothing.
     */
    @Test
    void copiesThroughRowsAfterJoinConditionsAndWithQueriesReadByOthers() {
        String joined = "FROM orders o JOIN items i ON i.oid = o.id";
        String s = "(SELECT id, email AS e FROM customers) s";
        assertThat(copies("INSERT INTO archive (v) SELECT upper(e) " + joined + " JOIN " + s + " ON true"))
                .isEqualTo("emails");
        assertThat(copies("INSERT INTO archive (v) SELECT e " + joined + ", " + s)).isEqualTo("emails");
        assertThat(copies("INSERT INTO archive (v) SELECT e " + joined + " JOIN LATERAL " + s + " ON true"))
                .isEqualTo("emails");
        assertThat(copies("UPDATE tickets t SET note = e " + joined + " JOIN " + s + " ON s.id = o.cid "
                + "WHERE t.id = o.id")).isEqualTo("emails");
        assertThat(copies("CREATE TABLE copy AS SELECT e " + joined + " JOIN " + s + " ON true")).isEqualTo("emails");
        String r = "WITH r AS (SELECT email AS e FROM customers) ";
        assertThat(copies(r + ", q AS (SELECT e FROM r) INSERT INTO archive (v) SELECT e FROM q")).isEqualTo("emails");
        assertThat(copies(r + "INSERT INTO archive (v) SELECT e FROM (SELECT e FROM r) s")).isEqualTo("emails");
        assertThat(copies(r + "INSERT INTO archive (v) SELECT x FROM orders o, LATERAL (SELECT (SELECT e FROM r "
                + "LIMIT 1) AS x) s")).isEqualTo("emails");
        assertThat(copies(r + ", q AS (SELECT e FROM r) UPDATE tickets SET note = e FROM q")).isEqualTo("emails");
        assertThat(copies(r + ", q AS (SELECT e FROM r) SELECT e INTO copy2 FROM q")).isEqualTo("emails");
        // columns renamed with a table's alias may be its masked ones
        assertThat(copies("INSERT INTO archive (v) SELECT e FROM customers AS c (i, n, e)")).isEqualTo("emails");
        assertThat(copies("UPDATE tickets t SET note = c.e FROM customers c (i, n, e) WHERE c.i = t.cid"))
                .isEqualTo("emails");
        assertThat(copies("INSERT INTO archive (v) SELECT o.note FROM orders o JOIN customers c (i, n, e) ON c.i = "
                + "o.cid")).isNull();
        // filtering by them copies nothing
        assertThat(copies("DELETE FROM tickets t USING orders o JOIN items i ON i.oid = o.id JOIN " + s
                + " ON true WHERE t.note = s.e RETURNING t.id")).isNull();
        assertThat(copies("INSERT INTO archive (v) SELECT upper(name) FROM customers c JOIN orders o ON o.cid = c.id"))
                .isNull();
        assertThat(copies(r + ", q AS (SELECT e FROM r) INSERT INTO archive (v) SELECT name FROM customers WHERE "
                + "id IN (SELECT 1 FROM q)")).isNull();
    }

    @Test
    void writingWithQueriesAreJudgedByWhatTheyWrite() {
        // copies made by a writing WITH query, also from other WITH queries (before or after it) and RETURNING lists
        assertThat(copies("WITH s AS (SELECT email AS e FROM customers), w AS (INSERT INTO archive (v) SELECT e FROM s "
                + "RETURNING id) SELECT count(*) FROM w")).isEqualTo("emails");
        assertThat(copies("WITH w AS (INSERT INTO archive (v) SELECT e FROM s RETURNING id), s AS (SELECT email AS e "
                + "FROM customers) SELECT 1")).isEqualTo("emails");
        assertThat(copies("WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING email), w AS (INSERT INTO archive "
                + "(v) SELECT email FROM d) SELECT 1")).isEqualTo("emails");
        assertThat(copies("WITH u AS (UPDATE customers SET name = name RETURNING email AS e), w AS (UPDATE tickets "
                + "SET note = u.e FROM u) SELECT 1")).isEqualTo("emails");
        assertThat(copies("WITH a AS (SELECT 1), w AS (MERGE INTO archive r USING customers c ON false WHEN NOT "
                + "MATCHED THEN INSERT (v) VALUES (c.email)) SELECT 1")).isEqualTo("emails");
        assertThat(copies("WITH w AS (UPDATE tickets SET note = 'x' RETURNING id), v AS (INSERT INTO archive (v) "
                + "SELECT email FROM customers) SELECT 1")).isEqualTo("emails");
        assertThat(copies("WITH w AS (UPDATE tickets SET note = 'x') INSERT INTO archive (v) SELECT email FROM "
                + "customers")).isEqualTo("emails");
        assertThat(copies("WITH u AS (UPDATE customers SET name = name RETURNING email) SELECT e INTO TEMP t2 FROM "
                + "(SELECT email AS e FROM u) q")).isEqualTo("emails");
        // a writing WITH query that copies nothing masked: what it and the main statement return is output
        assertThat(copies("WITH u AS (UPDATE customers SET name = name WHERE id = 1 RETURNING id, email) "
                + "SELECT u.email FROM u")).isNull();
        assertThat(copies("WITH u AS (UPDATE customers SET email = lower(email) RETURNING email) SELECT * FROM u"))
                .isNull();
        assertThat(copies("WITH w AS (INSERT INTO archive (id) SELECT id FROM customers RETURNING id) "
                + "DELETE FROM customers c USING w WHERE c.id = w.id RETURNING c.email")).isNull();
        assertThat(copies("WITH r AS (SELECT email AS name FROM customers) UPDATE tickets SET note = name WHERE cid "
                + "IN (SELECT 1 FROM r)")).isNull();
        assertThat(copies("WITH r AS (SELECT email AS name FROM customers) UPDATE tickets SET note = name FROM r"))
                .isEqualTo("emails");
        assertThat(copies("WITH s AS (SELECT id, email FROM customers), w AS (UPDATE tickets SET closed = true "
                + "FROM s WHERE s.id = tickets.cid AND s.email LIKE 'a%' RETURNING tickets.id) SELECT s.email FROM s"))
                .isNull();
    }
}
