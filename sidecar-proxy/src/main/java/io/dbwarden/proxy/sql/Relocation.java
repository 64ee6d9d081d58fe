package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
import java.util.List;

/**
 * What an {@code ALTER TABLE | VIEW | MATERIALIZED VIEW | FOREIGN TABLE} changes about the names rules use: a table
 * renamed or moved to another schema, a column renamed, a partition detached from its parent or a child taken out of
 * its parent's inheritance. Rules name tables and columns, so each of these can take rows out from under a rule.
 * Names are as written (schema null when unqualified).
 *
 * @param kind   what changes
 * @param table  the table that gets another name, or that leaves its parent (for DETACH PARTITION, the partition)
 * @param other  the table's new name (RENAME TO, SET SCHEMA), or the parent it leaves (DETACH PARTITION, NO INHERIT);
 *               for RENAME COLUMN the table itself
 * @param column for RENAME COLUMN, the column's old name (null otherwise)
 * @param newColumn for RENAME COLUMN, its new name (null otherwise)
 */
public record Relocation(Kind kind, QualifiedName table, QualifiedName other, String column, String newColumn) {
    public enum Kind {
        RENAME, SET_SCHEMA, RENAME_COLUMN, DETACH_PARTITION, NO_INHERIT
    }

    /** The relocations an ALTER statement makes (empty for any other statement and other ALTERs). */
    public static List<Relocation> of(List<SqlToken> tokens) {
        int i = 0;
        if (tokens.size() < 4 || !tokens.get(i++).isWord("alter")) {
            return List.of();
        }
        if (tokens.get(i).isWord("materialized") || tokens.get(i).isWord("foreign")) {
            i++;
        }
        if (!tokens.get(i).isWord("table") && !tokens.get(i).isWord("view")) {
            return List.of();
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
            return List.of();
        }
        QualifiedName target = qualified(parts);
        if (i < tokens.size() && tokens.get(i).isSymbol("*")) {
            i++;
        }
        if (i + 1 < tokens.size() && tokens.get(i).isWord("rename")) {
            Relocation r = rename(tokens, i + 1, target);
            return r == null ? List.of() : List.of(r);
        }
        if (i + 2 < tokens.size() && tokens.get(i).isWord("set") && tokens.get(i + 1).isWord("schema")) {
            List<String> schema = new ArrayList<>();
            name(tokens, i + 2, schema);
            return schema.size() != 1 ? List.of() : List.of(new Relocation(Kind.SET_SCHEMA, target,
                    new QualifiedName(schema.get(0), target.name()), null, null));
        }
        List<Relocation> found = new ArrayList<>();
        for (int k = i; k + 2 < tokens.size(); k++) {
            boolean detach = tokens.get(k).isWord("detach") && tokens.get(k + 1).isWord("partition");
            boolean noInherit = tokens.get(k).isWord("no") && tokens.get(k + 1).isWord("inherit");
            if (detach || noInherit) {
                List<String> p = new ArrayList<>();
                name(tokens, k + 2, p);
                if (!p.isEmpty()) {
                    found.add(detach ? new Relocation(Kind.DETACH_PARTITION, qualified(p), target, null, null)
                            : new Relocation(Kind.NO_INHERIT, target, qualified(p), null, null));
                }
            }
        }
        return found;
    }

    /** RENAME [COLUMN] a TO b, or RENAME TO b (RENAME CONSTRAINT changes no name rules use). */
    private static Relocation rename(List<SqlToken> tokens, int i, QualifiedName target) {
        if (tokens.get(i).isWord("to")) {
            List<String> to = new ArrayList<>();
            name(tokens, i + 1, to);
            return to.size() != 1 ? null
                    : new Relocation(Kind.RENAME, target, new QualifiedName(target.schema(), to.get(0)), null, null);
        }
        if (tokens.get(i).isWord("constraint")) {
            return null;
        }
        if (tokens.get(i).isWord("column")) {
            i++;
        }
        if (i + 2 >= tokens.size() || !tokens.get(i).isName() || !tokens.get(i + 1).isWord("to")
                || !tokens.get(i + 2).isName()) {
            return null;
        }
        return new Relocation(Kind.RENAME_COLUMN, target, target, tokens.get(i).text(), tokens.get(i + 2).text());
    }

    /** Reads a (dotted) name from {@code i} into {@code parts}; returns the index after it. */
    private static int name(List<SqlToken> tokens, int i, List<String> parts) {
        if (i >= tokens.size() || !tokens.get(i).isName()) {
            return i;
        }
        parts.add(tokens.get(i).text());
        int k = i + 1;
        while (k + 1 < tokens.size() && tokens.get(k).isSymbol(".") && tokens.get(k + 1).isName()) {
            parts.add(tokens.get(k + 1).text());
            k += 2;
        }
        return k;
    }

    private static QualifiedName qualified(List<String> parts) {
        int n = parts.size();
        return new QualifiedName(n >= 2 ? parts.get(n - 2) : null, parts.get(n - 1));
    }
}
