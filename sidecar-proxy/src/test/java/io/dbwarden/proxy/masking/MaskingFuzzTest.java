package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.SqlSqueeze;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random queries that carry a masked column through expressions, subqueries, WITH queries, set operations, VALUES,
 * LATERAL and functions in FROM, JSON and row constructors, views that rename them, run through the real proxy: no
 * result value may contain the masked part of an address (the local part; the partial strategy keeps the domain), the hashed code, the
 * year of the redacted date (also through extract, to_char and date arithmetic), the redacted number, the nulled
 * token, the pin replaced by a fixed value, or a card number in a column no rule covers (the credit-card detector's
 * work: every wrapper keeps the number whole, so it must be found wherever it ends up). A fifth of the queries are
 * run as {@code INSERT INTO f_sink <query>}: refused, or the table (read directly) holds no masked column's value
 * (the card number may be copied: the detector masks it where it comes out). Queries the server rejects are skipped, but most must run, so the test says something. Seed and count:
 * {@code -Ddbwarden.fuzz.seed}, {@code -Ddbwarden.fuzz.queries}; a failure names both and the query.
 */
@ExtendWith(LeakDetection.class)
class MaskingFuzzTest {
    private static final String SECRET = "zqsecretlocal";
    /** A hashed code and a redacted date: their values, or the year, must not come out either. */
    private static final String CODE = "K9X7Q2W5Z";
    private static final String YEAR = "1901";
    private static final String SALARY = "987654";
    /** A nulled and a fixed-value column. */
    private static final String TOKEN = "zqtokenvalue";
    private static final String PIN = "31415926";
    /** The masked columns a query carries (the sources name "email"; the date goes as text, or as a year). */
    private static final List<String> COLUMNS = List.of("email", "code", "born::text", "salary::text", "token",
            "pin", "memo");
    /** A card number in a column no rule covers: the credit-card detector must find it in every shape. */
    private static final String CARD = "4111 1111 1111 1111";
    private static final List<UnaryOperator<String>> DATE_WRAPPERS = List.of(
            e -> "extract(year from (" + e + ")::date)::text", e -> "to_char((" + e + ")::date, 'YYYY')",
            e -> "date_part('year', (" + e + ")::date)::text", e -> "((" + e + ")::date + 1)::text");
    private static final List<UnaryOperator<String>> NUMBER_WRAPPERS = List.of(
            e -> "((" + e + ")::numeric * 1)::text", e -> "round((" + e + ")::numeric)::text",
            e -> "abs((" + e + ")::numeric)::text", e -> "to_char((" + e + ")::numeric, '999999')");

    /** Expressions that keep (or may keep) the value they wrap. */
    private static final List<UnaryOperator<String>> WRAPPERS = List.of(
            e -> "lower(" + e + ")", e -> "upper(" + e + ")", e -> e + " || ''", e -> "concat(" + e + ", '-')",
            e -> "coalesce(" + e + ", '')", e -> "format('%s', " + e + ")", e -> "substr(" + e + ", 1)",
            e -> "replace(" + e + ", 'q', 'q')", e -> "(" + e + ")::text", e -> "trim(" + e + ")",
            e -> "reverse(reverse(" + e + "))", e -> "left(" + e + ", 80)", e -> "(SELECT " + e + ")",
            e -> "CASE WHEN true THEN " + e + " END", e -> "json_build_object('k', " + e + ")::text",
            e -> "to_json(" + e + ")::text", e -> "jsonb_build_array(" + e + ")::text",
            e -> "row(" + e + ", 1)::text", e -> "array_to_string(ARRAY[" + e + "], ',')",
            e -> "regexp_replace(" + e + ", 'x', 'x')", e -> "split_part(" + e + ", '@', 1)",
            e -> e + " COLLATE \"C\"", e -> "nullif(" + e + ", '')", e -> "greatest(" + e + ", '')",
            e -> "quote_literal(" + e + ")", e -> "translate(" + e + ", 'q', 'q')", e -> "lpad(" + e + ", 40)",
            e -> "concat_ws(',', " + e + ")", e -> "lag(" + e + ") OVER (ORDER BY 1)",
            e -> "first_value(" + e + ") OVER ()", e -> "string_to_array(" + e + ", '@')::text",
            e -> "encode(convert_to(" + e + ", 'UTF8'), 'escape')", e -> "xmlelement(name v, " + e + ")::text",
            e -> "jsonb_path_query_first(jsonb_build_object('a', " + e + "), '$.a')::text",
            e -> "(SELECT array_agg(" + e + "))::text", e -> "initcap(" + e + ")",
            e -> "overlay(" + e + " placing 'q' from 2 for 1)", e -> "md5(" + e + ") || " + e,
            e -> "(SELECT mode() WITHIN GROUP (ORDER BY " + e + "))",
            e -> "CASE WHEN 1 IS DISTINCT FROM 2 THEN " + e + " END", e -> "trim(both ' ' from " + e + ")",
            e -> "substring(" + e + " from 1)",
            // values of other types that carry text: records, documents, arrays of records
            e -> "row(" + e + ", 1)", e -> "row(row(" + e + "), 2)", e -> "json_build_object('k', " + e + ")",
            e -> "jsonb_build_array(" + e + ")", e -> "xmlelement(name v, " + e + ")", e -> "ARRAY[row(" + e + ")]");

