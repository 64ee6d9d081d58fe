package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** How a sensitive value is replaced. Values of types that cannot hold the replacement become NULL. */
public enum MaskStrategy {
    /** Replace with the fixed marker "[redacted]". */
    REDACT("redact"),
    /** Keep keepPrefix/keepSuffix characters, star the rest (emails keep their domain: j***@example.com). */
    PARTIAL("partial"),
    /** Deterministic keyed hash (HMAC-SHA-256): equal inputs give equal outputs, so joins and GROUP BY still work. */
    HASH("hash"),
    /** Replace with SQL NULL. */
    NULL("null"),
    /** Replace with a fixed value. */
    FIXED("fixed");

    private final String yaml;

    MaskStrategy(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static MaskStrategy parse(String value) {
        for (MaskStrategy s : values()) {
            if (s.yaml.equals(value)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown masking strategy '" + value
                + "'; valid strategies: redact, partial, hash, null, fixed");
    }
}
