package io.dbwarden.proxy.sql;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.RandomAccess;

/** Statement splitting, literal-free normalization and fingerprints, all built on {@link SqlLexer}. */
public final class SqlText {
    private SqlText() {
    }

    /**
     * One statement of a (possibly multi-statement) query string, with its tokens. {@code text} runs from its first
     * to its last token; {@code source} also holds the comments around it (up to the neighbouring semicolons), where
     * sqlcommenter-style tags such as a change reason live.
     */
    public record Statement(String text, List<SqlToken> tokens, String source) {
    }

    /**
     * Splits a simple-query string at top-level semicolons, as the server does: a semicolon inside parentheses
     * separates the actions of {@code CREATE RULE ... DO (a; b)}, not statements (an unbalanced ')' does not hide
     * later semicolons; an unclosed '(' makes the rest one statement, which the server rejects as a whole), nor do
     * the semicolons of a routine body ({@code CREATE FUNCTION ... BEGIN ATOMIC a; b; END}, see {@link RoutineBody}).
     * Empty statements (only whitespace, comments or semicolons) are dropped, like the server drops them.
     */
    public static List<Statement> split(String sql, boolean standardConformingStrings) {
        List<SqlToken> tokens = SqlLexer.tokenize(sql, standardConformingStrings);
        List<Statement> statements = new ArrayList<>(1);
        int first = 0;
        int depth = 0;
        RoutineBody body = new RoutineBody();
        for (int i = 0; i <= tokens.size(); i++) {
            SqlToken t = i < tokens.size() ? tokens.get(i) : null;
            if (t != null && t.kind() == SqlToken.Kind.SYMBOL) {
                depth += t.isSymbol("(") ? 1 : t.isSymbol(")") ? -1 : 0;
            }
            if (t != null && (t.kind() != SqlToken.Kind.SEMICOLON || depth > 0 || body.inBody())) {
                body.token(t.kind(), t.text(), depth);
            } else {
                depth = 0;
                body.reset();
                if (i > first) {
                    // the first statement's tokens keep their offsets: a read-only view, no copy (the usual case)
                    List<SqlToken> part = first == 0 ? Collections.unmodifiableList(tokens.subList(0, i))
                            : List.copyOf(tokens.subList(first, i));
                    int start = part.get(0).start();
                    int end = part.get(part.size() - 1).end();
                    int sourceStart = first == 0 ? 0 : tokens.get(first - 1).end();
                    int sourceEnd = i == tokens.size() ? sql.length() : tokens.get(i).start();
                    String text = sql.substring(start, end);
                    // comments around a statement are rare: only then does its source differ from its text
                    String source = blank(sql, sourceStart, start) && blank(sql, end, sourceEnd) ? text
                            : sql.substring(sourceStart, sourceEnd).strip();
                    statements.add(new Statement(text, shift(part, start), source));
                }
                first = i + 1;
            }
        }
        return statements;
    }

