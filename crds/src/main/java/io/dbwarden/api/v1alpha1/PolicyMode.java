package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Whether a policy blocks, or only reports what it would block. */
public enum PolicyMode {
    /** Deny and require-approval decisions block statements. */
    ENFORCE("enforce"),
    /** Dry run: nothing is blocked; would-be blocks are logged as audit decisions. */
    AUDIT("audit");

    private final String yaml;

    PolicyMode(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static PolicyMode parse(String value) {
        for (PolicyMode m : values()) {
            if (m.yaml.equals(value)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + value + "'; valid modes: enforce, audit");
    }
}
