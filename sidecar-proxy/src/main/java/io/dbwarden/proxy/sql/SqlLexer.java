package io.dbwarden.proxy.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A lexer for PostgreSQL's SQL dialect that follows the server's rules for what is code and what is not:
 * comments (nested block comments included), quoted identifiers, string literals (E'', U&amp;'',
 * {@code standard_conforming_strings}), dollar quoting and positional parameters. It is the single source of
 * truth for statement splitting, fingerprinting and the classifier fallback, so that a semicolon or keyword
 * hidden in a literal or comment can never be mistaken for code, nor code for a literal.
 */
public final class SqlLexer {
    private final String sql;
    private final boolean standardConformingStrings;
    private int pos;

    /** The current token: set by {@link #advance()}. */
    private SqlToken.Kind kind;
    private int start;
    /**
     * For WORD the lower-cased word, for QUOTED_IDENT the identifier, for the setting-name literal of set_config
     * the folded name (see {@link #settingName()}); else null (made from the source on demand).
     */
    private String word;
    /** 1 right after the word set_config, 2 right after its opening parenthesis; else 0. */
    private int setConfigState;

    private SqlLexer(String sql, boolean standardConformingStrings) {
        this.sql = sql;
        this.standardConformingStrings = standardConformingStrings;
    }

    /**
     * A cursor over the tokens of {@code sql}: {@link #advance()} moves to the next token, whose kind and offsets
     * are then read without a token object being made (statement shapes of texts seen before are found that way).
     */
    public static SqlLexer over(String sql, boolean standardConformingStrings) {
        return new SqlLexer(sql, standardConformingStrings);
    }

    /** Tokenizes the whole text. Unterminated literals and comments extend to the end (as the server would reject). */
    public static List<SqlToken> tokenize(String sql, boolean standardConformingStrings) {
        SqlLexer lexer = new SqlLexer(sql, standardConformingStrings);
        List<SqlToken> tokens = new ArrayList<>();
        while (lexer.advance()) {
            tokens.add(lexer.token());
        }
        return tokens;
    }

    public SqlToken.Kind kind() {
        return kind;
    }

    /** Offset of the current token's first character. */
    public int start() {
        return start;
    }

    /** Offset after the current token's last character. */
    public int end() {
        return pos;
    }

    /** The current token as an object. */
    public SqlToken token() {
        return new SqlToken(kind, start, pos, text());
    }

    /** The current token's {@link SqlToken#text()}. */
    public String text() {
        return switch (kind) {
            case WORD, QUOTED_IDENT -> word;
            // literal texts are never looked at (normalization and classification ignore literal values): no copy;
            // except the name in set_config('name', ...), which says what the call changes
            case STRING -> word != null ? word : LITERAL;
            case NUMBER -> LITERAL;
            default -> pos - start == 1 && sql.charAt(start) < ONE_CHAR.length ? ONE_CHAR[sql.charAt(start)]
                    : sql.substring(start, pos);
        };
    }

    /** Appends the current token's literal-free form (see {@link SqlText#normalize(String, List)}). */
    public void appendNormalized(StringBuilder sb) {
        SqlText.appendNormalized(sb, kind, word, sql, start, pos);
    }

