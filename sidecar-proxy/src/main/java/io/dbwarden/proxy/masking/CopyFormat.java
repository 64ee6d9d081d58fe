package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlToken;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The shape of a COPY ... TO STDOUT stream, read from the statement: table (and column list) or query, and the
 * text, CSV or binary format with its options; plus splitting one CopyData row of text or CSV into values and
 * joining masked values back (binary streams: {@link BinaryCopy}). Returns null from {@link #parse} for anything it
 * cannot follow exactly (unusual options, another encoding), so the caller can refuse rather than guess.
 */
final class CopyFormat {
    final boolean binary;
    final boolean csv;
    final char delimiter;
    final String nullString;
    final boolean header;
    final char quote;
    final char escape;
    /** Table form: schema (may be null) and name; null for COPY (query). */
    final String schema;
    final String table;
    final List<String> columns;
    /** FORCE_QUOTE (either spelling): which values the server quotes is kept when a row is written again. */
    final boolean forceQuote;
    /** Which values of the row last split were quoted (CSV): {@link #join} quotes them again under FORCE_QUOTE. */
    private final java.util.BitSet quotedInRow = new java.util.BitSet();
    /** Query form: the tokens of the query, and its text; null for the table form. */
    final List<SqlToken> queryTokens;
    final String queryText;

    private CopyFormat(boolean binary, boolean csv, char delimiter, String nullString, boolean header, char quote,
                       char escape, String schema, String table, List<String> columns, List<SqlToken> queryTokens,
                       String queryText, boolean forceQuote) {
        this.binary = binary;
        this.csv = csv;
        this.delimiter = delimiter;
        this.nullString = nullString;
        this.header = header;
        this.quote = quote;
        this.escape = escape;
        this.schema = schema;
        this.table = table;
        this.columns = columns;
        this.queryTokens = queryTokens;
        this.queryText = queryText;
        this.forceQuote = forceQuote;
    }

    static CopyFormat parse(StatementInfo s) {
        List<SqlToken> t = s.tokens();
        if (t.size() < 4 || !t.get(0).isWord("copy")) {
            return null;
        }
        int i = 1;
        String schema = null;
        String table = null;
        List<String> columns = new ArrayList<>();
        List<SqlToken> query = null;
        if (t.get(i).isSymbol("(")) {
            int close = matching(t, i);
            query = List.copyOf(t.subList(i + 1, close));
            i = close + 1;
        } else {
            if (!t.get(i).isName()) {
                return null;
            }
            table = t.get(i).text();
            i++;
            if (i + 1 < t.size() && t.get(i).isSymbol(".") && t.get(i + 1).isName()) {
                schema = table;
                table = t.get(i + 1).text();
                i += 2;
            }
            if (i < t.size() && t.get(i).isSymbol("(")) {
                int close = matching(t, i);
                for (int k = i + 1; k < close; k++) {
                    if (t.get(k).isName()) {
                        columns.add(t.get(k).text());
                    }
                }
                i = close + 1;
            }
        }
        if (i + 1 >= t.size() || !t.get(i).isWord("to") || !t.get(i + 1).isWord("stdout")) {
            return null;
        }
        boolean binary = false;
        boolean csv = false;
        Character delimiter = null;
        String nullString = null;
        boolean header = false;
        char quote = '"';
        Character escape = null;
        boolean forceQuote = false;
        for (int k = i + 2; k < t.size(); k++) {
            SqlToken tok = t.get(k);
            if (tok.kind() != SqlToken.Kind.WORD) {
                continue;
            }
            if (tok.isWord("force_quote") || tok.isWord("force_not_null") || tok.isWord("force_null")) {
                forceQuote |= tok.isWord("force_quote");
                k = columnList(t, k + 1); // (a, header) or *: names of columns, not options
                continue;
            }
            if (tok.isWord("force")) { // the old spelling: FORCE QUOTE a, b | *, FORCE NOT NULL a, b
                forceQuote |= k + 1 < t.size() && t.get(k + 1).isWord("quote");
                int n = k + 1;
                while (n < t.size() && (t.get(n).isWord("quote") || t.get(n).isWord("not")
                        || t.get(n).isWord("null"))) {
                    n++;
                }
                k = oldColumnList(t, n);
                continue;
            }
            // the old spelling writes DELIMITER AS ',' and NULL AS ''
            int at = k + 1 < t.size() && t.get(k + 1).isWord("as") ? k + 2 : k + 1;
            String value = at < t.size() ? optionValue(s, t.get(at)) : null;
            switch (tok.text()) {
                // the old spelling (TO STDOUT BINARY, WITH BINARY); elsewhere the word is a column (FORCE_QUOTE)
                case "binary" -> binary |= t.get(k - 1).isWord("stdout") || t.get(k - 1).isWord("with");
                case "format" -> {
                    if (value == null) {
                        return null;
                    }
                    String f = value.toLowerCase(java.util.Locale.ROOT);
                    binary = f.equals("binary");
                    csv = f.equals("csv");
                    if (!binary && !csv && !f.equals("text")) {
                        return null;
                    }
                }
                case "csv" -> csv = true;
                case "header" -> {
                    // HEADER alone (either spelling) is true; a boolean after it says (false, off, 0, ...)
                    Boolean b = value == null ? null : bool(value);
                    header = b == null || b;
                }
                case "delimiter" -> {
                    if (value == null || value.length() != 1) {
                        return null;
                    }
                    delimiter = value.charAt(0);
                }
                case "null" -> {
                    if (value == null) {
                        return null;
                    }
                    nullString = value;
                }
                case "quote" -> {
                    if (value == null || value.length() != 1) {
                        return null;
                    }
                    quote = value.charAt(0);
                }
                case "escape" -> {
                    if (value == null || value.length() != 1) {
                        return null;
                    }
                    escape = value.charAt(0);
                }
                case "encoding" -> {
                    return null; // values would not be in the session's encoding
                }
                default -> {
                    // with, freeze, default, ...: no effect on how values are read back
                }
            }
        }
        return new CopyFormat(binary, csv, delimiter != null ? delimiter : csv ? ',' : '\t',
                nullString != null ? nullString : csv ? "" : "\\N", header, quote,
                escape != null ? escape : quote, schema, table, List.copyOf(columns), query,
                query == null || query.isEmpty() ? null
                        : s.text().substring(query.get(0).start(), query.get(query.size() - 1).end()), forceQuote);
    }

    private static int matching(List<SqlToken> t, int open) {
        int depth = 0;
        for (int k = open; k < t.size(); k++) {
            if (t.get(k).isSymbol("(")) {
                depth++;
            } else if (t.get(k).isSymbol(")") && --depth == 0) {
                return k;
            }
        }
        return t.size() - 1;
    }

    /** The last token of a FORCE_QUOTE-style argument at {@code k}: a parenthesized list or '*'. */
    private static int columnList(List<SqlToken> t, int k) {
        if (k < t.size() && t.get(k).isSymbol("(")) {
            return matching(t, k);
        }
        return k < t.size() && t.get(k).isSymbol("*") ? k : k - 1;
    }

    /** The last token of an old-spelling column list at {@code k}: '*' or names separated by commas. */
    private static int oldColumnList(List<SqlToken> t, int k) {
        if (k < t.size() && t.get(k).isSymbol("*")) {
            return k;
        }
        int last = k - 1;
        while (last + 1 < t.size() && t.get(last + 1).isName()) {
            last++;
            if (last + 2 < t.size() && t.get(last + 1).isSymbol(",") && t.get(last + 2).isName()) {
                last++;
            } else {
                break;
            }
        }
        return last;
    }

    /**
     * An option's argument as the server reads it: a word, a quoted name, a plain literal or a number (FORMAT 'csv',
     * HEADER 0); null for anything else (the next option of the old spelling).
     */
    private static String optionValue(StatementInfo s, SqlToken tok) {
        return switch (tok.kind()) {
            case WORD, QUOTED_IDENT -> tok.text();
            case STRING -> literal(s, tok);
            case NUMBER -> s.text().substring(tok.start(), tok.end());
            default -> null;
        };
    }

    /** A boolean as PostgreSQL's parse_bool reads it (true, of, 1, ...), null when the text is none. */
    static Boolean bool(String value) {
        String v = value.trim().toLowerCase(java.util.Locale.ROOT);
        if (v.isEmpty()) {
            return null;
        }
        if (v.equals("1")) {
            return true;
        }
        if (v.equals("0")) {
            return false;
        }
        if ("true".startsWith(v) || "yes".startsWith(v) || (v.length() >= 2 && "on".startsWith(v))) {
            return true;
        }
        if ("false".startsWith(v) || "no".startsWith(v) || (v.length() >= 2 && "off".startsWith(v))) {
            return false;
        }
        return null;
    }

    /** The value of a plain '...' literal token (options are plain literals), else null. */
    private static String literal(StatementInfo s, SqlToken tok) {
        if (tok.kind() != SqlToken.Kind.STRING) {
            return null;
        }
        String raw = s.text().substring(tok.start(), tok.end());
        boolean escaped = raw.length() >= 3 && (raw.charAt(0) == 'E' || raw.charAt(0) == 'e');
        if (escaped) {
            raw = raw.substring(1);
        }
        if (raw.length() < 2 || raw.charAt(0) != '\'' || raw.charAt(raw.length() - 1) != '\'') {
            return null;
        }
        String body = raw.substring(1, raw.length() - 1).replace("''", "'");
        return escaped ? literalEscapes(body) : body;
    }

    /**
     * The simple backslash escapes of an E'...' literal (E'\t' for a tab delimiter); null for the others (octal,
     * hexadecimal, Unicode), which options do not need.
     */
    private static String literalEscapes(String body) {
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (++i >= body.length()) {
                return null;
            }
            switch (body.charAt(i)) {
                case 't' -> out.append('\t');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case '\\' -> out.append('\\');
                case '\'' -> out.append('\'');
                case '"' -> out.append('"');
                default -> {
                    return null;
                }
            }
        }
        return out.toString();
    }

    // ------------------------------------------------------------------ rows

    /** Values of one row (null for NULL); the row text excludes the trailing newline. */
    List<String> split(String row) {
        return csv ? splitCsv(row) : splitText(row);
    }

    private List<String> splitText(String row) {
        List<String> values = new ArrayList<>();
        StringBuilder raw = new StringBuilder();
        for (int i = 0; i <= row.length(); i++) {
            if (i == row.length() || row.charAt(i) == delimiter) {
                String r = raw.toString();
                values.add(r.equals(nullString) ? null : unescape(r));
                raw.setLength(0);
            } else {
                char c = row.charAt(i);
                raw.append(c);
                if (c == '\\' && i + 1 < row.length()) {
                    raw.append(row.charAt(++i));
                }
            }
        }
        return values;
    }

    private static String unescape(String r) {
        if (r.indexOf('\\') < 0) {
            return r;
        }
        StringBuilder sb = new StringBuilder(r.length());
        for (int i = 0; i < r.length(); i++) {
            char c = r.charAt(i);
            if (c != '\\' || i + 1 >= r.length()) {
                sb.append(c);
                continue;
            }
            char n = r.charAt(++i);
            switch (n) {
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'v' -> sb.append('\u000b');
                default -> {
                    if (n >= '0' && n <= '7') {
                        int v = n - '0';
                        for (int k = 0; k < 2 && i + 1 < r.length() && r.charAt(i + 1) >= '0' && r.charAt(i + 1) <= '7'; k++) {
                            v = v * 8 + (r.charAt(++i) - '0');
                        }
                        sb.append((char) v);
                    } else if (n == 'x' && i + 1 < r.length() && Character.digit(r.charAt(i + 1), 16) >= 0) {
                        int v = Character.digit(r.charAt(++i), 16);
                        if (i + 1 < r.length() && Character.digit(r.charAt(i + 1), 16) >= 0) {
                            v = v * 16 + Character.digit(r.charAt(++i), 16);
                        }
                        sb.append((char) v);
                    } else {
                        sb.append(n);
                    }
                }
            }
        }
        return sb.toString();
    }

    private List<String> splitCsv(String row) {
        List<String> values = new ArrayList<>();
        quotedInRow.clear();
        int i = 0;
        while (true) {
            if (i < row.length() && row.charAt(i) == quote) {
                quotedInRow.set(values.size());
                StringBuilder v = new StringBuilder();
                i++;
                while (i < row.length()) {
                    char c = row.charAt(i);
                    if (c == escape && i + 1 < row.length() && row.charAt(i + 1) == quote) {
                        v.append(quote); // "" (or escape + quote) inside quotes
                        i += 2;
                    } else if (escape != quote && c == escape && i + 1 < row.length() && row.charAt(i + 1) == escape) {
                        v.append(escape);
                        i += 2;
                    } else if (c == quote) {
                        i++;
                        break;
                    } else {
                        v.append(c);
                        i++;
                    }
                }
                values.add(v.toString());
            } else {
                int end = row.indexOf(delimiter, i);
                String raw = end < 0 ? row.substring(i) : row.substring(i, end);
                values.add(raw.equals(nullString) ? null : raw);
                i = end < 0 ? row.length() : end;
            }
            if (i >= row.length()) {
                return values;
            }
            i++; // delimiter
            if (i == row.length()) {
                values.add(nullString.isEmpty() ? null : "");
                return values;
            }
        }
    }

    /** As PostgreSQL quotes CSV values: when they hold the delimiter, quote, escape or a line break, or read as NULL. */
    private boolean needsQuotes(String v) {
        if (v.equals(nullString) || v.isEmpty()) {
            return true;
        }
        for (int k = 0; k < v.length(); k++) {
            char c = v.charAt(k);
            if (c == delimiter || c == quote || c == escape || c == '\n' || c == '\r') {
                return true;
            }
        }
        return false;
    }

    /** A text-format row of NULLs (used when a row cannot be read back: nothing of it may pass). */
    static byte[] textNulls(int columns) {
        return (String.join("\t", java.util.Collections.nCopies(columns, "\\N")) + "\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** One row back in this format, values already masked (null is NULL), with the trailing newline. */
    byte[] join(List<String> values) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) {
                sb.append(delimiter);
            }
            String v = values.get(i);
            if (v == null) {
                sb.append(nullString);
            } else if (csv && !needsQuotes(v) && !(forceQuote && quotedInRow.get(i))) {
                sb.append(v);
            } else if (csv) {
                sb.append(quote);
                for (int k = 0; k < v.length(); k++) {
                    char c = v.charAt(k);
                    if (c == quote || c == escape) {
                        sb.append(escape);
                    }
                    sb.append(c);
                }
                sb.append(quote);
            } else {
                for (int k = 0; k < v.length(); k++) {
                    char c = v.charAt(k);
                    switch (c) {
                        case '\\' -> sb.append("\\\\");
                        case '\n' -> sb.append("\\n");
                        case '\r' -> sb.append("\\r");
                        case '\t' -> sb.append("\\t");
                        default -> {
                            if (c == delimiter) {
                                sb.append('\\');
                            }
                            sb.append(c);
                        }
                    }
                }
            }
        }
        sb.append('\n');
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }
}
