package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Pattern;

import java.util.ArrayList;
import java.util.List;

/** Desired state of a DatabaseAccessPolicy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DatabaseAccessPolicySpec {
    @Required
    @Size(min = 1)
    @JsonPropertyDescription("Identities the policy applies to. A workload no policy applies to is denied everything.")
    private List<Subject> subjects = new ArrayList<>();

    @JsonPropertyDescription("The database this policy guards.")
    private DatabaseTarget database;

    @JsonPropertyDescription("enforce (block) or audit (dry run: log what would be blocked, block nothing). Default: enforce.")
    private PolicyMode mode = PolicyMode.ENFORCE;

    @JsonPropertyDescription("Action when no rule matches. Default: deny.")
    private Action defaultAction = Action.DENY;

    @Pattern("^[a-z_][a-z0-9_$]*$")
    @JsonPropertyDescription("Schema that unqualified table names resolve to when matching table globs. Default: public.")
    private String defaultSchema = "public";

    @JsonPropertyDescription("Run every session read-only at the database (default_transaction_read_only) and block "
            + "attempts to switch it off, so that writes hidden in functions fail too. Default: false.")
    private Boolean readOnly = Boolean.FALSE;

    @JsonPropertyDescription("Let statements the proxy cannot classify go to the rules as OTHER instead of being "
            + "denied. Default: false (deny them).")
    private Boolean allowUnparsedStatements = Boolean.FALSE;

    @JsonPropertyDescription("Database roles a session may switch to with SET ROLE (for applications that switch "
            + "roles per request, PostgREST-style). Every other role change (SET ROLE, SET SESSION AUTHORIZATION) is "
            + "denied: it changes the privileges every later statement runs with. Names compare as PostgreSQL resolves "
            + "them: an unquoted name in SET ROLE is folded to lower case. Default: none.")
    private List<String> allowedRoles = new ArrayList<>();

    @Pattern("^[0-9]+(ms|s|min|h)?$")
    @JsonPropertyDescription("Longest a statement of these identities may run, e.g. 30s, 500ms, 5min (a number alone "
            + "is milliseconds). The server enforces it (statement_timeout, set at session start; a statement running "
            + "longer is cancelled with SQLSTATE 57014), and the session may not raise or clear it (SET "
            + "statement_timeout is refused; RESET returns to it). Several policies: the shortest. Default: none.")
    private String statementTimeout;

    @Pattern("^[0-9]+(ms|s|min|h)?$")
    @JsonPropertyDescription("Longest a session of these identities may stay idle inside an open transaction, e.g. 60s "
            + "(a number alone is milliseconds): the server then ends the session (SQLSTATE 25P03) and releases its "
            + "locks, so a client that opens a transaction and stops (an agent waiting on its model) cannot hold up "
            + "others. Set at session start (idle_in_transaction_session_timeout); SET of it is refused, RESET "
            + "returns to it. Several policies: the shortest. Default: none.")
    private String idleInTransactionTimeout;

    @JsonPropertyDescription("Ordered rules; the first match decides.")
    private List<Rule> rules = new ArrayList<>();

    @JsonPropertyDescription("Live masking of sensitive values in results.")
    private MaskingSpec masking;

    @JsonPropertyDescription("Approvers and limits for statements that requireApproval rules hold.")
    private ApprovalSettings approvals;

    public String getIdleInTransactionTimeout() {
        return idleInTransactionTimeout;
    }

    public void setIdleInTransactionTimeout(String idleInTransactionTimeout) {
        this.idleInTransactionTimeout = idleInTransactionTimeout;
    }

    public String getStatementTimeout() {
        return statementTimeout;
    }

    public void setStatementTimeout(String statementTimeout) {
        this.statementTimeout = statementTimeout;
    }

    public List<Subject> getSubjects() {
        return subjects;
    }

    public void setSubjects(List<Subject> subjects) {
        this.subjects = subjects == null ? new ArrayList<>() : subjects;
    }

    public DatabaseTarget getDatabase() {
        return database;
    }

    public void setDatabase(DatabaseTarget database) {
        this.database = database;
    }

    public PolicyMode getMode() {
        return mode;
    }

    public void setMode(PolicyMode mode) {
        this.mode = mode == null ? PolicyMode.ENFORCE : mode;
    }

    public Action getDefaultAction() {
        return defaultAction;
    }

    public void setDefaultAction(Action defaultAction) {
        this.defaultAction = defaultAction == null ? Action.DENY : defaultAction;
    }

    public String getDefaultSchema() {
        return defaultSchema;
    }

    public void setDefaultSchema(String defaultSchema) {
        this.defaultSchema = defaultSchema == null ? "public" : defaultSchema;
    }

    public Boolean getReadOnly() {
        return readOnly;
    }

    public void setReadOnly(Boolean readOnly) {
        this.readOnly = readOnly == null ? Boolean.FALSE : readOnly;
    }

    public Boolean getAllowUnparsedStatements() {
        return allowUnparsedStatements;
    }

    public void setAllowUnparsedStatements(Boolean allowUnparsedStatements) {
        this.allowUnparsedStatements = allowUnparsedStatements == null ? Boolean.FALSE : allowUnparsedStatements;
    }

    public List<String> getAllowedRoles() {
        return allowedRoles;
    }

    public void setAllowedRoles(List<String> allowedRoles) {
        this.allowedRoles = allowedRoles == null ? new ArrayList<>() : allowedRoles;
    }

    public ApprovalSettings getApprovals() {
        return approvals;
    }

    public void setApprovals(ApprovalSettings approvals) {
        this.approvals = approvals;
    }

    public MaskingSpec getMasking() {
        return masking;
    }

    public void setMasking(MaskingSpec masking) {
        this.masking = masking;
    }

    public List<Rule> getRules() {
        return rules;
    }

    public void setRules(List<Rule> rules) {
        this.rules = rules == null ? new ArrayList<>() : rules;
    }
}