    /** Moves to the next token; false at the end of the text. */
    public boolean advance() {
        skipWhitespaceAndComments();
        word = null;
        if (pos >= sql.length()) {
            kind = null;
            return false;
        }
        start = pos;
        char c = sql.charAt(pos);
        if (c == ';') {
            pos++;
            return is(SqlToken.Kind.SEMICOLON);
        }
        if (c == '\'') {
            scanQuoted('\'', !standardConformingStrings);
            return is(SqlToken.Kind.STRING);
        }
        if (c == '"') {
            word = scanQuotedIdentifier();
            return is(SqlToken.Kind.QUOTED_IDENT);
        }
        if ((c == 'e' || c == 'E') && peek(1) == '\'') {
            pos++;
            scanQuoted('\'', true);
            return is(SqlToken.Kind.STRING);
        }
        if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && peek(1) == '\'') {
            pos++;
            scanQuoted('\'', !standardConformingStrings);
            return is(SqlToken.Kind.STRING);
        }
        if ((c == 'u' || c == 'U') && peek(1) == '&' && (peek(2) == '\'' || peek(2) == '"')) {
            pos += 2;
            if (sql.charAt(pos) == '\'') {
                scanQuoted('\'', false);
                skipUescape();
                return is(SqlToken.Kind.STRING);
            }
            String ident = scanQuotedIdentifier();
            word = decodeUnicodeEscapes(ident, skipUescape());
            return is(SqlToken.Kind.QUOTED_IDENT);
        }
        if (c == '$') {
            if (isDigit(peek(1))) {
                pos++;
                while (pos < sql.length() && isDigit(sql.charAt(pos))) {
                    pos++;
                }
                return is(SqlToken.Kind.PARAM);
            }
            int tagEnd = dollarTagEnd(pos);
            if (tagEnd > 0) {
                String tag = sql.substring(pos, tagEnd);
                int close = sql.indexOf(tag, tagEnd);
                pos = close < 0 ? sql.length() : close + tag.length();
                return is(SqlToken.Kind.STRING);
            }
            pos++;
            return is(SqlToken.Kind.SYMBOL);
        }
        if (isIdentStart(c)) {
            int hash = asciiLower(c);
            boolean ascii = c < 0x80;
            pos++;
            char d;
            while (pos < sql.length() && isIdentPart(d = sql.charAt(pos))) {
                hash = 31 * hash + asciiLower(d);
                ascii &= d < 0x80;
                pos++;
            }
            word = ascii ? Words.lowerCase(sql, start, pos, hash) : asciiLowerCase(sql.substring(start, pos));
            return is(SqlToken.Kind.WORD);
        }
        if (isDigit(c) || (c == '.' && isDigit(peek(1)))) {
            scanNumber();
            return is(SqlToken.Kind.NUMBER);
        }
        if (c == ':' && peek(1) == ':') {
            pos += 2;
            return is(SqlToken.Kind.SYMBOL);
        }
        if (isOperatorChar(c)) {
            pos++;
            while (pos < sql.length() && isOperatorChar(sql.charAt(pos)) && !startsComment(pos)) {
                pos++;
            }
            return is(SqlToken.Kind.SYMBOL);
        }
        pos++;
        return is(SqlToken.Kind.SYMBOL);
    }

    private boolean is(SqlToken.Kind k) {
        kind = k;
        if ((k == SqlToken.Kind.WORD || k == SqlToken.Kind.QUOTED_IDENT) && word.length() > MAX_IDENTIFIER_BYTES / 3) {
            word = identifier(word);
        }
        if (k == SqlToken.Kind.STRING && setConfigState == 2) {
            word = settingName();
        }
        if (k == SqlToken.Kind.WORD) {
            setConfigState = word.length() == 10 && word.equals("set_config") ? 1 : 0;
        } else {
            setConfigState = setConfigState == 1 && k == SqlToken.Kind.SYMBOL && pos - start == 1
                    && sql.charAt(start) == '(' ? 2 : 0;
        }
        return true;
    }

    /**
     * The setting a set_config call names, when its first argument is a plain literal holding a parameter name
     * ({@code 'app.tenant_id'}, {@code 'search_path'}): folded to lower case like the server does. Null for anything
     * else (escapes, other characters, over 63 characters), which the classifier treats as any setting. Setting names
     * are not data, so they stay in the literal-free text; without them every set_config would have to be judged as
     * possibly changing search_path, and row-level-security setups that pass a tenant through a setting could not
     * work through the proxy.
     */
    private String settingName() {
        int from = start + 1;
        int to = pos - 1;
        if (sql.charAt(start) != '\'' || to <= from || to - from > 63 || sql.charAt(to) != '\'') {
            return null;
        }
        for (int i = from; i < to; i++) {
            char c = sql.charAt(i);
            boolean letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
            if (!(letter || (i > from && ((c >= '0' && c <= '9') || c == '.')))) {
                return null;
            }
        }
        return sql.substring(from, to).toLowerCase(Locale.ROOT);
    }

    /** Single-character tokens (punctuation, one-character operators) as shared strings. */
    private static final String[] ONE_CHAR = new String[128];

    static {
        for (char c = 0; c < ONE_CHAR.length; c++) {
            ONE_CHAR[c] = String.valueOf(c).intern();
        }
    }

    /** The server's NAMEDATALEN - 1: longer identifiers are cut to this many bytes (UTF-8), as the server does. */
    static final int MAX_IDENTIFIER_BYTES = 63;

    /**
     * {@code name} as the server keeps it: cut to {@link #MAX_IDENTIFIER_BYTES} bytes of UTF-8 at a character's
     * boundary ({@code customers} followed by 60 more letters names the table of the first 63).
     */
    static String identifier(String name) {
        int bytes = 0;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            int n = c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isHighSurrogate(c) ? 4 : 3;
            if (bytes + n > MAX_IDENTIFIER_BYTES) {
                return name.substring(0, i);
            }
            bytes += n;
            if (n == 4) {
                i++; // the low surrogate of the pair
            }
        }
        return name;
    }

    /**
     * {@code word} with its ASCII letters lower-cased and the others kept, as the server folds an unquoted identifier
     * in a multi-byte encoding: {@code ÉMAIL} is {@code Émail}, not {@code émail}.
     */
    static String asciiLowerCase(String word) {
        char[] c = word.toCharArray();
        for (int i = 0; i < c.length; i++) {
            c[i] = (char) asciiLower(c[i]);
        }
        return new String(c);
    }

    private static int asciiLower(char c) {
        return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    }

    /**
     * Lower-cased ASCII words shared across statements: keywords and the application's identifiers repeat in every
     * query, so the lexer hands out the same string instead of copying and lower-casing each occurrence. A
     * direct-mapped table, read and written without locks: a racing writer can only replace an entry with another
     * valid one (strings are immutable and safely published).
     */
    private static final class Words {
        private static final int MAX_LENGTH = 64;
        private static final String[] TABLE = new String[4096];

        /** {@code sql[start, end)} lower-cased; {@code hash} is the lower-cased text's {@link String#hashCode()}. */
        static String lowerCase(String sql, int start, int end, int hash) {
            int length = end - start;
            if (length > MAX_LENGTH) {
                return sql.substring(start, end).toLowerCase(Locale.ROOT);
            }
            int slot = (hash ^ (hash >>> 16)) & (TABLE.length - 1);
            String cached = TABLE[slot];
            if (cached != null && cached.length() == length && sameLowerCase(cached, sql, start)) {
                return cached;
            }
            String word = sql.substring(start, end).toLowerCase(Locale.ROOT);
            TABLE[slot] = word;
            return word;
        }

        private static boolean sameLowerCase(String lower, String sql, int start) {
            for (int i = 0; i < lower.length(); i++) {
                if (lower.charAt(i) != asciiLower(sql.charAt(start + i))) {
                    return false;
                }
            }
            return true;
        }
    }

    private static final String LITERAL = "?";

    private char peek(int ahead) {
        int i = pos + ahead;
        return i < sql.length() ? sql.charAt(i) : '\0';
    }

    private boolean startsComment(int i) {
        if (i + 1 >= sql.length()) {
            return false;
        }
        char a = sql.charAt(i);
        char b = sql.charAt(i + 1);
        return (a == '-' && b == '-') || (a == '/' && b == '*');
    }

    private void skipWhitespaceAndComments() {
        while (pos < sql.length()) {
            char c = sql.charAt(pos);
            if (Character.isWhitespace(c)) {
                pos++;
            } else if (c == '-' && peek(1) == '-') {
                int nl = indexOfLineEnd(pos);
                pos = nl < 0 ? sql.length() : nl + 1;
            } else if (c == '/' && peek(1) == '*') {
                int depth = 0;
                while (pos < sql.length()) {
                    if (sql.startsWith("/*", pos)) {
                        depth++;
                        pos += 2;
                    } else if (sql.startsWith("*/", pos)) {
                        depth--;
                        pos += 2;
                        if (depth == 0) {
                            break;
                        }
                    } else {
                        pos++;
                    }
                }
            } else {
                return;
            }
        }
    }

    private int indexOfLineEnd(int from) {
        for (int i = from; i < sql.length(); i++) {
            char c = sql.charAt(i);
            if (c == '\n' || c == '\r') {
                return i;
            }
        }
        return -1;
    }

    /** Scans a quoted literal starting at the quote; doubled quotes stay inside; backslash escapes if asked. */
    private void scanQuoted(char quote, boolean backslashEscapes) {
        pos++;
        while (pos < sql.length()) {
            char c = sql.charAt(pos);
            if (backslashEscapes && c == '\\') {
                pos += 2;
            } else if (c == quote) {
                if (peek(1) == quote) {
                    pos += 2;
                } else {
                    pos++;
                    // adjacent literals separated by whitespace containing a newline continue the literal
                    int save = pos;
                    int i = pos;
                    boolean newline = false;
                    while (i < sql.length() && Character.isWhitespace(sql.charAt(i))) {
                        newline |= sql.charAt(i) == '\n' || sql.charAt(i) == '\r';
                        i++;
                    }
                    if (newline && i < sql.length() && sql.charAt(i) == quote) {
                        pos = i + 1;
                        continue;
                    }
                    pos = save;
                    return;
                }
            } else {
                pos++;
            }
        }
        pos = Math.min(pos, sql.length());
    }

    private String scanQuotedIdentifier() {
        StringBuilder sb = new StringBuilder();
        pos++;
        while (pos < sql.length()) {
            char c = sql.charAt(pos);
            if (c == '"') {
                if (peek(1) == '"') {
                    sb.append('"');
                    pos += 2;
                } else {
                    pos++;
                    return sb.toString();
                }
            } else {
                sb.append(c);
                pos++;
            }
        }
        return sb.toString();
    }

    /**
     * Steps over a {@code UESCAPE 'c'} clause after a U&amp; literal or identifier; returns its escape character
     * (a backslash without the clause, or when the clause is not one character: the server refuses that).
     */
    private char skipUescape() {
        int save = pos;
        skipWhitespaceAndComments();
        if (sql.regionMatches(true, pos, "UESCAPE", 0, 7)) {
            pos += 7;
            skipWhitespaceAndComments();
            if (pos < sql.length() && sql.charAt(pos) == '\'') {
                int open = pos;
                scanQuoted('\'', false);
                return pos == open + 3 ? sql.charAt(open + 1) : '\\';
            }
        }
        pos = save;
        return '\\';
    }

    /** Decodes U&amp;"..." escapes with escape character {@code escape} (UESCAPE): eXXXX, e+XXXXXX, ee. */
    static String decodeUnicodeEscapes(String s, char escape) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == escape && i + 1 < s.length()) {
                if (s.charAt(i + 1) == escape) {
                    sb.append(escape);
                    i++;
                    continue;
                }
                int len = s.charAt(i + 1) == '+' ? 6 : 4;
                int from = s.charAt(i + 1) == '+' ? i + 2 : i + 1;
                if (from + len <= s.length()) {
                    try {
                        sb.appendCodePoint(Integer.parseInt(s.substring(from, from + len), 16));
                        i = from + len - 1;
                        continue;
                    } catch (IllegalArgumentException e) {
                        // fall through: keep the backslash literally
                    }
                }
            }
            sb.append(c);
        }
        return sb.toString();
    }

    /** End (exclusive) of a dollar-quote tag starting at {@code at}, or -1 if there is none. */
    private int dollarTagEnd(int at) {
        int i = at + 1;
        if (i < sql.length() && sql.charAt(i) == '$') {
            return i + 1;
        }
        if (i >= sql.length() || !isIdentStart(sql.charAt(i))) {
            return -1;
        }
        while (i < sql.length() && isIdentPart(sql.charAt(i)) && sql.charAt(i) != '$') {
            i++;
        }
        return i < sql.length() && sql.charAt(i) == '$' ? i + 1 : -1;
    }

    private void scanNumber() {
        if (sql.charAt(pos) == '0' && (peek(1) == 'x' || peek(1) == 'X' || peek(1) == 'o' || peek(1) == 'O'
                || peek(1) == 'b' || peek(1) == 'B')) {
            pos += 2;
            while (pos < sql.length() && (Character.isLetterOrDigit(sql.charAt(pos)) || sql.charAt(pos) == '_')) {
                pos++;
            }
            return;
        }
        while (pos < sql.length() && (isDigit(sql.charAt(pos)) || sql.charAt(pos) == '_')) {
            pos++;
        }
        if (pos < sql.length() && sql.charAt(pos) == '.' && peek(1) != '.') {
            pos++;
            while (pos < sql.length() && (isDigit(sql.charAt(pos)) || sql.charAt(pos) == '_')) {
                pos++;
            }
        }
        if (pos < sql.length() && (sql.charAt(pos) == 'e' || sql.charAt(pos) == 'E')) {
            int save = pos;
            pos++;
            if (pos < sql.length() && (sql.charAt(pos) == '+' || sql.charAt(pos) == '-')) {
                pos++;
            }
            if (pos < sql.length() && isDigit(sql.charAt(pos))) {
                while (pos < sql.length() && isDigit(sql.charAt(pos))) {
                    pos++;
                }
            } else {
                pos = save;
            }
        }
    }

    /** An ASCII digit. */
    public static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    static boolean isIdentStart(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    }

    /** Whether {@code c} continues a word (an unquoted identifier or keyword), and so also a number. */
    public static boolean isIdentPart(char c) {
        return isIdentStart(c) || isDigit(c) || c == '$';
    }

    private static boolean isOperatorChar(char c) {
        return "+-*/<>=~!@#%^&|`?".indexOf(c) >= 0;
    }
}
