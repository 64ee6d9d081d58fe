package io.dbwarden.proxy.sql;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SqlTextTest {

    private static List<String> split(String sql) {
        return SqlText.split(sql, true).stream().map(SqlText.Statement::text).toList();
    }

    private static List<String> normalized(String sql) {
        return SqlText.split(sql, true).stream().map(s -> SqlText.normalize(s.text(), s.tokens())).toList();
    }

    /** The server folds only ASCII letters of an unquoted identifier (UTF-8 database): the reference for the lexer. */
    private static String asciiLower(String w) {
        StringBuilder b = new StringBuilder(w.length());
        for (char c : w.toCharArray()) {
            b.append(c >= 'A' && c <= 'Z' ? (char) (c + 32) : c);
        }
        return b.toString();
    }

    @Test
    void nonAsciiLettersOfUnquotedNamesKeepTheirCase() {
        List<SqlToken> tokens = SqlLexer.tokenize("SELECT ÉMAIL, \u212Aey FROM Tåble", true);
        assertThat(tokens.get(1).text()).isEqualTo("Émail");
        assertThat(tokens.get(3).text()).isEqualTo("\u212Aey"); // KELVIN SIGN is no K to the server
        assertThat(tokens.get(5).text()).isEqualTo("tåble");
    }

    @Test
    void wordsAreLowerCasedExactlyWhateverTheirCaseLengthOrAlphabet() {
        java.util.Random random = new java.util.Random(3);
        String letters = "abcXYZ_09$ÄéßİK";
        for (int i = 0; i < 5_000; i++) {
            StringBuilder word = new StringBuilder().append("aBcQÄ".charAt(random.nextInt(5)));
            for (int k = random.nextInt(i % 10 == 0 ? 90 : 12); k > 0; k--) {
                word.append(letters.charAt(random.nextInt(letters.length())));
            }
            String w = word.toString();
            List<SqlToken> tokens = SqlLexer.tokenize("SELECT " + w + " FROM " + w.toUpperCase(java.util.Locale.ROOT), true);
            assertThat(tokens.get(1).text()).as(w).isEqualTo(SqlLexer.identifier(asciiLower(w)));
            assertThat(tokens.get(3).text()).as(w).isEqualTo(SqlLexer.identifier(asciiLower(
                    w.toUpperCase(java.util.Locale.ROOT))));
        }
    }

    @Test
    void splitsOnlyAtTopLevelSemicolons() {
        assertThat(split("SELECT 1; SELECT 2")).containsExactly("SELECT 1", "SELECT 2");
        assertThat(split("SELECT ';'; SELECT \"a;b\" FROM t")).containsExactly("SELECT ';'", "SELECT \"a;b\" FROM t");
        assertThat(split("SELECT $$ ; $$; SELECT $tag$ ;$$; $tag$")).containsExactly("SELECT $$ ; $$",
                "SELECT $tag$ ;$$; $tag$");
        assertThat(split("SELECT 1 -- ; comment\n; SELECT /* ; /* nested ; */ ; */ 2"))
                .containsExactly("SELECT 1", "SELECT /* ; /* nested ; */ ; */ 2");
        assertThat(split("SELECT E'it\\'s; fine'; DROP TABLE x")).containsExactly("SELECT E'it\\'s; fine'",
                "DROP TABLE x");
    }

    /** The server's grammar: the actions of CREATE RULE ... DO (a; b) are one statement with it. */
    @Test
    void semicolonsInsideParenthesesDoNotEndAStatement() {
        String rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); DELETE FROM b)";
        assertThat(split(rule + "; SELECT 1")).containsExactly(rule, "SELECT 1");
        // an unbalanced ')' does not hide the statements after it; an unclosed '(' is one statement (a syntax
        // error for the server, which then runs nothing of the query string)
        assertThat(split("SELECT 1); DROP TABLE x")).containsExactly("SELECT 1)", "DROP TABLE x");
        assertThat(split("SELECT (1; DROP TABLE x")).containsExactly("SELECT (1; DROP TABLE x");
        // the one-pass scan the statement cache uses splits the same way
        SqlText.Scan scan = new SqlText.Scan();
        for (String sql : List.of(rule + "; SELECT 1", "SELECT 1); DROP TABLE x", "SELECT (1; DROP TABLE x",
                "SELECT (1); SELECT ((2)); (SELECT 3)")) {
            assertThat(scan.scan(sql, true)).as(sql).isEqualTo(split(sql).size());
            for (int i = 0; i < scan.count(); i++) {
                assertThat(sql.substring(scan.start(i), scan.end(i))).isEqualTo(split(sql).get(i));
            }
        }
    }

    /**
     * The server's grammar reads a routine's SQL-standard body (BEGIN ATOMIC ... END) to its END: one statement with
     * its CREATE. Where the proxy's rule could be misled it cuts finer, so a following statement is never swallowed.
     */
    @Test
    void aRoutineBodyIsOneStatementWithItsCreate() {
        String f = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n"
                + "  SELECT CASE WHEN true THEN 2 ELSE 3 END;\nEND";
        assertThat(split(f + "; SELECT 4")).containsExactly(f, "SELECT 4");
        assertThat(normalized(f)).containsExactly("create function f() returns int language sql begin atomic "
                + "select ?; select case when true then ? else ? end; end");
        String p = "create or replace procedure p(a int) language sql begin atomic insert into t values (a); "
                + "delete from t where x = (a); END";
        assertThat(split(p + ";DROP TABLE t;")).containsExactly(p, "DROP TABLE t");
        String empty = "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC END";
        assertThat(split(empty + "; SELECT 1")).containsExactly(empty, "SELECT 1");
        // columns named case and end (bare labels) inside the body neither keep it open nor close it early
        String labelled = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 case; "
                + "SELECT 2 end; SELECT 3 AS begin; END";
        assertThat(split(labelled + "; DROP TABLE t")).containsExactly(labelled, "DROP TABLE t");
        // BEGIN ATOMIC opens a body only in CREATE [OR REPLACE] FUNCTION / PROCEDURE
        assertThat(split("SELECT begin atomic; DROP TABLE t")).containsExactly("SELECT begin atomic", "DROP TABLE t");
        assertThat(split("CREATE TABLE begin (atomic int); DROP TABLE t")).hasSize(2);
        assertThat(split("CREATE OR REPLACE VIEW v AS SELECT 1 AS begin, 2 AS atomic; DROP TABLE t")).hasSize(2);
        assertThat(split("BEGIN; SELECT 1; END; SELECT 2")).hasSize(4);
        assertThat(split("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN begin; DROP TABLE t"))
                .hasSize(2);
        // a body left open runs to the end of the text: the server rejects that text as a whole
        assertThat(split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; DROP TABLE t"))
                .hasSize(1);
        // the one-pass scan the statement cache uses splits the same way
        SqlText.Scan scan = new SqlText.Scan();
        for (String sql : List.of(f + "; SELECT 4", p + ";DROP TABLE t;", empty + "; SELECT 1",
                labelled + "; DROP TABLE t", "SELECT begin atomic; DROP TABLE t", "BEGIN; SELECT 1; END; SELECT 2",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; DROP TABLE t")) {
            List<String> expected = split(sql);
            assertThat(scan.scan(sql, true)).as(sql).isEqualTo(expected.size());
            for (int i = 0; i < scan.count(); i++) {
                assertThat(sql.substring(scan.start(i), scan.end(i))).isEqualTo(expected.get(i));
            }
        }
    }

    @Test
    void aTextStartsWithAWordWhateverFollowsIt() {
        for (String sql : List.of("DO 'BEGIN END'", "DO'BEGIN END'", "do $$ begin end $$", "PREPARE\"p\"AS SELECT 1",
                "EXECUTE\"p\"", "execute")) {
            String word = sql.substring(0, sql.startsWith("EXECUTE") || sql.startsWith("execute") ? 7
                    : sql.startsWith("PREPARE") ? 7 : 2).toLowerCase(java.util.Locale.ROOT);
            assertThat(SqlText.startsWithWord(normalized(sql).get(0), word)).as(sql).isTrue();
        }
        assertThat(SqlText.startsWithWord("double_it", "do")).isFalse();
        assertThat(SqlText.startsWithWord("do$x", "do")).isFalse();
        assertThat(SqlText.startsWithWord("executed", "execute")).isFalse();
        assertThat(SqlText.containsWord(normalized("CREATE TABLE t AS(SELECT 1)").get(0), "as")).isTrue();
        assertThat(SqlText.containsWord(normalized("SELECT a INTO\"t\"FROM b").get(0), "into")).isTrue();
        assertThat(SqlText.containsWord("select alias, has_x, gas from t", "as")).isFalse();
    }

    @Test
    void emptyStatementsAreDroppedLikeTheServerDoes() {
        assertThat(split(" ;; -- nothing\n ; /* */ ")).isEmpty();
        assertThat(split(";SELECT 1;;")).containsExactly("SELECT 1");
    }

    @Test
    void standardConformingStringsOffChangesWhereLiteralsEnd() {
        String sql = "SELECT 'a\\'; DROP TABLE t; --'";
        assertThat(SqlText.split(sql, true)).hasSize(2);   // backslash is literal: the quote ends the string
        assertThat(SqlText.split(sql, false)).hasSize(1);  // backslash escapes the quote: all one literal
    }

    @Test
    void normalizationRemovesEveryLiteralAndComment() {
        assertThat(normalized("SELECT * FROM Users WHERE email = 'bob@example.com' AND id = 42 /* secret */"))
                .containsExactly("select * from users where email = ? and id = ?");
        assertThat(normalized("insert into t values (E'x\\ny', $$dollar$$, 1.5e3, -7, B'1010', X'ff', $1)"))
                .containsExactly("insert into t values (?, ?, ?, -?, ?, ?, $1)");
        assertThat(normalized("SELECT \"MixedCase\".\"Col\" FROM \"MixedCase\""))
                .containsExactly("select \"MixedCase\".\"Col\" from \"MixedCase\"");
        assertThat(normalized("SELECT U&'d\\0061t\\+000061' UESCAPE '\\'"))
                .containsExactly("select ?");
    }

    @Test
    void fingerprintIgnoresLiteralsWhitespaceAndCase() {
        String a = SqlText.fingerprint(normalized("SELECT * FROM t WHERE id = 1").get(0));
        String b = SqlText.fingerprint(normalized("select *\n  from T where ID = 999").get(0));
        String c = SqlText.fingerprint(normalized("SELECT * FROM t WHERE name = 1").get(0));
        assertThat(a).isEqualTo(b).hasSize(16);
        assertThat(a).isNotEqualTo(c);
    }

    @Test
    void unicodeEscapedIdentifiersAreDecoded() {
        List<SqlToken> tokens = SqlLexer.tokenize("SELECT * FROM U&\"d\\0061ta\"", true);
        assertThat(tokens.get(tokens.size() - 1)).satisfies(t -> {
            assertThat(t.kind()).isEqualTo(SqlToken.Kind.QUOTED_IDENT);
            assertThat(t.text()).isEqualTo("data");
        });
    }

    /** Identifiers longer than 63 bytes are cut as the server cuts them: they name what the first 63 bytes name. */
    @Test
    void longIdentifiersAreCutToWhatTheServerKeeps() {
        String name = "t".repeat(60) + "abc";
        assertThat(SqlLexer.tokenize("SELECT * FROM " + name + "defgh", true).getLast().text()).isEqualTo(name);
        assertThat(SqlLexer.tokenize("SELECT * FROM \"" + name.toUpperCase() + "XYZ\"", true).getLast().text())
                .isEqualTo(name.toUpperCase());
        assertThat(SqlLexer.tokenize("SELECT * FROM " + name.toUpperCase(), true).getLast().text()).isEqualTo(name);
        // multi-byte characters are not split: 40 two-byte letters keep 31 (62 bytes)
        assertThat(SqlLexer.tokenize("SELECT * FROM \"" + "\u00e9".repeat(40) + "\"", true).getLast().text())
                .isEqualTo("\u00e9".repeat(31));
        assertThat(SqlLexer.tokenize("SELECT * FROM U&\"" + "t".repeat(62) + "!0061x\" UESCAPE '!'", true)
                .getLast().text()).isEqualTo("t".repeat(62) + "a");
        assertThat(SqlLexer.identifier("x".repeat(61) + "\uD83D\uDE00")).isEqualTo("x".repeat(61));
        assertThat(SqlLexer.identifier("x".repeat(59) + "\uD83D\uDE00")).isEqualTo("x".repeat(59) + "\uD83D\uDE00");
        StatementClassifier.Result c = StatementClassifier.classify(SqlLexer.tokenize(
                "SELECT * FROM secret." + name + "_and_more", true));
        assertThat(c.tables()).extracting(StatementAnalysis.QualifiedName::name).containsExactly(name);
    }

    /** UESCAPE gives the escape character: U&"d!0061ta" UESCAPE '!' is data, and a backslash is then no escape. */
    @Test
    void unicodeEscapedIdentifiersUseTheirUescapeCharacter() {
        assertThat(SqlLexer.tokenize("SELECT * FROM U&\"d!0061t!+000061\" UESCAPE '!'", true).getLast().text())
                .isEqualTo("data");
        assertThat(SqlLexer.tokenize("SELECT * FROM u&\"d##!0061\" uescape /* c */ '#'", true).getLast().text())
                .isEqualTo("d#!0061");
        assertThat(SqlLexer.tokenize("SELECT * FROM U&\"d\\0061ta\" UESCAPE '!'", true).getLast().text())
                .isEqualTo("d\\0061ta");
        List<SqlToken> tokens = SqlLexer.tokenize("SELECT U&\"e!006dail\" UESCAPE '!' FROM t", true);
        assertThat(tokens.get(1).text()).isEqualTo("email");
        assertThat(tokens.get(2).isWord("from")).isTrue();
    }
}
