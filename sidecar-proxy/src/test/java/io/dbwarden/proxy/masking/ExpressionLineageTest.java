package io.dbwarden.proxy.masking;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.SqlLexer;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Lineage decisions that need no database: the shapes of statements alone. */
class ExpressionLineageTest {
    private static MaskingRules rules(Path dir) throws Exception {
        Path policy = MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.customers.email"]
                        strategy: partial
                """);
        return MaskingRules.compile(PolicyLoader.load(policy), "test/x", null);
    }

    private static MaskingRules.ColumnRule rule(MaskingRules rules, String sql, int column, int columns) {
        return ExpressionLineage.of(SqlLexer.tokenize(sql, true), (schema, table) -> List.of())
                .ruleFor(column, columns, rules);
    }

    @Test
    void manyDerivedRowsAreJudgedByTheWholeStatement(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        StringBuilder sql = new StringBuilder("SELECT d0.v || ''");
        StringBuilder from = new StringBuilder(" FROM (SELECT email AS v FROM customers) d0");
        for (int i = 1; i <= ExpressionLineage.MAX_DERIVED; i++) {
            from.append(", (SELECT ").append(i).append(" AS v) d").append(i);
        }
        assertThat(rule(rules, sql + from.toString(), 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT d1.v || '' FROM (SELECT 1 AS v) d1, (SELECT 2 AS v) d2", 0, 1)).isNull();
    }

    /**
     * A column name that is not qualified may be one of a WITH query's columns only where the query reads it: in the
     * main query's FROM list (also in a parenthesized join, or through another WITH query it reads) or in the item's
     * own subquery; not when only a condition's subquery reads it.
     */
    @Test
    void withQueriesReadOnlyInConditionsGiveNoColumns(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        String r = "WITH r AS (SELECT email AS name FROM customers) ";
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders WHERE cid IN (SELECT id FROM r)", 0, 1)).isNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders o WHERE EXISTS (SELECT 1 FROM r WHERE r.name = "
                + "o.note)", 0, 1)).isNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM r", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders o, r", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM (orders o JOIN r ON true)", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT (SELECT lower(name) FROM r LIMIT 1)", 0, 1)).isNotNull();
        assertThat(rule(rules, r + ", q AS (SELECT * FROM r) SELECT lower(name) FROM q", 0, 1)).isNotNull();
        assertThat(rule(rules, r + ", q AS (SELECT * FROM r) SELECT lower(name) FROM orders WHERE cid IN (SELECT 1 "
                + "FROM q)", 0, 1)).isNull();
        assertThat(rule(rules, "WITH RECURSIVE r(name) AS (SELECT email FROM customers) SELECT lower(name) FROM r", 0,
                1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders o JOIN LATERAL (SELECT * FROM r) l ON true", 0, 1))
                .isNotNull();
    }

    /**
     * A WITH query read by another, or by a subquery in FROM, carries its columns into that row's: a column name that
     * is not qualified may be one of them.
     */
    @Test
    void withQueriesReadByOtherRowsCarryTheirColumns(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        String r = "WITH r AS (SELECT email AS name FROM customers) ";
        assertThat(rule(rules, r + ", q AS (SELECT name FROM r) SELECT lower(name) FROM q", 0, 1)).isNotNull();
        assertThat(rule(rules, r + ", q AS (SELECT name FROM r) SELECT lower(q.name) FROM q", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM (SELECT name FROM r) s", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders o, LATERAL (SELECT name FROM r) b", 0, 1))
                .isNotNull();
        assertThat(rule(rules, r + "SELECT lower(name) FROM orders o JOIN (SELECT name FROM r) s ON true", 0, 1))
                .isNotNull();
        assertThat(rule(rules, r + "SELECT lower(x) FROM orders o JOIN LATERAL (SELECT (SELECT name FROM r LIMIT 1) "
                + "AS x) b ON true", 0, 1)).isNotNull();
        assertThat(rule(rules, r + "SELECT lower(x) FROM unnest(ARRAY(SELECT name FROM r)) AS u(x)", 0, 1))
                .isNotNull();
        // still none where only a condition reads the row that reads it
        assertThat(rule(rules, r + ", q AS (SELECT name FROM r) SELECT lower(name) FROM orders WHERE cid IN "
                + "(SELECT 1 FROM q)", 0, 1)).isNull();
        assertThat(rule(rules, "WITH r AS (SELECT id FROM customers), q AS (SELECT id FROM r) SELECT lower(name) "
                + "FROM q", 0, 1)).isNull();
    }

    /**
     * Columns renamed with a table's alias ({@code customers AS c (i, n, e)}) may be any of its columns, masked ones
     * too: the statement does not tell which is which.
     */
    @Test
    void columnsRenamedWithATablesAliasMayBeMaskedOnes(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        assertThat(rule(rules, "SELECT upper(e) FROM customers AS c (i, n, e)", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(c.e) FROM orders o JOIN customers c(i, n, e) ON c.i = o.cid", 0, 1))
                .isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM (SELECT e AS x FROM public.customers c (i, n, e)) s", 0, 1))
                .isNotNull();
        assertThat(rule(rules, "SELECT upper(o.note) FROM orders o JOIN customers c(i, n, e) ON c.i = o.cid", 0, 1))
                .isNull();
        assertThat(rule(rules, "SELECT upper(e) FROM orders AS o (i, e)", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT upper(U&\"em!0061il\" UESCAPE '!') FROM customers", 0, 1)).isNotNull();
        assertThat(rule(rules, "INSERT INTO customers AS c (id, name) VALUES (1, 'x') RETURNING upper(name)", 0, 1))
                .isNull();
    }

    /**
     * A FROM list goes on after a join's condition: a subquery after the next JOIN or comma is a derived row too, and
     * a parenthesis inside the condition is none.
     */
    @Test
    void derivedRowsAfterAJoinConditionAreFound(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        String joined = "SELECT upper(name) FROM customers c JOIN orders o ON o.cid = c.id";
        assertThat(rule(rules, joined + " JOIN (SELECT email AS name FROM customers) s ON true", 0, 1)).isNotNull();
        assertThat(rule(rules, joined + ", (SELECT email AS name FROM customers) s", 0, 1)).isNotNull();
        assertThat(rule(rules, joined + " LEFT JOIN LATERAL (SELECT email AS name FROM customers) s ON true "
                + "WHERE o.id > 1", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM (SELECT * FROM orders o JOIN items i ON i.oid = o.id "
                + "JOIN customers c ON c.id = o.cid) s", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(name) FROM customers c JOIN orders o ON o.cid IN (SELECT id FROM "
                + "customers WHERE email LIKE 'a%') AND (o.id > 1)", 0, 1)).isNull();
        assertThat(ExpressionLineage.derivedNames(SqlLexer.tokenize(joined + " JOIN (SELECT 1) a ON (a.x = 1), "
                + "(SELECT 2) b WHERE o.id IN (SELECT 3)", true)).keySet()).containsExactlyInAnyOrder("a", "b");
    }

    /**
     * A writing WITH query's columns are its RETURNING list's items, each judged on its own; RETURNING * and a
     * whole row returned count as the whole row; a RETURNING list inside a nested WITH counts too.
     */
    @Test
    void writingWithQueriesAreJudgedByWhatTheyReturn(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        String delete = "WITH d AS (DELETE FROM customers WHERE id = 5 RETURNING ";
        assertThat(rule(rules, delete + "id, name) SELECT d.id || '', d.name FROM d", 0, 2)).isNull();
        assertThat(rule(rules, delete + "id, name) SELECT d.id || '', d.name FROM d", 1, 2)).isNull();
        assertThat(rule(rules, delete + "id, email) SELECT d.id || '', d.email FROM d", 0, 2)).isNull();
        assertThat(rule(rules, delete + "id, email) SELECT d.id || '', d.email FROM d", 1, 2)).isNotNull();
        assertThat(rule(rules, delete + "email AS e) SELECT d.e || '' FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, delete + "id AS e) SELECT d.e || '' FROM d", 0, 1)).isNull();
        assertThat(rule(rules, delete + "*) SELECT d.id || '' FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, delete + "c.*) SELECT d.id || '' FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, delete + "customers) SELECT d.customers FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH u AS (UPDATE customers c SET name = 'x' RETURNING c.id) SELECT u FROM u", 0, 1))
                .isNull();
        assertThat(rule(rules, "WITH u AS (UPDATE customers c SET name = 'x' RETURNING c.email) SELECT u FROM u", 0,
                1)).isNotNull();
        assertThat(rule(rules, "WITH d AS (WITH x AS (SELECT 1) DELETE FROM customers RETURNING email AS e) "
                + "SELECT d.e || '' FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH s AS (SELECT email AS e FROM customers), d AS (DELETE FROM t USING s "
                + "WHERE t.v = s.e RETURNING s.e) SELECT d.e FROM d", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH s AS (SELECT email AS e FROM customers), d AS (DELETE FROM t USING s "
                + "WHERE t.v = s.e RETURNING t.id) SELECT d.id FROM d", 0, 1)).isNull();
        assertThat(rule(rules, "WITH d AS (INSERT INTO customers (id, name) VALUES (1, 'a') RETURNING id) "
                + "SELECT id || '' FROM d", 0, 1)).isNull();
    }

    @Test
    void countsLabelsAndProductsAreNotRowsOfTheTablesTheyName(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        MaskingRules rules = rules(dir);
        assertThat(rule(rules, "SELECT count(c.*) FROM customers c", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT count(count(email)) OVER () FROM customers", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT count(email) || email FROM customers", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT o.id * 2, 1 AS customers FROM orders o", 0, 2)).isNull();
        assertThat(rule(rules, "SELECT o.id * 2, 1 AS customers FROM orders o", 1, 2)).isNull();
        assertThat(rule(rules, "SELECT to_json(c) FROM customers c", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT v, m.email FROM scratch, customers m WHERE m.id = 1", 1, 2)).isNotNull();
        assertThat(rule(rules, "SELECT v, email FROM scratch, customers m WHERE m.id = 1", 1, 2)).isNotNull();
        assertThat(rule(rules, "SELECT m.email FROM customers m", 0, 1)).isNotNull();
    }

    /**
     * A view's columns are ruled by the table columns it reads (the catalog records no more): a renamed masked column
     * ({@code email AS contact}) and anything computed from it are masked, a column named as an unmasked source is
     * not, nor a function of that name; the view's whole row is.
     */
    @Test
    void viewColumnsAreRuledByTheTableColumnsTheViewReads(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        MaskingRules rules = rules(dir);
        QualifiedName customers = new QualifiedName("public", "customers");
        Ancestry.ViewColumns contacts = new Ancestry.ViewColumns(List.of("id", "contact", "name"), List.of(
                new Ancestry.ViewColumns.Source(customers, "id"), new Ancestry.ViewColumns.Source(customers, "email"),
                new Ancestry.ViewColumns.Source(customers, "name")), null);
        Ancestry ancestry = new Ancestry() {
            @Override
            public List<QualifiedName> ancestors(String schema, String table) {
                return List.of();
            }

            @Override
            public Ancestry.ViewColumns viewColumns(String schema, String view) {
                return schema.equals("public") && view.equals("contacts") ? contacts : null;
            }
        };
        java.util.function.BiFunction<String, Integer, MaskingRules.ColumnRule> rule = (sql, column) ->
                ExpressionLineage.of(SqlLexer.tokenize(sql, true), ancestry).ruleFor(column, 2, rules);
        assertThat(rule.apply("SELECT lower(contact), 1 FROM contacts", 0)).isNotNull();
        assertThat(rule.apply("SELECT v.contact || '', 1 FROM public.contacts v", 0)).isNotNull();
        assertThat(rule.apply("SELECT lower(name), id + 1 FROM contacts", 0)).isNull();
        assertThat(rule.apply("SELECT lower(name), id + 1 FROM contacts", 1)).isNull();
        assertThat(rule.apply("SELECT row_to_json(v), 1 FROM contacts v", 0)).isNotNull();
        assertThat(rule.apply("SELECT array_agg(contacts), 1 FROM contacts", 0)).isNotNull();
        assertThat(rule.apply("SELECT lower(contact), 1 FROM other", 0)).as("not the view's column").isNull();
        MaskingRules.ColumnRule renamed = ExpressionLineage.viewColumnRule(contacts, "contact", rules, ancestry);
        assertThat(renamed).isNotNull();
        assertThat(ExpressionLineage.viewColumnRule(contacts, "name", rules, ancestry)).isNull();
        assertThat(ExpressionLineage.viewColumnRule(contacts, null, rules, ancestry)).isSameAs(renamed);
        // a masked column renamed after an unmasked one the view reads too: the definition tells them apart
        Ancestry.ViewColumns directory = new Ancestry.ViewColumns(List.of("id", "name", "real_name"), List.of(
                new Ancestry.ViewColumns.Source(customers, "id"), new Ancestry.ViewColumns.Source(customers, "email"),
                new Ancestry.ViewColumns.Source(customers, "name")),
                " SELECT c.id,\n    c.email AS name,\n    c.name AS real_name\n   FROM customers c;");
        assertThat(ExpressionLineage.viewColumnRule(directory, "name", rules, ancestry)).isSameAs(renamed);
        assertThat(ExpressionLineage.viewColumnRule(directory, "id", rules, ancestry)).isNull();
        assertThat(ExpressionLineage.viewColumnRule(directory, "real_name", rules, ancestry))
                .as("renamed, but from an unmasked column").isNull();
        assertThat(new Ancestry.ViewColumns(List.of("id", "name", "real_name"), directory.sources(),
                directory.definition())).as("a reload that finds the same view").isEqualTo(directory);
    }

    /**
     * A definition whose names resolve (by the policy's default schema) to the view itself ends the reading there
     * with what the view reads at all, instead of recursing for ever.
     */
    @Test
    void aViewDefinitionReadingItselfByNameEnds(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        QualifiedName customers = new QualifiedName("public", "customers");
        Ancestry.ViewColumns loop = new Ancestry.ViewColumns(List.of("name", "x"), List.of(
                new Ancestry.ViewColumns.Source(customers, "email"), new Ancestry.ViewColumns.Source(customers,
                        "name")), "SELECT l.x AS name, l.name AS x FROM loop l");
        Ancestry ancestry = new Ancestry() {
            @Override
            public List<QualifiedName> ancestors(String schema, String table) {
                return List.of();
            }

            @Override
            public Ancestry.ViewColumns viewColumns(String schema, String view) {
                return view.equals("loop") ? loop : null;
            }
        };
        assertThat(ExpressionLineage.viewColumnRule(loop, "name", rules, ancestry)).isNotNull();
    }

    @Test
    void arrayAggOfARowIsAnArrayOfThatTablesRows() {
        java.util.function.Function<String, QualifiedName> rows = sql -> ExpressionLineage.of(
                SqlLexer.tokenize(sql, true), (schema, table) -> List.of()).rowsAsArray(0, 1);
        assertThat(rows.apply("SELECT array_agg(c ORDER BY c.id) FILTER (WHERE c.id > 1) AS a FROM customers c"))
                .isEqualTo(new QualifiedName(null, "customers"));
        assertThat(rows.apply("SELECT array_agg(customers.*) FROM app.customers"))
                .isEqualTo(new QualifiedName("app", "customers"));
        for (String sql : List.of("SELECT array_agg(c.email) FROM customers c",
                "SELECT array_agg(ROW(c.id)) FROM customers c", "SELECT array_agg(c)::text FROM customers c",
                "SELECT array_agg(c) FROM customers_of(1) c", "SELECT to_json(c) FROM customers c",
                "SELECT array_agg(c) || NULL FROM customers c")) {
            assertThat(rows.apply(sql)).as(sql).isNull();
        }
    }

    /** A computed output column is judged by the subquery columns it reads, each by the item that makes it. */
    @Test
    void subqueryColumnsAreJudgedOneByOne(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        String sql = "SELECT s.id + 1, s.e || '', lower(s.n) FROM (SELECT id, email AS e, name AS n FROM customers) s";
        assertThat(rule(rules, sql, 0, 3)).isNull();
        assertThat(rule(rules, sql, 1, 3)).isNotNull();
        assertThat(rule(rules, sql, 2, 3)).isNull();
        assertThat(rule(rules, "WITH w AS (SELECT id, email FROM customers) SELECT w.id * 2 FROM w", 0, 1)).isNull();
        assertThat(rule(rules, "WITH w AS (SELECT id, email FROM customers) SELECT w.email || '' FROM w", 0, 1))
                .isNotNull();
    }

    /**
     * A column name that is not qualified is one of a derived row's columns only when that row has a column of that
     * name: when all of the row's column names are known (labels, plain references, calls), each is judged by the
     * item that makes it; when some is not (*, a UNION, a cast, names given with the alias), by the whole row.
     */
    @Test
    void unqualifiedColumnsAreLookedUpAmongADerivedRowsColumns(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        MaskingRules rules = rules(dir);
        String join = "SELECT upper(name) FROM customers c JOIN ";
        assertThat(rule(rules, join + "(SELECT id, email FROM customers) s ON s.id = c.id", 0, 1)).isNull();
        assertThat(rule(rules, join + "(SELECT id, lower(email) AS e, 1, 'x' FROM customers) s ON s.id = c.id", 0, 1))
                .isNull();
        assertThat(rule(rules, join + "(SELECT id, email AS name FROM customers) s ON s.id = c.id", 0, 1)).isNotNull();
        assertThat(rule(rules, join + "(SELECT id, upper(email) FROM customers) s ON s.id = c.id", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT lower(upper) FROM (SELECT id, upper(email) FROM customers) s", 0, 1))
                .isNotNull();
        assertThat(rule(rules, "SELECT lower(upper) FROM (SELECT id, pg_catalog.upper(email) FROM customers) s", 0,
                1)).isNotNull();
        assertThat(rule(rules, "SELECT id + 1 FROM (SELECT id, email FROM customers) s", 0, 1)).isNull();
        // names the server gives otherwise, or cannot be told: the whole row
        assertThat(rule(rules, join + "(SELECT id, email::text FROM customers) s ON s.id = c.id", 0, 1)).isNotNull();
        assertThat(rule(rules, join + "(SELECT id, trim(email) FROM customers) s ON s.id = c.id", 0, 1)).isNotNull();
        assertThat(rule(rules, join + "(SELECT * FROM customers) s ON s.id = c.id", 0, 1)).isNotNull();
        assertThat(rule(rules, join + "(SELECT id, email FROM customers UNION SELECT 1, 'a') s ON s.id = c.id", 0, 1))
                .isNotNull();
        assertThat(rule(rules, join + "(SELECT id, email FROM customers) s(id, name) ON s.id = c.id", 0, 1))
                .isNotNull();
        assertThat(rule(rules, join + "(SELECT id, email FROM customers) s ON s.id = c.id JOIN (SELECT 1 AS id, "
                + "email AS name FROM customers) s2 ON true", 0, 1)).isNotNull();
        // WITH queries alike, also one read through another
        String r = "WITH r AS (SELECT id, email FROM customers) ";
        assertThat(rule(rules, r + join + "r ON r.id = c.id", 0, 1)).isNull();
        assertThat(rule(rules, r + "SELECT lower(email) FROM orders o JOIN r ON r.id = o.cid", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH r AS (SELECT email AS name FROM customers), q AS (SELECT name FROM r) "
                + "SELECT lower(name) FROM q", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH r AS (SELECT email FROM customers), q AS (SELECT r.email AS name FROM r) "
                + "SELECT lower(name) FROM q", 0, 1)).isNotNull();
        assertThat(rule(rules, "WITH d AS (DELETE FROM customers RETURNING id, email) " + join + "d ON d.id = c.id",
                0, 1)).isNull();
        assertThat(rule(rules, "WITH d AS (DELETE FROM customers RETURNING *) " + join + "d ON d.id = c.id", 0, 1))
                .isNotNull();
        // a LATERAL subquery or a function in FROM may read another row's columns by name: judged as carrying them
        String s = "(SELECT id, email AS e FROM customers) s";
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + ", LATERAL (SELECT e AS x) b", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + " JOIN LATERAL (SELECT y AS x FROM (SELECT e AS y) z) b "
                + "ON true", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + ", unnest(ARRAY[e]) AS u(x)", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + ", ROWS FROM (unnest(ARRAY[e])) AS u(x)", 0, 1))
                .isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + ", LATERAL (SELECT id AS x) b", 0, 1)).isNotNull();
        // nor when another row has the same name as the LATERAL one (which then is not told apart)
        assertThat(rule(rules, "SELECT upper(x) FROM (SELECT o FROM (SELECT email AS o FROM customers) l) t, "
                + "LATERAL (SELECT o AS x) l", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT upper(x) FROM (SELECT z FROM (SELECT 1 AS z) l) u, " + s + ", "
                + "LATERAL (SELECT e AS x) l", 0, 1)).isNotNull();
        // a plain subquery cannot: its columns are its own
        assertThat(rule(rules, "SELECT upper(x) FROM " + s + ", (SELECT name AS x FROM customers) b", 0, 1))
                .isNull();
        assertThat(rule(rules, "SELECT o.id + 1 FROM " + s + " JOIN (SELECT id FROM orders) o ON o.id = s.id", 0, 1))
                .isNull();
    }

    /** The column list of JOIN ... USING (a, b) is no derived row; a subquery after USING (MERGE, DELETE) is. */
    @Test
    void joinUsingColumnsAreNoDerivedRows() {
        assertThat(ExpressionLineage.derivedNames(SqlLexer.tokenize("SELECT o.id FROM orders o JOIN customers c "
                + "USING (id, \"Name\") JOIN (SELECT id FROM t) x USING (id) WHERE o.id > 1", true)).keySet())
                .containsExactly("x");
        assertThat(ExpressionLineage.derivedNames(SqlLexer.tokenize("MERGE INTO a USING (SELECT id FROM t) s "
                + "ON a.id = s.id WHEN MATCHED THEN DELETE", true)).keySet()).containsExactly("s");
        assertThat(ExpressionLineage.derivedNames(SqlLexer.tokenize("DELETE FROM a USING (VALUES (1)) v(id) "
                + "WHERE a.id = v.id", true)).keySet()).containsExactly("v");
    }
}
