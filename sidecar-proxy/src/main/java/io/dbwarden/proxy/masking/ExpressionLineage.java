package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import io.dbwarden.proxy.sql.StatementClassifier;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which masking rule a computed result column (no source table, e.g. lower(email), email || '', a subquery)
 * falls under, decided conservatively from the statement's tokens: an output expression that names a masked column,
 * or a whole row of a table with masked columns, is masked with that column's rule. When the output list cannot be
 * lined up with the result columns (SELECT *, UNION, ...), every computed column is judged by the whole statement.
 */
final class ExpressionLineage {
    private static final Set<String> LIST_END = Set.of("from", "into", "where", "group", "having", "order", "limit",
            "offset", "fetch", "for", "window", "union", "intersect", "except", "on");

    private final List<Set<String>> items;
    private final Set<String> allNames;
    private final List<QualifiedName> tables;
    /** alias -> table, for whole-row references through an alias (to_json(c)). */
    private final java.util.Map<String, QualifiedName> aliases;

    private ExpressionLineage(List<Set<String>> items, Set<String> allNames, List<QualifiedName> tables,
                              java.util.Map<String, QualifiedName> aliases) {
        this.items = items;
        this.allNames = allNames;
        this.tables = tables;
        this.aliases = aliases;
    }

    private static final Set<String> NOT_ALIASES = Set.of("join", "left", "right", "inner", "outer", "full",
            "cross", "natural", "on", "using", "where", "group", "order", "limit", "offset", "union", "intersect",
            "except", "for", "window", "having", "returning", "set", "values", "lateral", "tablesample", "fetch");

    /** The aliases the statement gives its tables ({@code FROM customers c}, {@code customers AS c}). */
    static java.util.Map<String, QualifiedName> aliases(List<SqlToken> t, List<QualifiedName> tables) {
        java.util.Map<String, QualifiedName> aliases = new java.util.HashMap<>();
        for (int i = 0; i + 1 < t.size(); i++) {
            SqlToken tok = t.get(i);
            if (tok.kind() != SqlToken.Kind.WORD && tok.kind() != SqlToken.Kind.QUOTED_IDENT) {
                continue;
            }
            for (QualifiedName table : tables) {
                if (!table.name().equals(tok.text())) {
                    continue;
                }
                int a = t.get(i + 1).isWord("as") ? i + 2 : i + 1;
                if (a < t.size() && (t.get(a).kind() == SqlToken.Kind.QUOTED_IDENT
                        || (t.get(a).kind() == SqlToken.Kind.WORD && !NOT_ALIASES.contains(t.get(a).text())
                        && !LIST_END.contains(t.get(a).text())))) {
                    aliases.put(t.get(a).text(), table);
                }
            }
        }
        return aliases;
    }

    static ExpressionLineage of(List<SqlToken> tokens) {
        return of(tokens, StatementClassifier.classify(tokens).tables());
    }

    /** As {@link #of(List)}, with the statement's tables when the caller has classified it already. */
    static ExpressionLineage of(List<SqlToken> tokens, List<QualifiedName> tables) {
        Set<String> all = new HashSet<>();
        boolean setOperation = false;
        int depth = 0;
        for (int i = 0; i < tokens.size(); i++) {
            SqlToken t = tokens.get(i);
            if (t.isSymbol("(")) {
                depth++;
            } else if (t.isSymbol(")")) {
                depth--;
            } else if (t.kind() == SqlToken.Kind.WORD || t.kind() == SqlToken.Kind.QUOTED_IDENT) {
                if (!qualifier(tokens, i)) {
                    all.add(t.text());
                }
                if (depth == 0 && (t.isWord("union") || t.isWord("intersect") || t.isWord("except"))) {
                    setOperation = true;
                }
            }
        }
        List<Set<String>> items = setOperation ? null : outputItems(tokens);
        return new ExpressionLineage(items, all, tables, aliases(tokens, tables));
    }

    /** Names used by each output item of the main SELECT (or RETURNING) list; null when they cannot be lined up. */
    private static List<Set<String>> outputItems(List<SqlToken> t) {
        int start = -1;
        int depth = 0;
        for (int i = 0; i < t.size(); i++) {
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && (tok.isWord("select") || tok.isWord("returning"))) {
                start = i + 1;
                if (tok.isWord("returning")) {
                    break;
                }
            }
        }
        if (start < 0) {
            return null;
        }
        if (start < t.size() && (t.get(start).isWord("distinct") || t.get(start).isWord("all"))) {
            start++;
            if (start < t.size() && t.get(start - 1).isWord("distinct") && t.get(start).isWord("on")) {
                start++;
                int d = 0;
                do {
                    if (t.get(start).isSymbol("(")) {
                        d++;
                    } else if (t.get(start).isSymbol(")")) {
                        d--;
                    }
                    start++;
                } while (start < t.size() && d > 0);
            }
        }
        List<Set<String>> items = new ArrayList<>();
        Set<String> current = new HashSet<>();
        depth = 0;
        boolean star = false;
        for (int i = start; i < t.size(); i++) {
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && tok.isSymbol(",")) {
                items.add(current);
                current = new HashSet<>();
                continue;
            } else if (depth == 0 && tok.kind() == SqlToken.Kind.WORD && LIST_END.contains(tok.text())) {
                break;
            }
            if (depth == 0 && tok.isSymbol("*")) {
                star = true;
            }
            if ((tok.kind() == SqlToken.Kind.WORD || tok.kind() == SqlToken.Kind.QUOTED_IDENT) && !qualifier(t, i)) {
                current.add(tok.text());
            }
        }
        items.add(current);
        return star ? null : items;
    }

    /** A name followed by '.' qualifies the next name (c.email): it is not a whole-row reference itself. */
    private static boolean qualifier(List<SqlToken> t, int i) {
        return i + 1 < t.size() && t.get(i + 1).isSymbol(".");
    }

    /**
     * The rule of some masked column whose values the statement's output list carries (each item of the main SELECT
     * or RETURNING list; the whole statement when the list cannot be told apart), or null.
     */
    MaskingRules.ColumnRule anyOutputRule(MaskingRules rules) {
        int n = items == null ? 1 : items.size();
        for (int i = 0; i < n; i++) {
            MaskingRules.ColumnRule r = ruleFor(i, items == null ? -1 : n, rules);
            if (r != null) {
                return r;
            }
        }
        return null;
    }

    /** The rule for computed output column {@code index} of {@code fieldCount}, or null when it names nothing masked. */
    MaskingRules.ColumnRule ruleFor(int index, int fieldCount, MaskingRules rules) {
        Set<String> names = items != null && items.size() == fieldCount ? items.get(index) : allNames;
        for (MaskingRules.ColumnRule rule : rules.columns()) {
            for (QualifiedName table : tables) {
                String schema = table.schema() != null ? table.schema() : rules.defaultSchema();
                if (!rule.matchesTable(schema, table.name())) {
                    continue;
                }
                for (String n : names) {
                    if (rule.matches(schema, table.name(), n)) {
                        return rule; // a masked column
                    }
                    if ((n.equals(table.name()) || table.equals(aliases.get(n)))
                            && rule.mayBeInRowOf(schema, table.name())) {
                        return rule; // the whole row of a table with masked columns
                    }
                }
            }
            if (tables.isEmpty() && names.stream().anyMatch(rule::matchesColumnName)) {
                return rule;
            }
        }
        return null;
    }
}