    /** A FROM clause and an expression for the masked value in it. */
    private record Source(String from, String value) {
    }

    private static final List<Source> SOURCES = List.of(
            new Source("f_people p", "p.email"),
            new Source("f_people", "email"),
            new Source("(SELECT email AS a1, id FROM f_people) s", "s.a1"),
            new Source("(SELECT email AS a1, id FROM f_people) s", "a1"),
            new Source("(SELECT lower(email) AS a1 FROM f_people) s", "s.a1"),
            new Source("(SELECT email AS a1 FROM f_people UNION ALL SELECT 'x') s", "s.a1"),
            new Source("(SELECT email AS a1 FROM f_people UNION SELECT 'x') s(b1)", "b1"),
            new Source("(VALUES ((SELECT email FROM f_people LIMIT 1))) v(c1)", "c1"),
            new Source("f_people p, LATERAL (SELECT p.email AS x1) l", "l.x1"),
            new Source("f_people p CROSS JOIN LATERAL (VALUES (p.email)) AS w(x2)", "x2"),
            new Source("unnest(ARRAY(SELECT email FROM f_people)) u(x3)", "u.x3"),
            new Source("unnest(ARRAY(SELECT email FROM f_people))", "unnest"),
            new Source("f_people p, json_each_text(row_to_json(p))", "value"),
            new Source("(SELECT p AS r FROM f_people p) s", "(s.r).email"),
            new Source("(SELECT p AS r FROM f_people p) s", "s.r::text"),
            new Source("f_people p", "p::text"),
            new Source("f_people p", "row_to_json(p)::text"),
            new Source("(SELECT * FROM f_people) s", "s::text"),
            new Source("(SELECT * FROM f_people) s", "to_jsonb(s)::text"),
            new Source("(SELECT * FROM (SELECT email AS deep FROM f_people) i) s", "s.deep || ''"),
            new Source("f_people p JOIN f_notes n ON n.person_id = p.id", "p.email || n.body"),
            new Source("f_people p", "(p).email"),
            new Source("f_people p", "row(p.*)::text"),
            // whole rows, masked field by field: a bare row, by the table's name, through a subquery, cast
            new Source("f_people p", "p"), new Source("f_people", "f_people"),
            new Source("(SELECT p AS r FROM f_people p) s", "s.r"), new Source("f_people p", "row(p.*)::f_people"),
            new Source("f_notes n", "row(n.id, (SELECT email FROM f_people LIMIT 1), 'x', "
                    + "NULL, NULL, NULL, NULL, NULL, NULL)::f_people"),
            new Source("(SELECT DISTINCT ON (id) email AS d1 FROM f_people ORDER BY id) s", "s.d1"),
            new Source("(SELECT email AS g1 FROM f_people GROUP BY email) s", "g1 || ''"),
            new Source("(SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY email) AS m1 FROM f_people) s", "s.m1"),
            new Source("(SELECT string_agg(email, ',') OVER () AS w1 FROM f_people) s", "s.w1"),
            new Source("generate_series(1, 1) g, LATERAL (SELECT email AS x4 FROM f_people LIMIT 1) l", "x4"),
            new Source("f_notes n, LATERAL (SELECT p.email AS x5 FROM f_people p WHERE p.id = n.person_id) l",
                    "l.x5"),
            new Source("(SELECT (SELECT email FROM f_people WHERE id = 1) AS sc) s", "sc"),
            new Source("(SELECT jsonb_agg(p) AS j FROM f_people p) s", "s.j::text"),
            new Source("jsonb_to_recordset((SELECT jsonb_agg(p) FROM f_people p)) AS r(email text, id int)",
                    "r.email"),
            new Source("json_populate_recordset(null::f_people, (SELECT json_agg(p) FROM f_people p)) r",
                    "r.email || ''"),
            // views that show the columns under other names (rules name only the table's), and a view over one
            new Source("f_view v", "v.v_email"), new Source("f_view", "v_email"), new Source("f_view v", "v"),
            new Source("f_view v", "row_to_json(v)::text"), new Source("f_view v", "to_jsonb(v.*)::text"),
            new Source("f_view2 w", "w.w_email"), new Source("f_view2 w", "w::text"),
            new Source("(SELECT v_email AS a8 FROM f_view) s", "s.a8"),
            new Source("f_notes n JOIN f_view v ON v.id = n.person_id", "n.body || v.v_email"),
            // a masked column renamed after an unmasked one the view reads too (only its definition tells)
            new Source("f_view3 v", "v.name"), new Source("f_view3", "name"),
            // tables listed after a comma, and after a subquery or a function in FROM
            new Source("f_notes n, f_people p", "p.email"), new Source("f_notes n, f_people p", "email || ''"),
            new Source("(SELECT 1 AS one) o, f_people", "f_people.email || ''"),
            new Source("generate_series(1, 1) g, f_notes n, f_view v", "lower(v_email)"),
            new Source("f_notes n JOIN f_notes m ON m.id = n.id, f_people p", "upper(p.email)"),
            // the TABLE command: a subquery of its own, a part of a UNION
            new Source("(f_people p JOIN f_notes n ON n.person_id = p.id)", "p.email || n.body"),
            new Source("((f_people p JOIN f_notes n ON true) JOIN f_notes m ON true)", "lower(p.email)"),
            new Source("(TABLE f_people) s", "s.email"), new Source("(TABLE f_view) s", "s.v_email"),
            new Source("(SELECT p.* FROM f_people p WHERE false UNION ALL TABLE f_people) s", "s.email"),
            // columns renamed with a table's alias; a name spelled with Unicode escapes and another escape character
            new Source("f_people AS r (i, nm, e2)", "e2"), new Source("f_people r (i, nm, e2)", "lower(r.e2)"),
            new Source("f_people p", "p.U&\"em!0061il\" UESCAPE '!'"),
            // a derived row after another join's condition, and a LATERAL subquery reading another row by name
            new Source("f_notes n JOIN f_notes m ON m.id = n.id JOIN (SELECT email AS a9 FROM f_people) s ON true",
                    "a9"),
            new Source("f_notes n JOIN f_notes m ON m.id = n.id, (SELECT email AS a10 FROM f_people) s", "a10"),
            new Source("(SELECT email AS a11 FROM f_people) s, LATERAL (SELECT a11 AS x6) l", "x6"));

