package io.dbwarden.api.validation;

import java.util.List;
import java.util.regex.Pattern;

/** A glob over columns: exactly {@code schema.table.column}, each part a {@link NameGlob}-style part. */
public final class ColumnGlob {
    private final String source;
    private final Pattern schema;
    private final Pattern table;
    private final Pattern column;
    /** The schema part is spelled out (no * or ?). */
    private final boolean literalSchema;

    private ColumnGlob(String source, Pattern schema, Pattern table, Pattern column, boolean literalSchema) {
        this.source = source;
        this.schema = schema;
        this.table = table;
        this.column = column;
        this.literalSchema = literalSchema;
    }

    public static ColumnGlob parse(String glob) {
        if (glob == null || glob.isBlank()) {
            throw new IllegalArgumentException("empty column glob");
        }
        List<String> parts = NameGlob.splitParts(glob);
        if (parts.size() != 3) {
            throw new IllegalArgumentException("'" + glob + "' has " + parts.size()
                    + " dot-separated parts; a column glob is schema.table.column (use * for any part)");
        }
        String schemaPart = parts.get(0);
        return new ColumnGlob(glob, NameGlob.part(glob, schemaPart), NameGlob.part(glob, parts.get(1)),
                NameGlob.part(glob, parts.get(2)), schemaPart.startsWith("\"")
                        || (schemaPart.indexOf('*') < 0 && schemaPart.indexOf('?') < 0));
    }

    public boolean matches(String schemaName, String tableName, String columnName) {
        return column.matcher(columnName).matches() && table.matcher(tableName).matches()
                && schema.matcher(schemaName).matches();
    }

    /** Whether some column of this table could match. */
    public boolean matchesTable(String schemaName, String tableName) {
        return table.matcher(tableName).matches() && schema.matcher(schemaName).matches();
    }

    /** Whether the glob names this schema itself rather than matching it through a wildcard ({@code *.*.ssn}). */
    public boolean namesSchema(String schemaName) {
        return literalSchema && schema.matcher(schemaName).matches();
    }

    /** Whether a column of this name could match, whatever its table (for expressions over unknown tables). */
    public boolean matchesColumnName(String columnName) {
        return column.matcher(columnName).matches();
    }

    @Override
    public String toString() {
        return source;
    }
}
