package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Conditions of a rule; all given conditions must hold. For allow rules every part of the statement must be
 * covered (all its kinds listed, all its tables and functions matched); for deny, requireApproval and audit rules
 * any part suffices. So a rule that permits never permits more than it names.
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class RuleMatch {
    @JsonPropertyDescription("Statement kinds: SELECT, INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER, DROP, TRUNCATE, "
            + "GRANT, REVOKE, COPY, CALL, DO, SET, SHOW, TRANSACTION, EXECUTE, OTHER.")
    private List<StatementKind> statements = new ArrayList<>();

    @JsonPropertyDescription("Table globs, schema.table or table (any schema); * and ? are wildcards. Unqualified "
            + "names in SQL resolve to the policy's defaultSchema.")
    private List<String> tables = new ArrayList<>();

    @JsonPropertyDescription("Function globs, schema.function or function (any schema), e.g. pg_terminate_backend, dblink*. "
            + "Server functions (pg_terminate_backend, pg_read_file, pg_stat_get_activity, dblink*, replication and "
            + "backup control) are denied on statements rules would forward unless the deciding rule lists them here.")
    private List<String> functions = new ArrayList<>();

    @JsonPropertyDescription("Match only UPDATE or DELETE statements without a WHERE clause (or with an always-true one).")
    private Boolean withoutWhere;

    @JsonPropertyDescription("Match only COPY ... TO/FROM PROGRAM (runs a shell command on the database server). "
            + "Such a COPY is forwarded only when the rule that allows it sets this; COPY to or from server files never is.")
    private Boolean copyProgram;

    public List<StatementKind> getStatements() {
        return statements;
    }

    public void setStatements(List<StatementKind> statements) {
        this.statements = statements == null ? new ArrayList<>() : statements;
    }

    public List<String> getTables() {
        return tables;
    }

    public void setTables(List<String> tables) {
        this.tables = tables == null ? new ArrayList<>() : tables;
    }

    public List<String> getFunctions() {
        return functions;
    }

    public void setFunctions(List<String> functions) {
        this.functions = functions == null ? new ArrayList<>() : functions;
    }

    public Boolean getWithoutWhere() {
        return withoutWhere;
    }

    public void setWithoutWhere(Boolean withoutWhere) {
        this.withoutWhere = withoutWhere;
    }

    public Boolean getCopyProgram() {
        return copyProgram;
    }

    public void setCopyProgram(Boolean copyProgram) {
        this.copyProgram = copyProgram;
    }

    /** True when no condition is set: the rule matches every statement. */
    public boolean matchesEverything() {
        return statements.isEmpty() && tables.isEmpty() && functions.isEmpty() && !Boolean.TRUE.equals(withoutWhere)
                && !Boolean.TRUE.equals(copyProgram);
    }

    /** Same conditions (order-insensitive). */
    public boolean sameConditions(RuleMatch o) {
        return new java.util.HashSet<>(statements).equals(new java.util.HashSet<>(o.statements))
                && new java.util.HashSet<>(tables).equals(new java.util.HashSet<>(o.tables))
                && new java.util.HashSet<>(functions).equals(new java.util.HashSet<>(o.functions))
                && Objects.equals(Boolean.TRUE.equals(withoutWhere), Boolean.TRUE.equals(o.withoutWhere))
                && Objects.equals(Boolean.TRUE.equals(copyProgram), Boolean.TRUE.equals(o.copyProgram));
    }
}
