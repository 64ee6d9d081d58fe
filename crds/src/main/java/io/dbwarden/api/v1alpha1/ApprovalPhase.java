package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Where a ChangeApproval stands. */
public enum ApprovalPhase {
    /** Waiting for an approver. */
    PENDING("Pending"),
    /** Approved by a person or an automatic-approval rule; the statement may run (usesLeft times). */
    APPROVED("Approved"),
    DENIED("Denied"),
    /** Not decided, or not used, before expiresAt. */
    EXPIRED("Expired"),
    /** Approved and used up. */
    USED("Used");

    private final String yaml;

    ApprovalPhase(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static ApprovalPhase parse(String value) {
        for (ApprovalPhase p : values()) {
            if (p.yaml.equals(value)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown phase '" + value + "'");
    }
}
