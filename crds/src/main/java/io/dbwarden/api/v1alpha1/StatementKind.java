package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** What a SQL statement does, as policy rules name it. */
public enum StatementKind {
    SELECT, INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER, DROP, TRUNCATE, GRANT, REVOKE, COPY, CALL, DO,
    /** SET, RESET, DISCARD, DEALLOCATE, set_config(): changes to session state (search_path included). */
    SET,
    SHOW,
    /** BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, END, ABORT, two-phase commit. */
    TRANSACTION,
    /** EXECUTE of a statement prepared with SQL PREPARE (whose body was checked when it was prepared). */
    EXECUTE,
    /** Anything else (VACUUM, LISTEN, LOCK, LOAD, dynamic-SQL functions, ...). */
    OTHER;

    @JsonValue
    public String yamlName() {
        return name();
    }

    @JsonCreator
    public static StatementKind parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("unknown statement kind '" + value + "'; valid kinds: "
                    + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")));
        }
    }
}
