package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Low-risk schema changes that automatic approval rules can name. */
public enum ChangeShape {
    /** CREATE [UNIQUE] INDEX CONCURRENTLY: builds without blocking writes. */
    CREATE_INDEX_CONCURRENTLY("createIndexConcurrently"),
    /** ALTER TABLE ... ADD [COLUMN] with a single nullable column without DEFAULT: a catalog-only change. */
    ADD_COLUMN_WITHOUT_DEFAULT("addColumnWithoutDefault");

    private final String yaml;

    ChangeShape(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static ChangeShape parse(String value) {
        for (ChangeShape s : values()) {
            if (s.yaml.equals(value)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown change '" + value
                + "'; valid changes: createIndexConcurrently, addColumnWithoutDefault");
    }
}
