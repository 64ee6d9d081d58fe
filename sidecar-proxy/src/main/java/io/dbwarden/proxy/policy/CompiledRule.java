package io.dbwarden.proxy.policy;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.Rule;
import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.api.validation.NameGlob;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A rule ready to evaluate. A permitting rule (allow) matches only when it covers everything the statement does;
 * a restricting rule (deny, requireApproval, audit) matches when it covers anything the statement does. Unknown
 * facts count against permitting and for restricting: an incomplete table list never satisfies an allow rule's
 * table globs, and always satisfies a deny rule's; an unqualified table name resolves to the default schema for
 * allow rules but to any schema for restricting rules (search_path cannot be used to dodge a deny).
 */
record CompiledRule(String name, Set<StatementKind> kinds, List<NameGlob> tables, List<NameGlob> functions,
                    boolean withoutWhere, boolean copyProgram, Action action, String message) {

    static CompiledRule of(Rule r) {
        Set<StatementKind> kinds = r.getMatch().getStatements().isEmpty() ? Set.of()
                : EnumSet.copyOf(r.getMatch().getStatements());
        return new CompiledRule(r.getName(), kinds,
                r.getMatch().getTables().stream().map(NameGlob::parse).toList(),
                r.getMatch().getFunctions().stream().map(NameGlob::parse).toList(),
                Boolean.TRUE.equals(r.getMatch().getWithoutWhere()),
                Boolean.TRUE.equals(r.getMatch().getCopyProgram()), r.getAction(), r.getMessage());
    }

    boolean permits() {
        return action == Action.ALLOW;
    }

    boolean matches(StatementAnalysis a, String defaultSchema) {
        if (withoutWhere && !a.withoutWhere()) {
            return false;
        }
        if (copyProgram && !a.copyProgram()) {
            return false;
        }
        if (!kinds.isEmpty()) {
            boolean ok = permits() ? kinds.containsAll(a.kinds()) : a.kinds().stream().anyMatch(kinds::contains);
            if (!ok) {
                return false;
            }
        }
        if (!tables.isEmpty() && !matchesTables(a, defaultSchema)) {
            return false;
        }
        return functions.isEmpty() || matchesFunctions(a.functions());
    }

    private boolean matchesTables(StatementAnalysis a, String defaultSchema) {
        if (permits()) {
            if (!a.tablesComplete()) {
                return false;
            }
            for (QualifiedName t : a.tables()) {
                String schema = t.schema() != null ? t.schema() : defaultSchema;
                if (tables.stream().noneMatch(g -> g.matches(schema, t.name()))) {
                    return false;
                }
            }
            return true;
        }
        if (!a.tablesComplete()) {
            return true;
        }
        for (QualifiedName t : a.tables()) {
            for (NameGlob g : tables) {
                if (t.schema() != null ? g.matches(t.schema(), t.name()) : g.matchesNameInAnySchema(t.name())) {
                    return true;
                }
            }
        }
        return false;
    }

    private boolean matchesFunctions(List<QualifiedName> called) {
        if (permits()) {
            return called.stream().allMatch(f -> functions.stream().anyMatch(g -> matchesFunction(g, f)));
        }
        return called.stream().anyMatch(f -> functions.stream().anyMatch(g -> matchesFunction(g, f)));
    }

    private static boolean matchesFunction(NameGlob g, QualifiedName f) {
        return f.schema() != null ? g.matches(f.schema(), f.name()) : g.matchesNameInAnySchema(f.name());
    }
}
