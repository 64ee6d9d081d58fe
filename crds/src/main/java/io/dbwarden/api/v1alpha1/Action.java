package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** What happens to a statement a rule (or the policy default) matches. */
public enum Action {
    /** Forward to the database. */
    ALLOW("allow"),
    /** Block with an error that names the policy and rule. */
    DENY("deny"),
    /** Block until a ChangeApproval for this statement is approved. */
    REQUIRE_APPROVAL("requireApproval"),
    /** Forward, and flag the audit event. */
    AUDIT("audit");

    private final String yaml;

    Action(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static Action parse(String value) {
        for (Action a : values()) {
            if (a.yaml.equals(value)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown action '" + value + "'; valid actions: allow, deny, "
                + "requireApproval, audit");
    }
}
