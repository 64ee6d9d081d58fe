package io.dbwarden.proxy.approval;

import io.dbwarden.api.v1alpha1.ChangeShape;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.List;
import java.util.Set;

/**
 * Recognises the low-risk schema changes that automatic approval rules may name, from the statement's tokens.
 * Conservative: anything unusual is not recognised (and then needs a person).
 */
public final class ChangeShapes {
    /** Words that make an ADD COLUMN more than a catalog-only change, or mean several actions. */
    private static final Set<String> NOT_TRIVIAL = Set.of("default", "generated", "identity", "primary", "unique",
            "references", "check", "constraint", "drop", "rename", "alter", "using", "exclude", "foreign", "set",
            "owner", "inherit", "attach", "detach", "enable", "disable", "validate", "cluster", "replica", "of");

    private ChangeShapes() {
    }

    /** The shape of the statement, or null when it is none of the known low-risk changes. */
    public static ChangeShape of(List<SqlToken> tokens) {
        if (tokens.size() >= 4 && tokens.get(0).isWord("create")) {
            int i = 1;
            if (tokens.get(i).isWord("unique")) {
                i++;
            }
            if (tokens.get(i).isWord("index") && i + 1 < tokens.size() && tokens.get(i + 1).isWord("concurrently")) {
                return ChangeShape.CREATE_INDEX_CONCURRENTLY;
            }
            return null;
        }
        if (tokens.size() >= 6 && tokens.get(0).isWord("alter") && tokens.get(1).isWord("table")) {
            int adds = 0;
            int depth = 0;
            for (int i = 2; i < tokens.size(); i++) {
                SqlToken t = tokens.get(i);
                if (t.isSymbol("(")) {
                    depth++;
                } else if (t.isSymbol(")")) {
                    depth--;
                } else if (depth == 0 && t.isSymbol(",")) {
                    return null; // several actions in one statement
                } else if (t.kind() == SqlToken.Kind.WORD) {
                    if (t.isWord("add")) {
                        adds++;
                    } else if (NOT_TRIVIAL.contains(t.text())
                            || (t.isWord("not") && i + 1 < tokens.size() && tokens.get(i + 1).isWord("null"))) {
                        return null;
                    }
                } else if (t.kind() == SqlToken.Kind.STRING || t.kind() == SqlToken.Kind.PARAM) {
                    return null;
                }
            }
            return adds == 1 ? ChangeShape.ADD_COLUMN_WITHOUT_DEFAULT : null;
        }
        return null;
    }
}
