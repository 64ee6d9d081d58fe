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

    @io.fabric8.generator.annotation.Min(1)
    @JsonPropertyDescription("Blast-radius limit for UPDATE and DELETE this rule allows: the proxy runs the statement "
            + "in a savepoint (or its own transaction in autocommit) and rolls it back with an error when it affects "
            + "more rows. Only with action allow or audit, and match.statements limited to UPDATE and DELETE.")
    private Long maxAffectedRows;

    public Long getMaxAffectedRows() {
        return maxAffectedRows;
    }

    public void setMaxAffectedRows(Long maxAffectedRows) {
        this.maxAffectedRows = maxAffectedRows;
    }

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
