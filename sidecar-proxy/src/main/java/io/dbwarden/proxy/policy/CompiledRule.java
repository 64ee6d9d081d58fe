package io.dbwarden.proxy.policy;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.Rule;
import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.api.validation.NameGlob;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.Relocation;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A rule ready to evaluate. A permitting rule (allow) matches only when it covers everything the statement does;
 * a restricting rule (deny, requireApproval, audit) matches when it covers anything the statement does. Unknown
 * facts count against permitting and for restricting: an incomplete table list never satisfies an allow rule's
 * table globs, and always satisfies a deny rule's. An unqualified name counts under every schema it could
 * resolve to (the policy's default schema, which the proxy pins as search_path, and pg_catalog for pg_* names):
 * all of them must match for allow rules, any of them for restricting rules.
 * <p>
 * For restricting rules a table also counts as each table it shares rows with ({@link Ancestry}): what it is a
 * partition or inheritance child of (its rows are theirs), its own partitions and children (their rows are among its
 * rows) and, for a user view, what it reads. So a deny rule for {@code public.orders} applies to
 * {@code public.orders_2024} and to a view over either, and one for {@code public.orders_2024} to
 * {@code public.orders}. Allow rules extend to partitions only, from parent to partition: an inheritance child may
 * add columns its parent does not have, a parent holds other partitions' rows too, and a view is its own interface
 * (a policy that allows a view must not thereby allow what the view reads, nor the other way round).
 */
record CompiledRule(String name, Set<StatementKind> kinds, List<NameGlob> tables, List<NameGlob> functions,
                    boolean withoutWhere, boolean copyProgram, Action action, String message, long maxAffectedRows) {

    static CompiledRule of(Rule r) {
        Set<StatementKind> kinds = r.getMatch().getStatements().isEmpty() ? Set.of()
                : EnumSet.copyOf(r.getMatch().getStatements());
        return new CompiledRule(r.getName(), kinds,
                r.getMatch().getTables().stream().map(NameGlob::parse).toList(),
                r.getMatch().getFunctions().stream().map(NameGlob::parse).toList(),
                Boolean.TRUE.equals(r.getMatch().getWithoutWhere()),
                Boolean.TRUE.equals(r.getMatch().getCopyProgram()), r.getAction(), r.getMessage(),
                r.getMaxAffectedRows() == null ? 0 : r.getMaxAffectedRows());
    }

    boolean permits() {
        return action == Action.ALLOW;
    }

    boolean matches(StatementAnalysis a, String defaultSchema, Ancestry ancestry) {
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
        if (!tables.isEmpty() && !matchesTables(a, defaultSchema, ancestry)) {
            return false;
        }
        return functions.isEmpty() || matchesFunctions(a.functions());
    }

    private boolean matchesTables(StatementAnalysis a, String defaultSchema, Ancestry ancestry) {
        if (permits() && !a.tablesComplete()) {
            return false;
        }
        if (!permits() && !a.tablesComplete()) {
            return true;
        }
        return covers(tables, a.tables(), tableSchemas(defaultSchema), ancestry);
    }

    /**
     * A restricting rule with table globs matched a statement whose table list is incomplete, and none of the
     * tables the proxy did find is one the rule names: it applies because of what the statement might use.
     */
    boolean matchedOnlyForUnknownTables(StatementAnalysis a, String defaultSchema, Ancestry ancestry) {
        return !permits() && !tables.isEmpty() && !a.tablesComplete()
                && !covers(tables, a.tables(), tableSchemas(defaultSchema), ancestry);
    }

    /** How a relation shares rows with one a rule names: {@code table} is {@code how} {@code named}. */
    record Via(QualifiedName table, String how, QualifiedName named) {
        @Override
        public String toString() {
            return table + " is " + how + " " + named;
        }
    }

    /**
     * When this restricting rule names none of the statement's tables itself but a relation one of them shows the
     * rows of (for the error's detail), else null.
     */
    Via matchedThrough(StatementAnalysis a, String defaultSchema, Ancestry ancestry) {
        if (permits() || tables.isEmpty() || !a.tablesComplete()
                || covers(tables, a.tables(), tableSchemas(defaultSchema), Ancestry.NONE)) {
            return null; // no table globs, or the names alone decide it
        }
        for (QualifiedName o : a.tables()) {
            List<String> schemas = o.schema() != null ? List.of(o.schema())
                    : tableSchemas(defaultSchema).apply(o.name());
            for (String schema : schemas) {
                Via via = via(tables, schema, o.name(), ancestry);
                if (via != null) {
                    return via;
                }
            }
        }
        return null;
    }

    /**
     * The first relation a glob names that shares rows with {@code schema.name}: a table it is a partition or child
     * of (its rows are theirs), one of its own partitions or children (their rows are among its rows), a relation it
     * reads as a view, or a table such a relation is a partition, child or parent of; null when none.
     */
    private static Via via(List<NameGlob> globs, String schema, String name, Ancestry ancestry) {
        QualifiedName table = new QualifiedName(schema, name);
        Via related = related(globs, table, ancestry);
        if (related != null) {
            return related;
        }
        for (QualifiedName source : ancestry.viewSources(schema, name)) {
            if (named(globs, source)) {
                return new Via(table, "a view reading", source);
            }
            Via inner = related(globs, source, ancestry);
            if (inner != null) {
                return new Via(table, "a view reading " + source + ", " + inner.how(), inner.named());
            }
        }
        return null;
    }

    /** The first ancestor or descendant of {@code t} a glob names, or null. */
    private static Via related(List<NameGlob> globs, QualifiedName t, Ancestry ancestry) {
        for (QualifiedName parent : ancestry.ancestors(t.schema(), t.name())) {
            if (named(globs, parent)) {
                return new Via(t, ancestry.partition(t.schema(), t.name()) ? "a partition of" : "a child table of",
                        parent);
            }
        }
        for (QualifiedName child : ancestry.descendants(t.schema(), t.name())) {
            if (named(globs, child)) {
                return new Via(t, "the parent of", child);
            }
        }
        return null;
    }

    /**
     * For a restricting rule with table globs: why {@code relocation} takes rows out from under this rule (it names
     * the table, but not its new name; or it covers the table only as a partition or child of the parent it
     * leaves), or null. Names resolve in {@code defaultSchema}.
     */
    String uncoveredBy(Relocation relocation, String defaultSchema, Ancestry ancestry) {
        if (permits() || tables.isEmpty() || relocation.kind() == Relocation.Kind.RENAME_COLUMN) {
            return null;
        }
        QualifiedName table = relocation.table().inSchema(defaultSchema);
        QualifiedName other = relocation.other().inSchema(defaultSchema);
        if (relocation.kind() == Relocation.Kind.RENAME || relocation.kind() == Relocation.Kind.SET_SCHEMA) {
            // partitions, children and views keep their relations under the new name
            return named(tables, table) && !named(tables, other)
                    && via(tables, table.schema(), table.name(), ancestry) == null
                    ? table + " would be " + (relocation.kind() == Relocation.Kind.RENAME ? "renamed" : "moved")
                    + " to " + other + ", a name this rule does not cover" : null;
        }
        if (named(tables, table)) {
            return null;
        }
        return ancestry.withAncestors(other).stream().anyMatch(a -> named(tables, a)) ? table + " would no longer be a "
                + (relocation.kind() == Relocation.Kind.DETACH_PARTITION ? "partition" : "child table") + " of "
                + other + ", through which this rule covers it" : null;
    }

    private static boolean named(List<NameGlob> globs, QualifiedName relation) {
        for (NameGlob g : globs) {
            if (g.matches(relation.schema(), relation.name())) {
                return true;
            }
        }
        return false;
    }

    private boolean matchesFunctions(List<QualifiedName> called) {
        return covers(functions, called, name -> FUNCTION_SCHEMAS, Ancestry.NONE);
    }

    private static final List<String> FUNCTION_SCHEMAS = List.of("pg_catalog", "public");

    /** Whether one of this rule's function globs names {@code f} (under any schema it could resolve to). */
    boolean namesFunction(QualifiedName f) {
        List<String> schemas = f.schema() != null ? List.of(f.schema()) : FUNCTION_SCHEMAS;
        return functions.stream().anyMatch(g -> schemas.stream().anyMatch(s -> g.matches(s, f.name())));
    }

    /** Schemas an unqualified table name can resolve to: the (pinned) default schema, or pg_catalog for pg_* names. */
    private static java.util.function.Function<String, List<String>> tableSchemas(String defaultSchema) {
        return name -> name.startsWith("pg_") ? List.of(defaultSchema, "pg_catalog") : List.of(defaultSchema);
    }

    /**
     * Permitting rules: every object, under every schema it could resolve to, matches a glob (itself, or for a
     * partition, one of its ancestors). Restricting rules: some object, under some schema it could resolve to, or a
     * relation whose rows it shows there ({@link #via}), matches a glob.
     */
    private boolean covers(List<NameGlob> globs, List<QualifiedName> objects,
                           java.util.function.Function<String, List<String>> unqualifiedSchemas, Ancestry ancestry) {
        for (QualifiedName o : objects) {
            List<String> schemas = o.schema() != null ? List.of(o.schema()) : unqualifiedSchemas.apply(o.name());
            boolean all = true;
            boolean any = false;
            for (String schema : schemas) {
                boolean m = named(globs, new QualifiedName(schema, o.name())) || (permits()
                        ? ancestry.partition(schema, o.name())
                        && ancestry.ancestors(schema, o.name()).stream().anyMatch(p -> named(globs, p))
                        : via(globs, schema, o.name(), ancestry) != null);
                all &= m;
                any |= m;
            }
            if (permits() && !all) {
                return false;
            }
            if (!permits() && any) {
                return true;
            }
        }
        return permits();
    }
}
