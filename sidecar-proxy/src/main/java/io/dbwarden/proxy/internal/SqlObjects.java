package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementClassifier;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The SQL-level named queries of one session: cursors (DECLARE name CURSOR FOR query) and prepared statements
 * (PREPARE name AS query) that went through this proxy. {@code FETCH}/{@code MOVE} and {@code EXECUTE} run those
 * queries, so the policy and masking judge them by the query, not by the words "fetch 10 from c". A name the
 * proxy has not seen (a refcursor opened by a function, a statement prepared by dynamic SQL in the server)
 * resolves to nothing, and the statement is judged as it stands (fail closed).
 *
 * <p>A name is entered when its statement is sent (in stream order, so a FETCH pipelined behind its DECLARE finds
 * it) and removed again when that statement did not succeed; CLOSE, DEALLOCATE and DISCARD remove names, and the end
 * of a transaction closes the cursors not declared WITH HOLD, as in the server. Event-loop confined.
 */
final class SqlObjects {
    /** Per session: enough for any real workload; beyond it names are forgotten (and then judged as unknown). */
    static final int MAX_NAMES = 1000;
    /**
     * Characters of statement text (definitions and the queries they wrap) a session's names keep at most: beyond
     * it, as beyond {@link #MAX_NAMES}, new names are forgotten, so that names of huge queries cannot fill the heap.
     */
    static final long MAX_CHARS = 1L << 20;

    /** What a name keeps: the query it runs and the statement that defined it. */
    private interface Named {
        StatementInfo query();

        StatementInfo definedBy();

        /** The characters of text the name keeps, counted against {@link #MAX_CHARS}. */
        default long chars() {
            return query().text().length() + (long) definedBy().text().length();
        }
    }

    private record Cursor(StatementInfo query, boolean holdable, StatementInfo definedBy) implements Named {
    }

    private record PreparedQuery(StatementInfo query, StatementInfo definedBy) implements Named {
    }

    /** Characters the names of this session keep now (the sum of their {@link Named#chars()}). */
    private long chars;

    private final Map<String, Cursor> cursors = new HashMap<>();
    private final Map<String, PreparedQuery> prepared = new HashMap<>();
    /** The session's standard_conforming_strings, which decides how the wrapped query is lexed. */
    private final java.util.function.BooleanSupplier standardConformingStrings;

    SqlObjects(java.util.function.BooleanSupplier standardConformingStrings) {
        this.standardConformingStrings = standardConformingStrings;
    }

    /**
     * Whether {@code s} may use or define a name, decided on its literal-free text (which starts with the lower-cased
     * first keyword) so that the tokens of other statements, made lazily, are not made for this.
     */
    static boolean concerns(StatementInfo s) {
        String n = s.normalized();
        if (n.isEmpty()) {
            return false;
        }
        return switch (n.charAt(0)) {
            case 'e' -> word(n, "execute");
            case 'f' -> word(n, "fetch");
            case 'm' -> word(n, "move");
            case 'd' -> word(n, "declare") || word(n, "deallocate") || word(n, "discard");
            case 'p' -> word(n, "prepare");
            case 'c' -> word(n, "close");
            default -> false;
        };
    }

    private static boolean word(String text, String w) {
        return text.startsWith(w) && (text.length() == w.length() || !Character.isLetterOrDigit(text.charAt(w.length()))
                && text.charAt(w.length()) != '_' && text.charAt(w.length()) != '$');
    }

    /** What the server runs for {@code s}: the named query for EXECUTE/FETCH/MOVE of a known name, else {@code s}. */
    StatementInfo resolve(StatementInfo s) {
        if (!concerns(s) || (cursors.isEmpty() && prepared.isEmpty())) {
            return s;
        }
        List<SqlToken> t = s.tokens();
        if (t.isEmpty() || t.get(0).kind() != SqlToken.Kind.WORD) {
            return s;
        }
        switch (t.get(0).text()) {
            case "execute" -> {
                PreparedQuery p = t.size() > 1 && t.get(1).isName() ? prepared.get(t.get(1).text()) : null;
                return p == null ? s : p.query();
            }
            case "fetch", "move" -> {
                // FETCH [direction] [FROM | IN] cursor_name: the name is the last token
                SqlToken last = t.get(t.size() - 1);
                Cursor c = t.size() > 1 && last.isName() ? cursors.get(last.text()) : null;
                return c == null ? s : c.query();
            }
            default -> {
                return s;
            }
        }
    }

