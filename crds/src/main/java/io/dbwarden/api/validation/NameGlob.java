package io.dbwarden.api.validation;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A glob over SQL object names: {@code table}, {@code schema.table}, with {@code *} and {@code ?} wildcards.
 * Unquoted parts are case-folded like PostgreSQL folds unquoted identifiers; double-quoted parts match exactly.
 */
public final class NameGlob {
    private final String source;
    /** null = any schema. */
    private final Pattern schema;
    private final Pattern name;

    private NameGlob(String source, Pattern schema, Pattern name) {
        this.source = source;
        this.schema = schema;
        this.name = name;
    }

    /** Parses a glob; throws {@link IllegalArgumentException} with a precise message when it is malformed. */
    public static NameGlob parse(String glob) {
        if (glob == null || glob.isBlank()) {
            throw new IllegalArgumentException("empty name glob");
        }
        List<String> parts = splitParts(glob);
        if (parts.size() > 2) {
            throw new IllegalArgumentException("'" + glob + "' has " + parts.size()
                    + " dot-separated parts; use name or schema.name");
        }
        List<Pattern> patterns = new ArrayList<>();
        for (String p : parts) {
            patterns.add(part(glob, p));
        }
        return parts.size() == 1 ? new NameGlob(glob, null, patterns.get(0))
                : new NameGlob(glob, patterns.get(0), patterns.get(1));
    }

    static List<String> splitParts(String glob) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            if (c == '"') {
                quoted = !quoted;
                cur.append(c);
            } else if (c == '.' && !quoted) {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        if (quoted) {
            throw new IllegalArgumentException("'" + glob + "' has an unterminated double quote");
        }
        parts.add(cur.toString());
        return parts;
    }

    static Pattern part(String glob, String p) {
        if (p.isEmpty()) {
            throw new IllegalArgumentException("'" + glob + "' has an empty part");
        }
        if (p.startsWith("\"")) {
            if (p.length() < 3 || !p.endsWith("\"")) {
                throw new IllegalArgumentException("'" + glob + "': quoted part " + p + " must be \"name\"");
            }
            String quoted = p.substring(1, p.length() - 1);
            checkLength(glob, quoted, quoted);
            return Pattern.compile(Pattern.quote(quoted));
        }
        checkLength(glob, p.replace("*", ""), p);
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '*') {
                if (i + 1 < p.length() && p.charAt(i + 1) == '*') {
                    throw new IllegalArgumentException("'" + glob + "': '**' is not supported; '*' already matches "
                            + "any run of characters within a name");
                }
                re.append(".*");
            } else if (c == '?') {
                re.append('.');
            } else if (Character.isLetterOrDigit(c) || c == '_' || c == '$') {
                // folded as the server folds an unquoted identifier: ASCII letters only (ÉMAIL is Émail)
                re.append(Pattern.quote(String.valueOf(c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c)));
            } else {
                throw new IllegalArgumentException("'" + glob + "': character '" + c + "' is not allowed in an "
                        + "unquoted name; quote the name (\"...\") or use * and ? wildcards");
            }
        }
        return Pattern.compile(re.toString());
    }

    /** PostgreSQL keeps at most 63 bytes (NAMEDATALEN - 1, UTF-8) of a name and cuts longer ones. */
    static final int MAX_NAME_BYTES = 63;

    /**
     * Refuses a part that needs more than 63 bytes: no object the server names can match it (the server cuts every
     * longer name, so a rule spelt with the long name would silently match nothing). {@code least} is the part's
     * fewest characters (its text without {@code *}; a {@code ?} stands for one byte at least).
     */
    private static void checkLength(String glob, String least, String part) {
        int bytes = least.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("'" + glob + "': " + part + " is " + bytes + " bytes long, but "
                    + "PostgreSQL keeps only the first " + MAX_NAME_BYTES + " bytes of a name, so it would match "
                    + "nothing; write the name as the server keeps it");
        }
    }

    /** Whether an object (schema may be null when unknown: then only schema-less globs can match) matches. */
    public boolean matches(String schemaName, String objectName) {
        if (!name.matcher(objectName).matches()) {
            return false;
        }
        if (schema == null) {
            return true;
        }
        return schemaName != null && schema.matcher(schemaName).matches();
    }

    /**
     * Whether an object whose schema is unknown could match: its name matches, whatever the schema part says.
     * Used where the conservative answer is "yes" (restricting rules, unqualified names).
     */
    public boolean matchesNameInAnySchema(String objectName) {
        return name.matcher(objectName).matches();
    }


    @Override
    public String toString() {
        return source;
    }

}
