package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** What an approver decides on a ChangeApproval (set with kubectl; the admission webhook records who). */
public enum ApprovalDecision {
    APPROVED("approved"),
    DENIED("denied");

    private final String yaml;

    ApprovalDecision(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static ApprovalDecision parse(String value) {
        for (ApprovalDecision d : values()) {
            if (d.yaml.equals(value)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown decision '" + value + "'; valid decisions: approved, denied");
    }
}
