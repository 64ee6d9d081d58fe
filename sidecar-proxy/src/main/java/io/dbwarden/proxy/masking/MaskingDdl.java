package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
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

    /** Why {@code tokens} (an ALTER statement) would uncover masked values, or null when it would not. */
    static String uncovers(List<SqlToken> tokens, MaskingRules rules, Ancestry ancestry) {
        int i = 0;
        if (tokens.size() < 4 || !tokens.get(i++).isWord("alter")) {
            return null;
        }
        if (tokens.get(i).isWord("materialized") || tokens.get(i).isWord("foreign")) {
            i++;
        }
        if (!tokens.get(i).isWord("table") && !tokens.get(i).isWord("view")) {
            return null;
        }
        i++;
        if (i + 1 < tokens.size() && tokens.get(i).isWord("if") && tokens.get(i + 1).isWord("exists")) {
            i += 2;
        }
        if (i < tokens.size() && tokens.get(i).isWord("only")) {
            i++;
        }
        List<String> parts = new ArrayList<>();
        i = name(tokens, i, parts);
        if (parts.isEmpty()) {
            return null;
        }
        QualifiedName target = qualified(parts, rules.defaultSchema());
        if (i < tokens.size() && tokens.get(i).isSymbol("*")) {
            i++;
        }
        if (i + 1 < tokens.size() && tokens.get(i).isWord("rename")) {
            return rename(tokens, i + 1, target, rules);
        }
        if (i + 2 < tokens.size() && tokens.get(i).isWord("set") && tokens.get(i + 1).isWord("schema")) {
            List<String> schema = new ArrayList<>();
            name(tokens, i + 2, schema);
            return schema.size() == 1 && leavesCover(rules, target, new QualifiedName(schema.get(0), target.name()))
                    ? "moves " + target + " (masked columns) to schema " + schema.get(0) : null;
        }
        for (int k = i; k + 2 < tokens.size(); k++) {
            if (tokens.get(k).isWord("detach") && tokens.get(k + 1).isWord("partition")) {
                List<String> p = new ArrayList<>();
                name(tokens, k + 2, p);
                QualifiedName partition = p.isEmpty() ? null : qualified(p, rules.defaultSchema());
                if (partition != null && coveredThrough(rules, target, ancestry, partition)) {
                    return "detaches " + partition + " from " + target + ", whose masking rules then no longer cover it";
                }
            }
            if (tokens.get(k).isWord("no") && tokens.get(k + 1).isWord("inherit")) {
                List<String> p = new ArrayList<>();
                name(tokens, k + 2, p);
                QualifiedName parent = p.isEmpty() ? null : qualified(p, rules.defaultSchema());
                if (parent != null && coveredThrough(rules, parent, ancestry, target)) {
                    return "ends " + target + "'s inheritance from " + parent + ", whose masking rules then no longer "
                            + "cover it";
                }
            }
        }
        return null;
    }

    /** RENAME [COLUMN] a TO b, or RENAME TO b (RENAME CONSTRAINT changes no data's name). */
    private static String rename(List<SqlToken> tokens, int i, QualifiedName target, MaskingRules rules) {
        if (tokens.get(i).isWord("to")) {
            List<String> to = new ArrayList<>();
            name(tokens, i + 1, to);
            return to.size() == 1 && leavesCover(rules, target, new QualifiedName(target.schema(), to.get(0)))
                    ? "renames " + target + ", which has masked columns" : null;
        }
        if (tokens.get(i).isWord("constraint")) {
            return null;
        }
        if (tokens.get(i).isWord("column")) {
            i++;
        }
        if (i + 2 >= tokens.size() || !isName(tokens.get(i)) || !tokens.get(i + 1).isWord("to")
                || !isName(tokens.get(i + 2))) {
            return null;
        }
        String from = tokens.get(i).text();
        String to = tokens.get(i + 2).text();
        for (MaskingRules.ColumnRule r : rules.columns()) {
            if (r.matches(target.schema(), target.name(), from) && !r.matches(target.schema(), target.name(), to)) {
                return "renames the masked column " + target + "." + from + " (rule \"" + r.name() + "\")";
            }
        }
        return null;
    }

    /** Whether some rule covering a column of {@code from} covers no table named {@code to}. */
    private static boolean leavesCover(MaskingRules rules, QualifiedName from, QualifiedName to) {
        for (MaskingRules.ColumnRule r : rules.columns()) {
            if (r.matchesTable(from.schema(), from.name()) && !r.matchesTable(to.schema(), to.name())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a rule covers {@code table} as {@code parent} or one of its ancestors (after detaching, or ending the
     * inheritance, only the rules naming {@code table} itself apply).
     */
    private static boolean coveredThrough(MaskingRules rules, QualifiedName parent, Ancestry ancestry,
                                          QualifiedName table) {
        List<QualifiedName> above = new ArrayList<>();
        above.add(parent);
        above.addAll(ancestry.ancestors(parent.schema(), parent.name()));
        for (MaskingRules.ColumnRule r : rules.columns()) {
            if (!r.matchesTable(table.schema(), table.name())
                    && above.stream().anyMatch(a -> r.matchesTable(a.schema(), a.name()))) {
                return true;
            }
        }
        return false;
    }

    private static boolean isName(SqlToken t) {
        return t.kind() == SqlToken.Kind.WORD || t.kind() == SqlToken.Kind.QUOTED_IDENT;
    }

    /** Reads a (dotted) name from {@code i} into {@code parts}; returns the index after it. */
    private static int name(List<SqlToken> tokens, int i, List<String> parts) {
        if (i >= tokens.size() || !isName(tokens.get(i))) {
            return i;
        }
        parts.add(tokens.get(i).text());
        int k = i + 1;
        while (k + 1 < tokens.size() && tokens.get(k).isSymbol(".") && isName(tokens.get(k + 1))) {
            parts.add(tokens.get(k + 1).text());
            k += 2;
        }
        return k;
    }

    private static QualifiedName qualified(List<String> parts, String defaultSchema) {
        int n = parts.size();
        return new QualifiedName(n >= 2 ? parts.get(n - 2) : defaultSchema, parts.get(n - 1));
    }
}