    @Test
    void noMaskedValueComesOutOfAnyShape(@TempDir Path dir) throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261130L);
        int queries = Integer.getInteger("dbwarden.fuzz.queries", 400);
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP VIEW IF EXISTS f_view3, f_view2, f_view");
            s.execute("DROP TABLE IF EXISTS f_notes, f_people, f_sink");
            s.execute("CREATE TABLE f_people (id int PRIMARY KEY, name text, email text, code text, born date, "
                    + "salary numeric, token text, pin text, memo text)");
            s.execute("INSERT INTO f_people VALUES (1, 'Ann', '" + SECRET + "@example.com', '" + CODE
                    + "', '" + YEAR + "-02-03', " + SALARY + ", '" + TOKEN + "', '" + PIN + "', 'paid with card "
                    + CARD + " today'), (2, 'Bo', NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
            s.execute("CREATE TABLE f_notes (id int, person_id int, body text)");
            s.execute("INSERT INTO f_notes VALUES (1, 1, 'hello')");
            s.execute("CREATE TABLE f_sink (v text, w text)");
            s.execute("CREATE VIEW f_view AS SELECT id, name, email AS v_email, code AS v_code, born AS v_born, "
                    + "salary AS v_salary, token AS v_token, pin AS v_pin, memo AS v_memo FROM f_people");
            s.execute("CREATE VIEW f_view2 AS SELECT name, v_email AS w_email, v_code AS w_code, v_born AS w_born, "
                    + "v_salary AS w_salary, v_token AS w_token, v_pin AS w_pin, v_memo AS w_memo FROM f_view");
            s.execute("CREATE VIEW f_view3 AS SELECT p.id, p.email AS name, p.name AS real_name FROM f_people p");
        }
        Path policy = MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.f_people.email"]
                        strategy: partial
                      - name: codes
                        columns: ["public.f_people.code"]
                        strategy: hash
                      - name: birthdays
                        columns: ["public.f_people.born"]
                        strategy: redact
                      - name: salaries
                        columns: ["public.f_people.salary"]
                        strategy: redact
                      - name: tokens
                        columns: ["public.f_people.token"]
                        strategy: "null"
                      - name: pins
                        columns: ["public.f_people.pin"]
                        strategy: fixed
                        value: "0000"
                    detectors:
                      - type: creditCard
                        strategy: partial
                """);
        Random random = new Random(seed);
        int ran = 0;
        List<String> rejected = new ArrayList<>();
        Path key = java.nio.file.Files.writeString(dir.resolve("key"), "fuzz-masking-key");
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "apps/fuzz", "--masking-key-file", key.toString());
             Connection c = CliProxy.connect(proxy, "");
             Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            for (int q = 0; q < queries; q++) {
                String sql = query(random);
                boolean write = random.nextInt(5) == 0;
                if (write) {
                    sql = intoSink(sql);
                }
                if (random.nextInt(3) == 0) {
                    sql = SqlSqueeze.squeeze(sql); // no whitespace the server does not need: AS(, INTO"t", ...
                }
                if (write) { // INSERT INTO f_sink <query>: refused, or nothing masked lands in the table
                    try (Statement s = c.createStatement()) {
                        s.executeUpdate(sql);
                        try (Statement d = direct.createStatement();
                             ResultSet rs = d.executeQuery("SELECT concat(v, ' ', w) FROM f_sink")) {
                            while (rs.next()) {
                                assertThat(stored(rs.getString(1))).as("seed %d query %d: %s wrote %s", seed, q, sql,
                                        rs.getString(1)).isFalse();
                            }
                        }
                        ran++;
                    } catch (SQLException e) {
                        if (String.valueOf(e.getMessage()).contains("would write values of masked columns")) {
                            ran++;
                        } else {
                            rejected.add(sql + " -> " + e.getMessage());
                        }
                    } finally {
                        try (Statement d = direct.createStatement()) {
                            d.execute("TRUNCATE f_sink");
                        }
                    }
                    continue;
                }
                if (random.nextInt(4) == 0) { // COPY (query) TO STDOUT: rows masked as the query's result
                    java.io.StringWriter out = new java.io.StringWriter();
                    try {
                        c.unwrap(org.postgresql.PGConnection.class).getCopyAPI()
                                .copyOut("COPY (" + sql + ") TO STDOUT", out);
                        assertThat(leaks(out.toString())).as("seed %d query %d: COPY (%s) -> %s", seed, q, sql,
                                out).isFalse();
                        ran++;
                    } catch (SQLException e) {
                        rejected.add("COPY " + sql + " -> " + e.getMessage());
                    }
                    continue;
                }
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
                    int columns = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        for (int i = 1; i <= columns; i++) {
                            String v = rs.getString(i);
                            assertThat(v != null && leaks(v)).as("seed %d query %d: %s -> %s", seed, q, sql, v)
                                    .isFalse();
                        }
                    }
                    ran++;
                } catch (SQLException e) {
                    rejected.add(sql + " -> " + e.getMessage());
                }
            }
        }
        assertThat(ran).as("queries that ran (rejected: %s)", rejected.stream().limit(5).toList())
                .isGreaterThan(queries * 3 / 4);
    }

    /**
     * {@code sql} (a query) as INSERT INTO f_sink of its rows: before its main SELECT, after its WITH queries.
     */
    private static String intoSink(String sql) {
        int main = sql.startsWith("WITH ") ? sql.lastIndexOf(") SELECT ") + 2 : 0;
        return sql.substring(0, main) + "INSERT INTO f_sink " + sql.substring(main);
    }

    /**
     * Whether a value written to a table holds a masked column's value. A card number the detector finds is masked
     * where it comes out, not refused where it is copied: a copy of the unmasked memo is no leak.
     */
    private static boolean stored(String value) {
        return leaks(value.replace(CARD, ""));
    }

    /** Whether a result holds a masked value (hash outputs, hex that may spell a year by chance, left out). */
    private static boolean leaks(String value) {
        String v = value.replaceAll("h:[0-9a-f]{24}", "");
        return v.contains(SECRET) || v.contains(CODE) || v.contains(YEAR) || v.contains(SALARY) || v.contains(TOKEN)
                || v.contains(PIN) || v.contains(CARD);
    }

    private static String query(Random random) {
        Source picked = SOURCES.get(random.nextInt(SOURCES.size()));
        String column = COLUMNS.get(random.nextInt(COLUMNS.size()));
        Source source = new Source(picked.from().replace("email", column), picked.value().replace("email", column));
        String value = source.value();
        if (column.startsWith("born") && random.nextBoolean()) {
            value = DATE_WRAPPERS.get(random.nextInt(DATE_WRAPPERS.size())).apply(value);
        } else if (column.startsWith("salary") && random.nextBoolean()) {
            value = NUMBER_WRAPPERS.get(random.nextInt(NUMBER_WRAPPERS.size())).apply(value);
        }
        for (int n = random.nextInt(4); n > 0; n--) {
            value = WRAPPERS.get(random.nextInt(WRAPPERS.size())).apply(value);
        }
        String select = switch (random.nextInt(13)) {
            case 9 -> "WITH w AS (SELECT " + value + " AS o FROM " + source.from() + "), w2 AS (SELECT o FROM w) "
                    + "SELECT (o)::text || '' FROM w2";
            case 10 -> "WITH w AS (SELECT " + value + " AS o FROM " + source.from() + ") SELECT (o)::text || '' "
                    + "FROM f_notes n JOIN f_notes m ON m.id = n.id JOIN w ON true";
            case 11 -> "SELECT (o)::text || '' FROM f_notes n JOIN f_notes m ON m.id = n.id, (SELECT " + value
                    + " AS o FROM " + source.from() + ") t";
            case 12 -> "SELECT (x)::text || '' FROM (SELECT " + value + " AS o FROM " + source.from() + ") t, "
                    + "LATERAL (SELECT o AS x) l";
            case 8 -> "SELECT " + value + " FROM " + source.from() + " UNION ALL SELECT 'x'";
            case 6 -> "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY " + value + ") FROM " + source.from();
            case 7 -> "SELECT 1 IS DISTINCT FROM 2, " + value + " FROM " + source.from();
            case 0 -> "SELECT " + value + " FROM " + source.from();
            case 1 -> "SELECT " + value + " AS out1, 1 AS n FROM " + source.from();
            case 2 -> "SELECT string_agg(" + value + ", ',') FROM " + source.from();
            case 3 -> "WITH w AS (SELECT " + value + " AS o FROM " + source.from() + ") SELECT o FROM w";
            case 4 -> "SELECT t.o FROM (SELECT " + value + " AS o FROM " + source.from() + ") t";
            default -> "SELECT json_agg(t)::text FROM (SELECT " + value + " AS o FROM " + source.from() + ") t";
        };
        return select;
    }
}