    /** {@code s} is on its way to the server (or blocked: then {@link #notRun} follows). */
    void sent(StatementInfo s) {
        if (!concerns(s)) {
            return;
        }
        List<SqlToken> t = s.tokens();
        if (t.size() < 2 || t.get(0).kind() != SqlToken.Kind.WORD) {
            return;
        }
        switch (t.get(0).text()) {
            case "declare" -> {
                StatementInfo query = inner(s);
                if (t.get(1).isName()) {
                    // a name beyond the bounds is forgotten, also an older query under it (judged as unknown)
                    remove(cursors, t.get(1).text());
                    if (query != null) {
                        keep(cursors, t.get(1).text(), new Cursor(query, holdable(t), s));
                    }
                }
            }
            case "prepare" -> {
                if (t.get(1).isWord("transaction") || !t.get(1).isName()) {
                    return;
                }
                StatementInfo query = inner(s);
                remove(prepared, t.get(1).text());
                if (query != null) {
                    keep(prepared, t.get(1).text(), new PreparedQuery(query, s));
                }
            }
            case "close" -> {
                if (t.get(1).isWord("all")) {
                    cursors.values().removeIf(this::forget);
                } else if (t.get(1).isName()) {
                    remove(cursors, t.get(1).text());
                }
            }
            case "deallocate" -> {
                SqlToken name = t.get(1).isWord("prepare") && t.size() > 2 ? t.get(2) : t.get(1);
                if (name.isWord("all")) {
                    prepared.values().removeIf(this::forget);
                } else if (name.isName()) {
                    remove(prepared, name.text());
                }
            }
            case "discard" -> {
                if (t.get(1).isWord("all")) {
                    cursors.clear();
                    prepared.clear();
                    chars = 0;
                }
            }
            default -> {
            }
        }
    }

    /**
     * {@code s} was blocked, skipped or failed: a name it would have defined is not known after all. (If the name
     * existed before, the server still has the old object; the proxy then judges it as unknown, the safe side.)
     */
    void notRun(StatementInfo s) {
        if (!concerns(s) || (cursors.isEmpty() && prepared.isEmpty())) {
            return;
        }
        List<SqlToken> t = s.tokens();
        if (t.size() < 2 || !t.get(1).isName()) {
            return;
        }
        String name = t.get(1).text();
        if (t.get(0).isWord("declare")) {
            Cursor c = cursors.get(name);
            if (c != null && c.definedBy() == s) {
                remove(cursors, name);
            }
        } else if (t.get(0).isWord("prepare")) {
            PreparedQuery p = prepared.get(name);
            if (p != null && p.definedBy() == s) {
                remove(prepared, name);
            }
        }
    }

    /** The transaction ended (the server is idle): cursors not declared WITH HOLD are gone. */
    void transactionEnded() {
        if (!cursors.isEmpty()) {
            cursors.values().removeIf(c -> !c.holdable() && forget(c));
        }
    }

    /** Enters {@code name} (not in {@code map} now) if the session's bounds leave room for it. */
    private <T extends Named> void keep(Map<String, T> map, String name, T named) {
        if (map.size() < MAX_NAMES && chars + named.chars() <= MAX_CHARS) {
            map.put(name, named);
            chars += named.chars();
        }
    }

    private void remove(Map<String, ? extends Named> map, String name) {
        Named gone = map.remove(name);
        if (gone != null) {
            forget(gone);
        }
    }

    /** Takes a name's characters off the count; true, so that it can serve as the predicate removing it. */
    private boolean forget(Named named) {
        chars -= named.chars();
        return true;
    }

    /** Characters the names of this session keep (for tests). */
    long chars() {
        return chars;
    }

    /** DECLARE name [BINARY] [ASENSITIVE|INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH|WITHOUT} HOLD] FOR query */
    private static boolean holdable(List<SqlToken> t) {
        for (int i = 2; i + 1 < t.size() && !t.get(i).isWord("for"); i++) {
            if (t.get(i).isWord("with") && t.get(i + 1).isWord("hold")) {
                return true;
            }
        }
        return false;
    }

    /** The query a DECLARE or PREPARE wraps, as a statement of its own; null when there is none. */
    private StatementInfo inner(StatementInfo s) {
        StatementClassifier.Result c = StatementClassifier.classify(s.tokens());
        if (c.innerFrom() < 0) {
            return null;
        }
        String text = c.parsedText(s.text());
        return StatementInfo.of(new SqlText.Statement(text, SqlText.lazyTokens(text,
                standardConformingStrings.getAsBoolean()),
                text));
    }
}
