package io.dbwarden.proxy.sql;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;

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
     * Splits a simple-query string at top-level semicolons, as the server does. Empty statements (only
     * whitespace, comments or semicolons) are dropped, like the server drops them.
     */
    public static List<Statement> split(String sql, boolean standardConformingStrings) {
        List<SqlToken> tokens = SqlLexer.tokenize(sql, standardConformingStrings);
        List<Statement> statements = new ArrayList<>(1);
        int first = 0;
        for (int i = 0; i <= tokens.size(); i++) {
            if (i == tokens.size() || tokens.get(i).kind() == SqlToken.Kind.SEMICOLON) {
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

    private static List<SqlToken> shift(List<SqlToken> tokens, int offset) {
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
            switch (t.kind()) {
                case STRING, NUMBER -> sb.append('?');
                case WORD -> sb.append(t.text());
                case QUOTED_IDENT -> sb.append('"').append(t.text().replace("\"", "\"\"")).append('"');
                default -> sb.append(statementText, t.start(), t.end());
            }
            prevEnd = t.end();
        }
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
