package io.dbwarden.proxy.sql;

import io.dbwarden.api.v1alpha1.StatementKind;

import java.util.List;
import java.util.Set;

/**
 * What a statement does, as far as policy is concerned. Derived only from the statement's structure (never from
 * its literal values), so one analysis serves every statement with the same literal-free text.
 *
 * @param classified        false when the statement's kind could not be determined (policy denies it by default)
 * @param kinds             every kind of work the statement does: its own, plus writes nested in WITH, SELECT INTO,
 *                          EXPLAIN ANALYZE targets, PREPARE bodies, dynamic-SQL functions (OTHER), set_config (SET)
 * @param tables            tables and views it names (CTE names excluded)
 * @param tablesComplete    false when the parser could not confirm the table list (the list may miss some)
 * @param functions         functions it calls
 * @param withoutWhere      an UPDATE or DELETE in it has no WHERE clause, or an always-true one
 * @param copyProgram       COPY ... TO/FROM PROGRAM
 * @param copyServerFile    COPY ... TO/FROM 'file' (a file on the database server)
 * @param changesSearchPath it changes (or may change) search_path
 * @param changesReadOnly   it changes (or may change) transaction read-only state towards read-write
 * @param roleChange        the database role it switches the session to: null when none, "" back to the session's
 *                          own role (RESET ROLE, SET ROLE NONE), else the folded role name, or {@link #ANY_ROLE} when
 *                          the target cannot be named from the text (a string literal, SET SESSION AUTHORIZATION)
 * @param rowsUncounted     it may change rows its command tag does not count: EXPLAIN ANALYZE, data-modifying WITH
 * @param protectedSetting  the setting it changes when that setting switches off what the server enforces or records
 *                          (session_replication_role, log_*, pgaudit.*, ...), folded; null otherwise
 * @param changedSetting    the session setting it changes away from the session's start value (SET name,
 *                          set_config('name', ...)), folded; {@link #ANY_SETTING} when the name cannot be read from
 *                          the text; null when none (RESET and SET ... TO DEFAULT return to the start value)
 * @param problem           why it is not classified (or other analysis trouble), null when none
 * @param relocations       tables it renames, moves to another schema or takes out of a parent (ALTER ... RENAME TO,
 *                          SET SCHEMA, DETACH PARTITION, NO INHERIT) and columns it renames; empty for most
 */
public record StatementAnalysis(boolean classified, Set<StatementKind> kinds, List<QualifiedName> tables,
                                boolean tablesComplete, List<QualifiedName> functions, boolean withoutWhere,
                                boolean copyProgram, boolean copyServerFile, boolean changesSearchPath,
                                boolean changesReadOnly,
                                String problem, String roleChange, boolean rowsUncounted, String protectedSetting,
                                String changedSetting, List<Relocation> relocations) {
    /** A setting change whose setting is not known from the statement's literal-free text. */
    public static final String ANY_SETTING = "*";

    /** A role change whose target is not known from the statement's literal-free text. */
    public static final String ANY_ROLE = "\u0000any";

    /** A schema-qualified (schema may be null) SQL object name, folded like PostgreSQL folds identifiers. */
    public record QualifiedName(String schema, String name) {
        /** This name, or for an unqualified one the same name in {@code defaultSchema}. */
        public QualifiedName inSchema(String defaultSchema) {
            return schema != null ? this : new QualifiedName(defaultSchema, name);
        }

        @Override
        public String toString() {
            return schema == null ? name : schema + "." + name;
        }
    }
}