    private static boolean blank(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            if (!Character.isWhitespace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    /** {@code tokens} with offsets counted from {@code offset} of their text (for a part of a statement). */
    public static List<SqlToken> shift(List<SqlToken> tokens, int offset) {
        if (offset == 0) {
            return tokens;
        }
        List<SqlToken> shifted = new ArrayList<>(tokens.size());
        for (SqlToken t : tokens) {
            shifted.add(new SqlToken(t.kind(), t.start() - offset, t.end() - offset, t.text()));
        }
        return List.copyOf(shifted);
    }

    /**
     * Literal-free text of one statement: literals become {@code ?}, comments disappear, unquoted words are
     * lower-cased, tokens are separated by single spaces where the source had any separation. Safe to log:
     * string, numeric and dollar-quoted literals never survive.
     */
    public static String normalize(String statementText, List<SqlToken> tokens) {
        StringBuilder sb = new StringBuilder(statementText.length());
        normalize(statementText, tokens, sb);
        return sb.toString();
    }

    /** {@link #normalize(String, List)} appended to {@code sb}, for callers that reuse a builder. */
    public static void normalize(String statementText, List<SqlToken> tokens, StringBuilder sb) {
        int prevEnd = -1;
        for (SqlToken t : tokens) {
            if (prevEnd >= 0 && t.start() > prevEnd) {
                sb.append(' ');
            }
            appendNormalized(sb, t.kind(), t.text(), statementText, t.start(), t.end());
            prevEnd = t.end();
        }
    }

    /** One token's literal-free form; {@code word} is the token text of WORD and QUOTED_IDENT tokens. */
    static void appendNormalized(StringBuilder sb, SqlToken.Kind kind, String word, String source, int start,
                                 int end) {
        switch (kind) {
            // a set_config setting name is the only literal text a token keeps (see SqlLexer.settingName)
            case STRING -> {
                if (word == null || word.equals("?")) {
                    sb.append('?');
                } else {
                    sb.append('\'').append(word).append('\'');
                }
            }
            case NUMBER -> sb.append('?');
            case WORD -> sb.append(word);
            case QUOTED_IDENT -> {
                sb.append('"');
                for (int i = 0; i < word.length(); i++) {
                    char c = word.charAt(i);
                    sb.append(c);
                    if (c == '"') {
                        sb.append('"');
                    }
                }
                sb.append('"');
            }
            default -> sb.append(source, start, end);
        }
    }

    /**
     * The statements of a query string found in one pass over it without token objects: their offsets, and their
     * literal-free texts written one after the other into a builder. Split and normalized exactly as
     * {@link #split} and {@link #normalize(String, List)} do (both run the same lexer). Reusable: {@link #scan}
     * starts over.
     */
    public static final class Scan {
        private final StringBuilder normalized = new StringBuilder(256);
        private final RoutineBody body = new RoutineBody();
        /** Per statement: start, end, sourceStart, sourceEnd, normalizedEnd. */
        private int[] spans = new int[5 * 4];
        private int count;
        /** Start and end of every number literal, in order. */
        private int[] numbers = new int[2 * 8];
        private int numberCount;

        /** Splits and normalizes {@code sql}; returns the number of statements. */
        public int scan(String sql, boolean standardConformingStrings) {
            normalized.setLength(0);
            count = 0;
            numberCount = 0;
            SqlLexer lexer = SqlLexer.over(sql, standardConformingStrings);
            int start = -1;
            int end = -1;
            int sourceStart = 0;
            int depth = 0; // as in split: semicolons inside parentheses or a routine body do not end a statement
            RoutineBody body = this.body;
            body.reset();
            while (true) {
                boolean more = lexer.advance();
                SqlToken.Kind kind = more ? lexer.kind() : null;
                if (kind == SqlToken.Kind.SYMBOL) {
                    char c = sql.charAt(lexer.start());
                    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                } else if (kind == SqlToken.Kind.NUMBER) {
                    number(lexer.start(), lexer.end());
                }
                if (more && (kind != SqlToken.Kind.SEMICOLON || depth > 0 || body.inBody())) {
                    body.token(kind, kind == SqlToken.Kind.WORD ? lexer.text() : null, depth);
                }
                if (!more || (kind == SqlToken.Kind.SEMICOLON && depth <= 0 && !body.inBody())) {
                    depth = 0;
                    body.reset();
                    if (start >= 0) {
                        add(start, end, sourceStart, more ? lexer.start() : sql.length());
                    }
                    if (!more) {
                        return count;
                    }
                    sourceStart = lexer.end();
                    start = -1;
                    continue;
                }
                if (start < 0) {
                    start = lexer.start();
                } else if (lexer.start() > end) {
                    normalized.append(' ');
                }
                lexer.appendNormalized(normalized);
                end = lexer.end();
            }
        }

        private void add(int start, int end, int sourceStart, int sourceEnd) {
            if (spans.length < 5 * (count + 1)) {
                spans = java.util.Arrays.copyOf(spans, spans.length * 2);
            }
            int at = 5 * count++;
            spans[at] = start;
            spans[at + 1] = end;
            spans[at + 2] = sourceStart;
            spans[at + 3] = sourceEnd;
            spans[at + 4] = normalized.length();
        }

        private void number(int start, int end) {
            if (numbers.length < 2 * (numberCount + 1)) {
                numbers = java.util.Arrays.copyOf(numbers, numbers.length * 2);
            }
            numbers[2 * numberCount] = start;
            numbers[2 * numberCount++ + 1] = end;
        }

        public int count() {
            return count;
        }

        /** How many number literals the text holds (in all its statements). */
        public int numberCount() {
            return numberCount;
        }

        /** Offset of number literal {@code i}'s first character. */
        public int numberStart(int i) {
            return numbers[2 * i];
        }

        /** Offset after number literal {@code i}'s last character. */
        public int numberEnd(int i) {
            return numbers[2 * i + 1];
        }

        /** Where statement {@code i}'s {@link #source} begins: after the semicolon that ended the one before. */
        public int sourceStart(int i) {
            return spans[5 * i + 2];
        }

        /** Where statement {@code i}'s {@link #source} ends: at its semicolon, or the end of the text. */
        public int sourceEnd(int i) {
            return spans[5 * i + 3];
        }

        /** Offset of statement {@code i}'s first token in the query string. */
        public int start(int i) {
            return spans[5 * i];
        }

        /** Offset after statement {@code i}'s last token. */
        public int end(int i) {
            return spans[5 * i + 1];
        }

        /** Statement {@code i} with the comments around it, as {@link Statement#source()}. */
        public String source(String sql, int i, String text) {
            int from = sourceStart(i);
            int to = sourceEnd(i);
            return blank(sql, from, start(i)) && blank(sql, end(i), to) ? text : sql.substring(from, to).strip();
        }

        /** The builder holding every statement's literal-free text, one after the other. */
        public StringBuilder normalized() {
            return normalized;
        }

        public int normalizedStart(int i) {
            return i == 0 ? 0 : spans[5 * i - 1];
        }

        public int normalizedEnd(int i) {
            return spans[5 * i + 4];
        }

        /** Drops a very large buffer (a huge statement) rather than keeping it for the next scan. */
        public boolean oversized() {
            return normalized.capacity() > 64 * 1024 || spans.length > 4096 || numbers.length > 4096;
        }
    }

    /**
     * The tokens of a statement's text, made on first use: most statements are decided from cached analyses of
     * their shape, and only filters that look at the tokens (the classifier of a new shape, masking of COPY, change
     * approval) pay for them. Thread-safe: racing first uses compute equal lists.
     */
    public static List<SqlToken> lazyTokens(String statementText, boolean standardConformingStrings) {
        return new LazyTokens(statementText, standardConformingStrings);
    }

    private static final class LazyTokens extends AbstractList<SqlToken> implements RandomAccess {
        private final String text;
        private final boolean standardConformingStrings;
        private volatile List<SqlToken> tokens;

        LazyTokens(String text, boolean standardConformingStrings) {
            this.text = text;
            this.standardConformingStrings = standardConformingStrings;
        }

        private List<SqlToken> tokens() {
            List<SqlToken> t = tokens;
            if (t == null) {
                t = Collections.unmodifiableList(SqlLexer.tokenize(text, standardConformingStrings));
                tokens = t;
            }
            return t;
        }

        @Override
        public SqlToken get(int index) {
            return tokens().get(index);
        }

        @Override
        public int size() {
            return tokens().size();
        }
    }

    /**
     * Whether a literal-free text starts with {@code word} as a whole word: {@code "do?"} (from {@code DO'...'}) and
     * {@code "prepare\"p\" as"} start with a word although no space follows it, {@code "dock"} does not start with
     * "do".
     */
    public static boolean startsWithWord(String normalized, String word) {
        return normalized.startsWith(word) && !identifierCharAt(normalized, word.length());
    }

    /**
     * Whether {@code word} occurs in a literal-free text as a whole word, wherever it stands: {@code "as("} and
     * {@code "into\"t\""} hold "as" and "into" although no space surrounds them. (A quoted identifier spelled like
     * the word counts too: callers use this to pick statements worth a closer look.)
     */
    public static boolean containsWord(String normalized, String word) {
        for (int at = normalized.indexOf(word); at >= 0; at = normalized.indexOf(word, at + 1)) {
            if (!identifierCharAt(normalized, at - 1) && !identifierCharAt(normalized, at + word.length())) {
                return true;
            }
        }
        return false;
    }

    private static boolean identifierCharAt(String s, int at) {
        if (at < 0 || at >= s.length()) {
            return false;
        }
        return SqlLexer.isIdentPart(s.charAt(at));
    }

    /** 16 hex digits of SHA-256 over the normalized text: equal for statements that differ only in literals. */
    public static String fingerprint(String normalized) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(normalized.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }
}
