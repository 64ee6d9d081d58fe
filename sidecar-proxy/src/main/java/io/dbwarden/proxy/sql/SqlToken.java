package io.dbwarden.proxy.sql;

/**
 * One lexical token of PostgreSQL SQL.
 *
 * @param kind  what it is
 * @param start offset of the first character in the source text
 * @param end   offset after the last character
 * @param text  for WORD the lower-cased word; for QUOTED_IDENT the identifier without quotes; for STRING and NUMBER
 *              "?" (literal values are deliberately not kept), except the folded setting name of
 *              {@code set_config('name', ...)}; else the source text
 */
public record SqlToken(Kind kind, int start, int end, String text) {
    public enum Kind {
        /** Unquoted identifier or keyword (lower-cased, as PostgreSQL folds it). */
        WORD,
        /** Double-quoted identifier, quotes removed and doubled quotes collapsed. */
        QUOTED_IDENT,
        /** String literal of any flavour (plain, E'', B'', X'', N'', U&'', dollar-quoted). */
        STRING,
        NUMBER,
        /** Positional parameter $n. */
        PARAM,
        /** Operator or punctuation other than ';' (one token per character, except multi-char operators). */
        SYMBOL,
        SEMICOLON
    }

    public boolean isWord(String lowerCaseWord) {
        return kind == Kind.WORD && text.equals(lowerCaseWord);
    }

    public boolean isSymbol(String symbol) {
        return kind == Kind.SYMBOL && text.equals(symbol);
    }

    /** Whether this is a name: an unquoted word (which may also be a keyword) or a quoted identifier. */
    public boolean isName() {
        return kind == Kind.WORD || kind == Kind.QUOTED_IDENT;
    }
}
