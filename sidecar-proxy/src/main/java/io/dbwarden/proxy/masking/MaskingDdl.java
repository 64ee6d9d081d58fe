package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.Relocation;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.List;

/**
 * DDL that would take columns out of the masking rules that cover them: rules name tables and columns, so renaming a
 * masked column or its table, moving the table to another schema, detaching a partition from a masked table or
 * ending a child's inheritance from one leaves the same values under a name no rule covers. Such statements are
 * refused for a masked identity; other ALTERs (and renames that stay covered) pass.
 */
final class MaskingDdl {
    private MaskingDdl() {
    }

    /** Why the statement's relocations would uncover masked values, or null when they would not. */
    static String uncovers(List<Relocation> relocations, MaskingRules rules, Ancestry ancestry) {
        String schema = rules.defaultSchema();
        for (Relocation r : relocations) {
            QualifiedName table = r.table().inSchema(schema);
            QualifiedName other = r.other().inSchema(schema);
            switch (r.kind()) {
                case RENAME, SET_SCHEMA -> {
                    for (MaskingRules.ColumnRule rule : rules.columns()) {
                        if (rule.matchesTable(table.schema(), table.name())
                                && !rule.matchesTable(other.schema(), other.name())) {
                            return (r.kind() == Relocation.Kind.RENAME ? "renames " : "moves ") + table
                                    + " (masked columns, rule \"" + rule.name() + "\")";
                        }
                    }
                }
                case RENAME_COLUMN -> {
                    for (MaskingRules.ColumnRule rule : rules.columns()) {
                        if (rule.matches(table.schema(), table.name(), r.column())
                                && !rule.matches(table.schema(), table.name(), r.newColumn())) {
                            return "renames the masked column " + table + "." + r.column() + " (rule \"" + rule.name()
                                    + "\")";
                        }
                    }
                }
                case DETACH_PARTITION, NO_INHERIT -> {
                    if (coveredThrough(rules, other, ancestry, table)) {
                        return "takes " + table + " out of " + other + ", whose masking rules then no longer cover it";
                    }
                }
            }
        }
        return null;
    }

    /**
     * Whether a rule covers {@code table} only as a partition or child of {@code parent} (or of its ancestors): after
     * detaching, or ending the inheritance, only the rules naming {@code table} itself apply.
     */
    private static boolean coveredThrough(MaskingRules rules, QualifiedName parent, Ancestry ancestry,
                                          QualifiedName table) {
        List<QualifiedName> above = ancestry.withAncestors(parent);
        for (MaskingRules.ColumnRule r : rules.columns()) {
            if (!r.matchesTable(table.schema(), table.name())
                    && above.stream().anyMatch(a -> r.matchesTable(a.schema(), a.name()))) {
                return true;
            }
        }
        return false;
    }
}
