package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** A request to run one statement that a policy rule holds for approval, and the approver's decision. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ChangeApprovalSpec {
    /**
     * The longest statement text a request may show, in characters: a longer change cannot be reviewed in one
     * object (and Kubernetes objects are stored whole) and is refused without a request.
     */
    public static final int MAX_STATEMENT_CHARS = 65_536;

    @Required
    @JsonPropertyDescription("Who asked (set by the proxy).")
    private Requester requester;

    @Required
    @JsonPropertyDescription("Database the statement runs against.")
    private String database;

    @Required
    @JsonPropertyDescription("DatabaseAccessPolicy whose rule requires the approval.")
    private String policy;

    @Required
    @JsonPropertyDescription("Name of that rule.")
    private String rule;

    @Required
    @JsonPropertyDescription("The statement without its literal values (what approvers review).")
    private String statement;

    @Required
    @Pattern("^[0-9a-f]{64}$")
    @JsonPropertyDescription("SHA-256 of the exact statement text (comments around it excluded) and, for a "
            + "statement with bind parameters, of the values bound to them: only that statement may run once "
            + "approved.")
    private String statementHash;

    @JsonPropertyDescription("Fingerprint of the literal-free statement, as in audit events.")
    private String fingerprint;

    @JsonPropertyDescription("Why the change is needed, from a sqlcommenter-style comment on the statement.")
    private String reason;

    @JsonPropertyDescription("When the request lapses if not decided or not used (RFC 3339).")
    private String expiresAt;

    @Min(1)
    @JsonPropertyDescription("How many times the statement may run once approved. Default: 1.")
    private Integer uses = 1;

    @JsonPropertyDescription("The approver's decision: approved or denied. Set it with kubectl; who set it is recorded "
            + "in status, and a decided approval cannot be changed.")
    private ApprovalDecision decision;

    @JsonPropertyDescription("The approver's comment.")
    private String comment;

    public Requester getRequester() {
        return requester;
    }

    public void setRequester(Requester requester) {
        this.requester = requester;
    }

    public String getDatabase() {
        return database;
    }

    public void setDatabase(String database) {
        this.database = database;
    }

    public String getPolicy() {
        return policy;
    }

    public void setPolicy(String policy) {
        this.policy = policy;
    }

    public String getRule() {
        return rule;
    }

    public void setRule(String rule) {
        this.rule = rule;
    }

    public String getStatement() {
        return statement;
    }

    public void setStatement(String statement) {
        this.statement = statement;
    }

    public String getStatementHash() {
        return statementHash;
    }

    public void setStatementHash(String statementHash) {
        this.statementHash = statementHash;
    }

    public String getFingerprint() {
        return fingerprint;
    }

    public void setFingerprint(String fingerprint) {
        this.fingerprint = fingerprint;
    }

    public String getReason() {
        return reason;
    }

    public void setReason(String reason) {
        this.reason = reason;
    }

    public String getExpiresAt() {
        return expiresAt;
    }

    public void setExpiresAt(String expiresAt) {
        this.expiresAt = expiresAt;
    }

    public Integer getUses() {
        return uses;
    }

    public void setUses(Integer uses) {
        this.uses = uses;
    }

    public ApprovalDecision getDecision() {
        return decision;
    }

    public void setDecision(ApprovalDecision decision) {
        this.decision = decision;
    }

    public String getComment() {
        return comment;
    }

    public void setComment(String comment) {
        this.comment = comment;
    }
}
