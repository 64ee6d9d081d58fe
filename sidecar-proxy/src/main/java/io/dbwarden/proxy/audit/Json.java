package io.dbwarden.proxy.audit;

/** Minimal JSON object writer for flat audit events (no reflection: fast and native-image friendly). */
final class Json {
    private final StringBuilder sb;
    private boolean first = true;

    Json() {
        this(new StringBuilder(640));
    }

    /** Writes into {@code into} (cleared first), so a caller can reuse one builder. */
    Json(StringBuilder into) {
        this.sb = into;
        sb.setLength(0);
        sb.append('{');
    }

    Json field(String name, String value) {
        key(name);
        if (value == null) {
            sb.append("null");
        } else {
            string(value);
        }
        return this;
    }

    Json field(String name, long value) {
        key(name);
        sb.append(value);
        return this;
    }

    Json field(String name, double value) {
        key(name);
        sb.append(value);
        return this;
    }

    Json field(String name, boolean value) {
        key(name);
        sb.append(value);
        return this;
    }

    /** A nested object of counters. */
    Json field(String name, java.util.Map<String, Long> counters) {
        key(name);
        sb.append('{');
        boolean firstEntry = true;
        for (var e : counters.entrySet()) {
            if (!firstEntry) {
                sb.append(',');
            }
            firstEntry = false;
            string(e.getKey());
            sb.append(':').append(e.getValue());
        }
        sb.append('}');
        return this;
    }

    private void key(String name) {
        if (!first) {
            sb.append(',');
        }
        first = false;
        string(name);
        sb.append(':');
    }

    private void string(String s) {
        quote(sb, s);
    }

    /** Appends {@code s} as a JSON string literal. */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        if (!needsEscaping(s)) {
            sb.append(s).append('"');
            return;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    private static boolean needsEscaping(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == '"' || c == '\\' || c == 0x2028 || c == 0x2029) {
                return true;
            }
        }
        return false;
    }

    String end() {
        sb.append('}');
        return sb.toString();
    }

    /** Closes the object in the builder without making a String. */
    void close() {
        sb.append('}');
    }
}
