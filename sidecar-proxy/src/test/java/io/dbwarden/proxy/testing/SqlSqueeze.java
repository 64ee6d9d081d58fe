package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.sql.SqlLexer;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.List;

/**
 * The same SQL with comments dropped and no whitespace where the server needs none: between a keyword or name and a
 * quote, parenthesis, comma or quoted identifier ({@code DO'BEGIN ... END'}, {@code AS(SELECT ...)},
 * {@code INTO"t"FROM}). Checks that find words in text by the spaces around them miss such statements; the server
 * runs them as before.
 */
public final class SqlSqueeze {
    private SqlSqueeze() {
    }

    public static String squeeze(String sql) {
        List<SqlToken> tokens = SqlLexer.tokenize(sql, true);
        StringBuilder out = new StringBuilder(sql.length());
        SqlToken previous = null;
        for (SqlToken t : tokens) {
            if (previous != null && !tight(sql, previous, t) && !tight(sql, t, previous)) {
                out.append(' ');
            }
            out.append(sql, t.start(), t.end());
            previous = t;
        }
        return out.toString();
    }

    /** Whether a word and this token need no space between them (in either order). */
    private static boolean tight(String sql, SqlToken word, SqlToken other) {
        if (word.kind() != SqlToken.Kind.WORD || List.of("b", "e", "n", "x", "u").contains(word.text())) {
            return false; // B'..', E'..', N'..', X'..', U&'..' are other literals
        }
        char first = sql.charAt(other.start());
        return (other.kind() == SqlToken.Kind.STRING && first == '\'')
                || (other.kind() == SqlToken.Kind.QUOTED_IDENT && first == '"')
                || other.kind() == SqlToken.Kind.SEMICOLON
                || other.isSymbol("(") || other.isSymbol(")") || other.isSymbol(",");
    }
}
