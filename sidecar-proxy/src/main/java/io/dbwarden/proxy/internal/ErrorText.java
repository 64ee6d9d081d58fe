package io.dbwarden.proxy.internal;

/**
 * Server error and notice texts without the row values they can quote: for audit, and for the client when results
 * are masked for the session (else {@code SELECT email::int} would show the email in "invalid input syntax for type
 * integer", and a unique violation the key in its detail).
 */
final class ErrorText {
    /** Fields that can carry values: message, detail, context (where), internal query. */
    private static final String VALUE_FIELDS = "MDWq";

    private ErrorText() {
    }

    /**
     * Errors whose texts can quote stored values: data exceptions (22: invalid input syntax for a cast of a column),
     * integrity violations (23: the key or failing row), PL/pgSQL RAISE (P0) and internal errors (XX). Others
     * (syntax, undefined column or table, permissions) quote only what the client itself wrote, and stay as they are
     * so that clients, AI agents included, can correct their statements.
     */
    static boolean mayQuoteValues(String sqlState) {
        return sqlState == null || sqlState.length() != 5 || sqlState.startsWith("22") || sqlState.startsWith("23")
                || sqlState.startsWith("P0") || sqlState.startsWith("XX");
    }

    /**
     * The fields with values replaced: quoted fragments, the value list of "Key (a, b)=(x, y)" and of "Failing row
     * contains (...)". Null when nothing changed.
     */
    static java.util.Map<Character, String> scrubbed(java.util.Map<Character, String> fields) {
        java.util.Map<Character, String> out = null;
        for (java.util.Map.Entry<Character, String> f : fields.entrySet()) {
            if (VALUE_FIELDS.indexOf(f.getKey()) < 0) {
                continue;
            }
            String s = withoutValueLists(withoutValues(f.getValue()));
            if (!s.equals(f.getValue())) {
                if (out == null) {
                    out = new java.util.LinkedHashMap<>(fields);
                }
                out.put(f.getKey(), s);
            }
        }
        return out;
    }

    /** The fields that can carry values, each passed through {@code mask}; null when nothing changed. */
    static java.util.Map<Character, String> masked(java.util.Map<Character, String> fields,
                                                   java.util.function.UnaryOperator<String> mask) {
        java.util.Map<Character, String> out = null;
        for (java.util.Map.Entry<Character, String> f : fields.entrySet()) {
            if (VALUE_FIELDS.indexOf(f.getKey()) < 0 && f.getKey() != 'H') {
                continue;
            }
            String s = mask.apply(f.getValue());
            if (!s.equals(f.getValue())) {
                if (out == null) {
                    out = new java.util.LinkedHashMap<>(fields);
                }
                out.put(f.getKey(), s);
            }
        }
        return out;
    }

    /** "Key (email)=(a@b.c)" -> "Key (email)=(?)"; "Failing row contains (1, a@b.c)." -> "... contains (?)." */
    static String withoutValueLists(String text) {
        if (text == null || text.indexOf('(') < 0) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length());
        int i = 0;
        while (i < text.length()) {
            int open = valueListStart(text, i);
            if (open < 0) {
                sb.append(text, i, text.length());
                break;
            }
            int depth = 0;
            int close = -1;
            for (int k = open; k < text.length(); k++) {
                char c = text.charAt(k);
                if (c == '(') {
                    depth++;
                } else if (c == ')' && --depth == 0) {
                    close = k;
                    break;
                }
            }
            sb.append(text, i, open).append("(?)");
            if (close < 0) {
                break; // unbalanced: drop the rest rather than show part of a value
            }
            i = close + 1;
        }
        return sb.toString();
    }

    private static int valueListStart(String text, int from) {
        int key = text.indexOf(")=(", from);
        int row = text.indexOf("row contains (", from);
        int a = key < 0 ? -1 : key + 2;
        int b = row < 0 ? -1 : row + "row contains ".length();
        return a < 0 ? b : b < 0 ? a : Math.min(a, b);
    }

    /** Replaces every "..." fragment with "?" (e.g. invalid input syntax for type integer: "x" becomes ... "?"). */
    static String withoutValues(String message) {
        if (message == null || message.indexOf('"') < 0) {
            return message;
        }
        StringBuilder sb = new StringBuilder(message.length());
        boolean inQuote = false;
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (c == '"') {
                if (!inQuote) {
                    sb.append("\"?\"");
                }
                inQuote = !inQuote;
            } else if (!inQuote) {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
