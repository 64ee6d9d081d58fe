package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Pattern;

/** One ordered policy rule: the first rule whose conditions match decides. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Rule {
    @Required
    @Pattern("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    @JsonPropertyDescription("Rule name, unique in the policy; shown in errors and audit events.")
    private String name;

    @JsonPropertyDescription("Conditions; all given conditions must hold. Omitted: the rule matches every statement.")
    private RuleMatch match = new RuleMatch();

    @Required
    @JsonPropertyDescription("allow, deny, requireApproval or audit.")
    private Action action;

    @JsonPropertyDescription("Message shown to the client when the rule blocks a statement: say what to do instead.")
    private String message;

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public RuleMatch getMatch() {
        return match;
    }

    public void setMatch(RuleMatch match) {
        this.match = match == null ? new RuleMatch() : match;
    }

    public Action getAction() {
        return action;
    }

    public void setAction(Action action) {
        this.action = action;
    }

    public String getMessage() {
        return message;
    }

    public void setMessage(String message) {
        this.message = message;
    }
}
