package io.dbwarden.api.validation;

import java.util.List;
import java.util.regex.Pattern;

/** A glob over columns: exactly {@code schema.table.column}, each part a {@link NameGlob}-style part. */
public final class ColumnGlob {
    private final String source;
    private final Pattern schema;
    private final Pattern table;
    private final Pattern column;

    private ColumnGlob(String source, Pattern schema, Pattern table, Pattern column) {
        this.source = source;
        this.schema = schema;
        this.table = table;
        this.column = column;
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
        return new ColumnGlob(glob, NameGlob.part(glob, parts.get(0)), NameGlob.part(glob, parts.get(1)),
                NameGlob.part(glob, parts.get(2)));
    }

    public boolean matches(String schemaName, String tableName, String columnName) {
        return column.matcher(columnName).matches() && table.matcher(tableName).matches()
                && schema.matcher(schemaName).matches();
    }

    /** Whether some column of this table could match. */
    public boolean matchesTable(String schemaName, String tableName) {
        return table.matcher(tableName).matches() && schema.matcher(schemaName).matches();
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
