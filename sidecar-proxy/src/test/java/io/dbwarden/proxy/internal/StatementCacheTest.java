package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StatementCacheTest {

    @Test
    void aTextIsCachedFromItsSecondSightingAndShapesShareOneNormalizedText() {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT * FROM t WHERE id = $1";
        List<StatementInfo> first = cache.split(sql, true);
        List<StatementInfo> second = cache.split(sql, true);
        List<StatementInfo> third = cache.split(sql, true);
        assertThat(second).isNotSameAs(first).isEqualTo(first);
        assertThat(third).isSameAs(second);

        StatementInfo a = cache.split("SELECT v FROM t WHERE id = 1", true).getFirst();
        StatementInfo b = cache.split("select V from T where ID = 2;", true).getFirst();
        assertThat(a.normalized()).isEqualTo("select v from t where id = ?").isSameAs(b.normalized());
        assertThat(a.fingerprint()).isEqualTo(b.fingerprint());
        assertThat(b.text()).isEqualTo("select V from T where ID = 2");
    }

    @Test
    void standardConformingStringsIsPartOfTheKey() {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT 'a\\'; DROP TABLE t; --'";
        for (int i = 0; i < 3; i++) {
            assertThat(cache.split(sql, true)).hasSize(2);
            assertThat(cache.split(sql, false)).hasSize(1);
        }
    }

    @Test
    void statementsAndTheirTokensAreReadOnly() {
        StatementCache cache = new StatementCache(64, 1024);
        List<StatementInfo> statements = cache.split("SELECT 1; SELECT 2", true);
        assertThat(statements).hasSize(2);
        assertThatThrownBy(() -> statements.getFirst().tokens().clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(statements::clear).isInstanceOf(UnsupportedOperationException.class);
        List<StatementInfo> single = cache.split("SELECT 3;", true);
        assertThatThrownBy(() -> single.getFirst().tokens().removeLast()).isInstanceOf(UnsupportedOperationException.class);
    }

    /**
     * The cache splits and normalizes in one pass without token objects and makes tokens only on demand; everything
     * a filter sees must be exactly what splitting the token list gives (policy decisions are cached by the
     * normalized text, so a difference could hand one statement another's decision).
     */
    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
            "  select 1 ;; ; SELECT 2 -- two\n; /* three */ SELECT\t3  ",
            "SELECT 'a;b', E'c\\'d;', $$e;$$, $tag$ f $$ ; $tag$, \"Quo\"\"ted;\" FROM \"T\"; DELETE FROM users",
            "/* lead */ UPDATE t SET v = 'x' WHERE id = 1 /* trail */; -- after\nINSERT INTO t VALUES (1.5e3, .5, 0x1F, 1_000)",
            "SELECT U&\"d\\0061t\\+000061\" UESCAPE '!' FROM t; SELECT U&'\\0041' UESCAPE '\\'",
            "SELECT 'one'\n  'continued' AS a, b'101', x'FF', n'nat' FROM t WHERE a::text ~* '^x' AND b <> $1",
            "/* /* nested */ still comment */ SELECT 1; /* unterminated",
            "SELECT 'unterminated; DROP TABLE t",
            "SELECT 'a\\'; DROP TABLE t; --'",
            "select Ünïcödé, ÄBC FROM \"Ä\" WHERE x = 'ü'",
            "-- only a comment",
            ";;;",
            "",
            "SELECT a-->b\nFROM t; SELECT a /*c*/ + /*d*/ b",
            "COPY t (a, b) FROM STDIN WITH (FORMAT csv); SET search_path = s, public; SHOW ALL"})
    void oneShapePassGivesWhatSplittingTheTokensGives(String sql) {
        for (boolean scs : new boolean[] {true, false}) {
            List<SqlText.Statement> expected = SqlText.split(sql, scs);
            StatementCache cache = new StatementCache(64, 1 << 20);
            for (int round = 0; round < 3; round++) { // analysed, then cached on the second sighting, then a hit
                List<StatementInfo> actual = cache.split(sql, scs);
                assertThat(actual).as("statements of %s (scs=%s)", sql, scs).hasSize(expected.size());
                for (int i = 0; i < expected.size(); i++) {
                    SqlText.Statement e = expected.get(i);
                    StatementInfo a = actual.get(i);
                    assertThat(a.text()).isEqualTo(e.text());
                    assertThat(a.source()).isEqualTo(e.source());
                    assertThat(a.normalized()).isEqualTo(SqlText.normalize(e.text(), e.tokens()));
                    assertThat(a.fingerprint()).isEqualTo(SqlText.fingerprint(a.normalized()));
                    assertThat(a.tokens()).isEqualTo(e.tokens());
                    assertThat(a).isEqualTo(StatementInfo.of(e));
                }
            }
        }
    }

    /**
     * A text that differs from a shape seen twice only in the digits of its number literals (marked # here) is
     * matched, not lexed; whatever else differs (a decimal, a literal grown into a word, another statement, a comment)
     * is lexed. Either way a filter sees exactly what lexing the text gives.
     */
    @ParameterizedTest
    @ValueSource(strings = {
            "SELECT abalance FROM pgbench_accounts WHERE aid = #;",
            "select * from t where a=# and b in (#,#) limit # offset #",
            "/* app=x */ UPDATE t SET v = v + # WHERE id = # -- trailing\n",
            "SELECT #",
            ";; SELECT -# ;;",
            "SELECT a FROM t WHERE b = # AND c = 'x 12' AND d = \"q 3\"",
            "SELECT $1 + # FROM t1 WHERE t1.c2 = #"})
    void digitsOfAShapeAreMatchedAndEverythingElseIsLexed(String shape) {
        for (boolean scs : new boolean[] {true, false}) {
            StatementCache cache = new StatementCache(64, 1 << 20);
            assertSameAsLexing(cache, shape.replace("#", "42"), scs);
            assertThat(cache.matchesShape(shape.replace("#", "43"), scs)).isFalse();
            assertSameAsLexing(cache, shape.replace("#", "43"), scs); // the second sighting keeps the shape
            for (String digits : new String[] {"0", "7", "12345678901234567890123", "007"}) {
                String sql = shape.replace("#", digits);
                assertThat(cache.matchesShape(sql, scs)).as("%s matches %s", sql, shape).isTrue();
                assertThat(cache.matchesShape(sql, !scs)).isFalse();
                assertSameAsLexing(cache, sql, scs);
            }
            for (String literal : new String[] {"1.5", "1e5", "1E+5", "0x1F", "0b1", "1_000", "12abc", "1$", "1.",
                    "1; DROP TABLE t", "1 -- c", "1/* x */", "'1'", "$1", "a1", "", "\u0663", "1::int", "(1)"}) {
                String sql = shape.replaceFirst("#", java.util.regex.Matcher.quoteReplacement(literal))
                        .replace("#", "1");
                assertThat(cache.matchesShape(sql, scs)).as("%s matches %s", sql, shape).isFalse();
                assertSameAsLexing(cache, sql, scs);
            }
            for (String sql : new String[] {shape.replace("#", "5") + "; SELECT 2", shape.replace("#", "5") + " 1",
                    "x" + shape.replace("#", "5"), shape.replace("#", "5").replace("SELECT", "select")}) {
                assertThat(cache.matchesShape(sql, scs)).as("%s matches %s", sql, shape)
                        .isEqualTo(sql.equals(shape.replace("#", "5")));
                assertSameAsLexing(cache, sql, scs);
            }
        }
    }

    @Test
    void aShapeIsKeptOnlyForDigitsThatEndTheNumber() {
        StatementCache cache = new StatementCache(64, 1024);
        for (String sql : new String[] {"SELECT 1.5", "SELECT 2.5", "SELECT 1e5", "SELECT 2e5", "SELECT 0x1F",
                "SELECT 0x2F", "SELECT 1; SELECT 2", "SELECT 3; SELECT 4", "SELECT 'a'", "SELECT 'b'"}) {
            cache.split(sql, true);
        }
        assertThat(cache.matchesShape("SELECT 3.5", true)).isFalse();
        assertThat(cache.matchesShape("SELECT 3e5", true)).isFalse();
        assertThat(cache.matchesShape("SELECT 0x3F", true)).isFalse();
        assertThat(cache.matchesShape("SELECT 5; SELECT 6", true)).isFalse();
        cache.split("SELECT 7", true);
        cache.split("SELECT 8", true);
        assertThat(cache.matchesShape("SELECT 9", true)).isTrue();
        assertThat(cache.matchesShape("SELECT 9.", true)).isFalse();
    }

    /**
     * Texts made of pieces that are hard on a lexer (quotes, comments, dollar quotes, operators, numbers of every
     * form), each shape recurring with other digits and with mutations: whatever the cache holds, every text comes
     * out as lexing it gives.
     */
    @Test
    void randomTextsComeOutAsLexingGivesThemWhateverShapesAreCached() {
        String[] pieces = {"SELECT", "x", "t1", "\"Q 1\"", "'s 2'", "E'\\' 3'", "$$ 4 $$", "$a$ 5 $a$", "$1", "--c 6\n",
                "/* 7 */", "/*", "*/", "(", ")", ",", ";", "=", "-", "+", "::", ".", "..", "e", "_", "$", "'", "\"", "U&",
                "\u00e9", "1.5", "0x1F", "1_0", "1e5", "#", "#", "#", "#", " ", " ", "\n", ""};
        java.util.Random random = new java.util.Random(20261202);
        StatementCache cache = new StatementCache(16, 1 << 20);
        String[] shapes = new String[12];
        int matched = 0;
        for (int round = 0; round < 20_000; round++) {
            int s = random.nextInt(shapes.length);
            if (shapes[s] == null || random.nextInt(50) == 0) {
                StringBuilder b = new StringBuilder();
                for (int i = 0, n = 1 + random.nextInt(12); i < n; i++) {
                    b.append(pieces[random.nextInt(pieces.length)]);
                    if (random.nextBoolean()) {
                        b.append(' ');
                    }
                }
                shapes[s] = b.toString();
            }
            StringBuilder sql = new StringBuilder();
            String shape = shapes[s];
            for (int i = 0; i < shape.length(); i++) {
                char c = shape.charAt(i);
                sql.append(c == '#' ? String.valueOf(random.nextInt(random.nextBoolean() ? 10 : 100_000)) : c);
            }
            if (random.nextInt(10) == 0) { // a mutation: one character in, out or replaced
                int at = random.nextInt(sql.length() + 1);
                String piece = pieces[random.nextInt(pieces.length)].replace("#", "9");
                if (at < sql.length() && random.nextBoolean()) {
                    sql.deleteCharAt(at);
                }
                sql.insert(Math.min(at, sql.length()), piece);
            }
            boolean scs = random.nextInt(8) != 0;
            matched += cache.matchesShape(sql.toString(), scs) ? 1 : 0;
            assertSameAsLexing(cache, sql.toString(), scs);
        }
        assertThat(matched).as("texts matched to a shape").isGreaterThan(1_000);
    }

    private static void assertSameAsLexing(StatementCache cache, String sql, boolean scs) {
        List<SqlText.Statement> expected = SqlText.split(sql, scs);
        List<StatementInfo> actual = cache.split(sql, scs);
        assertThat(actual).as("statements of %s (scs=%s)", sql, scs).hasSize(expected.size());
        for (int i = 0; i < expected.size(); i++) {
            SqlText.Statement e = expected.get(i);
            StatementInfo a = actual.get(i);
            assertThat(a.text()).as(sql).isEqualTo(e.text());
            assertThat(a.source()).as(sql).isEqualTo(e.source());
            assertThat(a.tokens()).as(sql).isEqualTo(e.tokens());
            assertThat(a).as(sql).isEqualTo(StatementInfo.of(e));
        }
    }

    /**
     * Many large texts, each sent twice (which would cache it), do not grow the tables beyond their budget; the texts
     * are analysed all the same, and once replacements free room, texts are kept again.
     */
    @Test
    void theTablesKeepNoMoreTextThanTheirBudget() {
        long budget = 200_000;
        StatementCache cache = new StatementCache(1024, 64 * 1024, budget);
        for (int i = 0; i < 400; i++) {
            String sql = "SELECT " + i + " AS n, '" + "x".repeat(5_000) + "' AS pad FROM t WHERE c = " + i;
            for (int sighting = 0; sighting < 2; sighting++) {
                List<StatementInfo> statements = cache.split(sql, true);
                assertThat(statements).hasSize(1);
                assertThat(statements.getFirst().text()).isEqualTo(sql);
                assertThat(statements.getFirst().normalized()).isEqualTo("select ? as n, ? as pad from t where c = ?");
            }
            assertThat(cache.cachedChars()).isLessThanOrEqualTo(budget);
        }
        assertThat(cache.cachedChars()).isGreaterThan(budget - 6_000); // it filled up, to within one text

        // short texts replacing long ones in their slots make room, and are kept then (a third sighting is a hit)
        for (int i = 0; i < 4_000; i++) {
            cache.split("SELECT v FROM t" + i, true);
            cache.split("SELECT v FROM t" + i, true);
        }
        assertThat(cache.cachedChars()).isLessThan(budget / 2);
        String sql = "SELECT v FROM t3999";
        assertThat(cache.split(sql, true)).isSameAs(cache.split(sql, true));
    }

    @Test
    void tokensAreMadeOnceAndSharedByEveryReader() throws Exception {
        StatementCache cache = new StatementCache(64, 1024);
        StatementInfo info = cache.split("SELECT a FROM t WHERE b = 1", true).getFirst();
        List<List<io.dbwarden.proxy.sql.SqlToken>> seen = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        Thread[] readers = new Thread[4];
        for (int i = 0; i < readers.length; i++) {
            readers[i] = Thread.ofPlatform().start(() -> seen.add(List.copyOf(info.tokens())));
        }
        for (Thread t : readers) {
            t.join();
        }
        assertThat(seen).hasSize(4).allSatisfy(tokens -> assertThat(tokens).hasSize(8).isEqualTo(seen.getFirst()));
        assertThat(info.tokens().get(3).text()).isEqualTo("t");
    }

    @Test
    void largeTextsAreSplitOnTheProxysOwnBoundedWorkers() throws Exception {
        StatementCache cache = new StatementCache(64, 1024);
        String sql = "SELECT 1 FROM t WHERE a IN (" + "1, ".repeat(100_000) + "1); SELECT 'two'";
        List<StatementInfo> async = cache.splitAsync(sql, true).get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(async).isEqualTo(cache.split(sql, true)).hasSize(2);
        assertThat(async.get(1).normalized()).isEqualTo("select ?");
        assertThat(Thread.getAllStackTraces().keySet()).anySatisfy(t -> assertThat(t.getName())
                .startsWith("dbwarden-split-"));

        // a burst beyond the queue is refused (the proxy then blocks those texts), not queued without bound
        String medium = "SELECT 1 FROM t WHERE a IN (" + "1, ".repeat(10_000) + "1); SELECT 'two'";
        List<java.util.concurrent.CompletableFuture<List<StatementInfo>>> burst = new java.util.ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            burst.add(cache.splitAsync(medium, true));
        }
        java.util.concurrent.CompletableFuture.allOf(burst.stream().map(f -> f.handle((v, e) -> null))
                .toArray(java.util.concurrent.CompletableFuture[]::new)).get(120, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(burst).anySatisfy(f -> assertThat(f).isCompletedExceptionally());
        assertThat(burst).filteredOn(f -> !f.isCompletedExceptionally()).hasSizeGreaterThanOrEqualTo(256)
                .allSatisfy(f -> assertThat(f.join()).hasSize(2));
        assertThat(burst).filteredOn(java.util.concurrent.CompletableFuture::isCompletedExceptionally).first()
                .satisfies(f -> assertThatThrownBy(f::join).hasMessageContaining("too many large query texts"));
    }
}
