package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
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
 * lined up with the result columns (SELECT *, UNION, ...), every computed column is judged by the whole statement,
 * and so is an output expression naming a whole row of a subquery, function or WITH query
 * ({@code SELECT t FROM (SELECT email AS contact FROM customers) t}): such a row may carry anything the statement
 * reads.
 */
final class ExpressionLineage {
    private static final Set<String> LIST_END = Set.of("from", "into", "where", "group", "having", "order", "limit",
            "offset", "fetch", "for", "window", "union", "intersect", "except", "on");
    /**
     * Words that end a FROM list at its own parenthesis depth; after ON (a join's condition) the list goes on at the
     * next JOIN or comma at that depth.
     */
    private static final Set<String> FROM_END = Set.of("where", "group", "having", "order", "limit", "offset",
            "fetch", "for", "window", "union", "intersect", "except", "on", "returning", "select", "set",
            "values", "into");
    /** Functions whose result is the JSON object of a row, or an array of such objects: keys are column names. */
    private static final Set<String> ROW_TO_JSON = Set.of("row_to_json", "to_json", "to_jsonb", "json_agg",
            "jsonb_agg");

    /** The names an output item uses, and its token range [from, to). */
    private record Item(Set<String> names, int from, int to) {
    }

    private final List<SqlToken> tokens;
    private final List<Item> items;
    private final Set<String> allNames;
    private final List<QualifiedName> tables;
    /** alias -> table, for whole-row references through an alias (to_json(c)). */
    private final java.util.Map<String, QualifiedName> aliases;
    /** A table's ancestors (partitions' parents, inheritance parents), by schema and name; see Catalog#ancestors. */
    private final Ancestry ancestry;
    /**
     * Rows that are not tables (aliases of subqueries and functions in FROM, WITH query names), each with the token
     * range [from, to) of what makes its rows (subquery, arguments).
     */
    private final java.util.Map<String, int[]> derivedFrom;
    /** Names given to more than one derived row of the statement (which one a reference means is not told). */
    private final Set<String> repeatedDerived;
    /** The derived rows that are WITH queries. */
    private final Set<String> withRows;
    /** Beyond this many derived rows read through one another, a column of one is judged by its whole row. */
    private static final int MAX_COLUMN_DEPTH = 8;
    /** Beyond this many columns of derived rows looked up per statement, each is judged by its whole row. */
    private static final int MAX_COLUMN_STEPS = 256;
    private int columnSteps;
    /** The tokens naming what FROM lists read ({@link #fromListNames}). */
    private final java.util.BitSet fromNames;
    /** The tokens inside count(...) ({@link #countArguments}). */
    private final java.util.BitSet counted;
    /** Beyond this many derived rows in one statement they are judged together, by the whole statement. */
    static final int MAX_DERIVED = 64;
    /** The derived rows that may carry masked values, with a rule for them; made on first use (per statement). */
    private java.util.Map<String, MaskingRules.ColumnRule> tainted;
    /** The rules {@link #tainted} was worked out for. */
    private MaskingRules taintedFor;

    private ExpressionLineage(List<SqlToken> tokens, List<Item> items, Set<String> allNames, List<QualifiedName> tables,
                              java.util.Map<String, QualifiedName> aliases, Ancestry ancestry,
                              java.util.BitSet fromNames, java.util.BitSet counted) {
        this.tokens = tokens;
        this.repeatedDerived = new HashSet<>();
        this.withRows = new HashSet<>();
        this.derivedFrom = derivedNames(tokens, repeatedDerived, withRows);
        this.ancestry = ancestry;
        this.fromNames = fromNames;
        this.counted = counted;
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
            for (QualifiedName table : tables) {
                int a = aliasAt(t, i, table);
                if (a >= 0) {
                    aliases.put(t.get(a).text(), table);
                }
            }
        }
        return aliases;
    }

    /**
     * Where the alias is that {@code table}, named at token {@code i} ({@code i + 1} must be a token), gets there:
     * {@code customers c}, {@code customers AS c}; -1 when the name there is not the table's or has no alias.
     */
    private static int aliasAt(List<SqlToken> t, int i, QualifiedName table) {
        if (!t.get(i).isName() || !table.name().equals(t.get(i).text())) {
            return -1;
        }
        int a = t.get(i + 1).isWord("as") ? i + 2 : i + 1;
        return a < t.size() && aliasName(t.get(a)) ? a : -1;
    }

    /**
     * The table (its schema resolved), then what it is a partition or inheritance child of, then its own partitions
     * and children: a rule for a parent covers the same columns in its partitions and children, whose rows are the
     * same data under another name, and a rule for a partition covers the parent's column, whose rows include its own.
     */
    static List<QualifiedName> lineOf(QualifiedName table, String defaultSchema,
                                      Ancestry ancestry) {
        QualifiedName resolved = table.inSchema(defaultSchema);
        List<QualifiedName> descendants = ancestry.descendants(resolved.schema(), resolved.name());
        List<QualifiedName> line = ancestry.withAncestors(resolved);
        line.addAll(descendants);
        return line;
    }

    /**
     * The tables, and for each one named without a schema the sessions' temporary views of that name
     * ({@link Ancestry#temporaryViewSchemas}): the session's own, if it has one, is what the name reads.
     */
    static List<QualifiedName> withTemporaryViews(List<QualifiedName> tables, Ancestry ancestry) {
        List<QualifiedName> all = null;
        for (QualifiedName t : tables) {
            if (t.schema() != null) {
                continue;
            }
            for (String schema : ancestry.temporaryViewSchemas(t.name())) {
                if (all == null) {
                    all = new ArrayList<>(tables);
                }
                all.add(new QualifiedName(schema, t.name()));
            }
        }
        return all == null ? tables : all;
    }

    /**
     * Whether {@code n} is one of the names {@code table}'s columns get with its alias ({@code FROM customers AS
     * c (i, n, e)}): which column each renames is the table's column order, which the statement does not tell, so any
     * of them may be a masked one.
     */
    private boolean renamedColumnOf(String n, QualifiedName table) {
        if (renamedColumns == null) {
            renamedColumns = new java.util.HashMap<>();
            for (int i = 0; i + 3 < tokens.size(); i++) {
                if (i > 0 && tokens.get(i - 1).isWord("into")) {
                    continue; // INSERT INTO t AS a (columns) names the columns written
                }
                for (QualifiedName t : tables) {
                    int a = aliasAt(tokens, i, t);
                    if (a < 0 || a + 1 >= tokens.size() || !tokens.get(a + 1).isSymbol("(")) {
                        continue;
                    }
                    int close = closing(a + 2, tokens.size());
                    for (int k = a + 2; k < close; k++) {
                        if (tokens.get(k).isName()) {
                            renamedColumns.computeIfAbsent(tokens.get(k).text(), x -> new ArrayList<>()).add(t);
                        }
                    }
                }
            }
        }
        List<QualifiedName> of = renamedColumns.get(n);
        return of != null && of.contains(table);
    }

    /** The column names tables get with their aliases, each with the tables it renames a column of; made on use. */
    private java.util.Map<String, List<QualifiedName>> renamedColumns;

    /** Whether {@code n} is an alias of {@code table} (a temporary view's alias is that of its unqualified name). */
    private boolean aliasOf(String n, QualifiedName table) {
        QualifiedName a = aliases.get(n);
        return a != null && (a.equals(table) || (a.schema() == null && a.name().equals(table.name())
                && Ancestry.temporarySchema(table.schema())));
    }

    /** @param ancestry what a table is a partition or child of (see {@link Catalog#ancestors}) */
    static ExpressionLineage of(List<SqlToken> tokens,
                                Ancestry ancestry) {
        return of(tokens, StatementClassifier.classify(tokens).tables(), ancestry);
    }

    /** As {@link #of(List, Ancestry)}, with the tables of the already classified statement. */
    static ExpressionLineage of(List<SqlToken> tokens, List<QualifiedName> tables,
                                Ancestry ancestry) {
        Set<String> all = new HashSet<>();
        boolean setOperation = false;
        int depth = 0;
        names(tokens, 0, tokens.size(), all);
        for (SqlToken t : tokens) {
            if (t.isSymbol("(")) {
                depth++;
            } else if (t.isSymbol(")")) {
                depth--;
            } else if (t.kind() == SqlToken.Kind.WORD) {
                if (depth == 0 && (t.isWord("union") || t.isWord("intersect") || t.isWord("except"))) {
                    setOperation = true;
                }
            }
        }
        java.util.BitSet fromNames = fromListNames(tokens);
        java.util.BitSet counted = countArguments(tokens);
        List<Item> items = setOperation ? null : outputItems(tokens, fromNames, counted);
        return new ExpressionLineage(tokens, items, all, withTemporaryViews(tables, ancestry), aliases(tokens, tables),
                ancestry, fromNames, counted);
    }

    /**
     * A lineage whose items are the expressions a statement writes (the right-hand sides of UPDATE's and MERGE's SET,
     * the values of MERGE's INSERT), token ranges [from, to) of {@code tokens}: {@link #ruleFor} then tells which
     * masked values each one carries, as it does for the output items of a query (through aliases of subqueries,
     * WITH queries and whole rows).
     */
    static ExpressionLineage ofWritten(List<SqlToken> tokens, List<QualifiedName> tables, Ancestry ancestry,
                                       List<int[]> written) {
        Set<String> all = new HashSet<>();
        names(tokens, 0, tokens.size(), all);
        java.util.BitSet fromNames = fromListNames(tokens);
        java.util.BitSet counted = countArguments(tokens);
        List<Item> items = new ArrayList<>(written.size());
        for (int[] r : written) {
            items.add(item(tokens, r, fromNames, counted, false)); // a written value has no label
        }
        return new ExpressionLineage(tokens, items, all, withTemporaryViews(tables, ancestry), aliases(tokens, tables),
                ancestry, fromNames, counted);
    }

    /** The number of items (output or written expressions), or -1 when they could not be told apart. */
    int itemCount() {
        return items == null ? -1 : items.size();
    }

    /** Adds the names tokens [from, to) use, qualifiers of a column ({@code c} of {@code c.email}) left out. */
    private static void names(List<SqlToken> t, int from, int to, Set<String> into) {
        for (int i = from; i < to; i++) {
            SqlToken tok = t.get(i);
            if (tok.isName() && !qualifier(t, i)) {
                into.add(tok.text());
            }
        }
    }

    /**
     * The names of rows that are not rows of a table: the alias of a parenthesized FROM item (a subquery, a function
     * call, VALUES: {@code (SELECT ...) AS t}, {@code generate_series(1, 3) g}) and the name of a WITH query
     * ({@code t AS (...)}, {@code t(a, b) AS MATERIALIZED (...)}), each with the token range inside its parentheses.
     */
    static java.util.Map<String, int[]> derivedNames(List<SqlToken> t) {
        return derivedNames(t, new HashSet<>(), new HashSet<>());
    }

    /**
     * As {@link #derivedNames(List)}; adds to {@code repeated} the names given to more than one derived row, to
     * {@code with} those of WITH queries.
     */
    private static java.util.Map<String, int[]> derivedNames(List<SqlToken> t, Set<String> repeated,
                                                             Set<String> with) {
        java.util.Map<String, int[]> names = new java.util.HashMap<>();
        java.util.ArrayDeque<Integer> opened = new java.util.ArrayDeque<>();
        FromLists from = new FromLists();
        for (int i = 0; i < t.size(); i++) {
            SqlToken tok = t.get(i);
            from.step(t, i);
            if (tok.isSymbol("(")) {
                opened.push(i);
            } else if (tok.isSymbol(")")) {
                if (opened.isEmpty()) {
                    continue;
                }
                int open = opened.pop();
                int after = i + 1 < t.size() && t.get(i + 1).isWord("as") ? i + 2 : i + 1;
                if (from.open() && !joinColumns(t, open, i)) { // the parenthesis just closed is a FROM item
                    // without an alias a function's row goes by the function's name; a subquery's (PostgreSQL 16)
                    // by none: an unqualified column may still be one of its columns
                    String name = after < t.size() && aliasName(t.get(after)) ? t.get(after).text()
                            : open > 0 && aliasName(t.get(open - 1)) ? t.get(open - 1).text() : "(" + open;
                    if (names.putIfAbsent(name, new int[] {open + 1, i}) != null) { // not the list of AS u(v)
                        repeated.add(name);
                    }
                }
                if (i + 2 < t.size() && t.get(i + 1).isWord("as") && withBody(t, i + 2) && open > 0
                        && aliasName(t.get(open - 1))) {
                    if (names.put(t.get(open - 1).text(), body(t, i + 2)) != null) { // WITH t(a, b) AS (...)
                        repeated.add(t.get(open - 1).text());
                    }
                    with.add(t.get(open - 1).text());
                }
            } else if (aliasName(tok) && i + 2 < t.size() && t.get(i + 1).isWord("as") && withBody(t, i + 2)) {
                if (names.put(tok.text(), body(t, i + 2)) != null) { // WITH t AS (...)
                    repeated.add(tok.text());
                }
                with.add(tok.text());
            }
        }
        return names;
    }

    /** Whether the parentheses at {@code open} and {@code close} hold the column list of JOIN ... USING (a, b). */
    private static boolean joinColumns(List<SqlToken> t, int open, int close) {
        if (open == 0 || !t.get(open - 1).isWord("using") || close == open + 1) {
            return false;
        }
        for (int k = open + 1; k < close; k++) {
            SqlToken tok = t.get(k);
            if ((k - open) % 2 == 1 ? !tok.isName() || tok.isWord("select") || tok.isWord("values")
                    || tok.isWord("table") : !tok.isSymbol(",")) {
                return false;
            }
        }
        return (close - open) % 2 == 0;
    }

    /**
     * Where the FROM lists of a statement are, token by token: per parenthesis depth, whether a query began there
     * and whether its FROM list is open (FROM of a query, not of extract(... FROM ...); JOIN continues it; WHERE,
     * ON, GROUP, ... end it).
     */
    private static final class FromLists {
        private final java.util.BitSet inFrom = new java.util.BitSet();
        private final java.util.BitSet query = new java.util.BitSet();
        /** Per depth: a join's ON condition is being read; the FROM list goes on at the next JOIN or comma. */
        private final java.util.BitSet condition = new java.util.BitSet();
        private int depth;
        /** 1 after MERGE (its USING source is a FROM list), 2 once that list began. */
        private int merge;

        /** Steps over token {@code i}; whether it is a name a FROM list reads (a table, schema or alias, no call). */
        boolean step(List<SqlToken> t, int i) {
            SqlToken tok = t.get(i);
            if (depth == 0 && merge == 0 && tok.isWord("merge") && (i == 0 || t.get(i - 1).isSymbol(")"))) {
                merge = 1; // MERGE, or WITH ... MERGE
            } else if (depth == 0 && merge == 1 && tok.isWord("using")) {
                merge = 2; // MERGE INTO t USING source [AS] s ON ...: the source is read as a FROM item is
                query.set(0);
                inFrom.set(0);
                return false;
            }
            if (tok.isSymbol("(")) {
                depth++;
                inFrom.clear(depth);
                query.clear(depth);
                condition.clear(depth);
            } else if (tok.isSymbol(")")) {
                depth = Math.max(0, depth - 1);
            } else if (startsFromList(t, i, query.get(depth), inFrom.get(depth) || condition.get(depth))
                    || (tok.isSymbol(",") && condition.get(depth))) {
                inFrom.set(depth); // FROM, a JOIN, or the next item after a join's condition
                condition.clear(depth);
            } else if (tok.kind() == SqlToken.Kind.WORD && FROM_END.contains(tok.text())) {
                condition.set(depth, tok.isWord("on") && (inFrom.get(depth) || condition.get(depth)));
                inFrom.clear(depth);
                query.set(depth, query.get(depth) || QUERY_WORDS.contains(tok.text()));
            } else if (tok.kind() == SqlToken.Kind.WORD && QUERY_WORDS.contains(tok.text())) {
                query.set(depth);
            } else {
                boolean name = tok.isName();
                return inFrom.get(depth) && name && !(i + 1 < t.size() && t.get(i + 1).isSymbol("("));
            }
            return false;
        }

        /** Whether a FROM list is open at the current depth. */
        boolean open() {
            return inFrom.get(depth);
        }
    }

    /** Words that begin a statement or query whose FROM (or USING) list may follow at the same depth. */
    private static final Set<String> QUERY_WORDS = Set.of("select", "update", "delete", "values", "table");

    /**
     * Whether the word at {@code i} begins (or continues, for JOIN) a FROM list: FROM of a query at this depth, not
     * the FROM of extract(year FROM d), trim(both FROM s), substring(s FROM 2) or IS DISTINCT FROM.
     */
    private static boolean startsFromList(List<SqlToken> t, int i, boolean queryHere, boolean inFromHere) {
        SqlToken tok = t.get(i);
        if (tok.isWord("join")) {
            return inFromHere;
        }
        return tok.isWord("from") && queryHere && !(i > 0 && t.get(i - 1).isWord("distinct"));
    }

    private static boolean aliasName(SqlToken tok) {
        return tok.kind() == SqlToken.Kind.QUOTED_IDENT || (tok.kind() == SqlToken.Kind.WORD
                && !NOT_ALIASES.contains(tok.text()) && !LIST_END.contains(tok.text()));
    }

    /** The token range inside the parentheses of a WITH query's body starting at {@code i} ({@link #withBody}). */
    private static int[] body(List<SqlToken> t, int i) {
        while (i < t.size() && !t.get(i).isSymbol("(")) {
            i++;
        }
        int depth = 0;
        for (int k = i; k < t.size(); k++) {
            if (t.get(k).isSymbol("(")) {
                depth++;
            } else if (t.get(k).isSymbol(")") && --depth == 0) {
                return new int[] {i + 1, k};
            }
        }
        return new int[] {Math.min(i + 1, t.size()), t.size()};
    }

    /** Whether a WITH query's body starts at {@code i}: {@code (}, {@code [NOT] MATERIALIZED (}. */
    private static boolean withBody(List<SqlToken> t, int i) {
        return t.get(i).isSymbol("(") || t.get(i).isWord("materialized")
                || (t.get(i).isWord("not") && i + 1 < t.size() && t.get(i + 1).isWord("materialized"));
    }

    /**
     * The tokens that name what a FROM list reads at its own depth: table names, their schemas, aliases and column
     * alias lists' names ({@code FROM orders o}, {@code JOIN public.orders AS o}). Reading a table is not passing its
     * whole row anywhere: {@code (SELECT count(*) FROM orders o WHERE ...)} in a select list outputs no row of it.
     */
    static java.util.BitSet fromListNames(List<SqlToken> t) {
        java.util.BitSet names = new java.util.BitSet();
        FromLists from = new FromLists();
        for (int i = 0; i < t.size(); i++) {
            if (from.step(t, i)) {
                names.set(i);
            }
        }
        return names;
    }

    /**
     * The tokens inside the parentheses of {@code count(...)}: a count outputs how many rows or values there are,
     * never one of them ({@code count(o.*)}, {@code count(email)} are no more than a condition on the values, which
     * masking leaves to rules; see the README's known limits).
     */
    static java.util.BitSet countArguments(List<SqlToken> t) {
        java.util.BitSet inside = new java.util.BitSet();
        java.util.ArrayDeque<Integer> counts = new java.util.ArrayDeque<>(); // depths of open count( parentheses
        int depth = 0;
        for (int i = 0; i < t.size(); i++) { // one pass: nested counts must not make it quadratic
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(")) {
                depth++;
                if (i > 0 && t.get(i - 1).isWord("count") && !(i > 1 && t.get(i - 2).isSymbol("."))) {
                    counts.push(depth);
                    continue;
                }
            } else if (tok.isSymbol(")")) {
                if (!counts.isEmpty() && counts.peek() == depth) {
                    counts.pop();
                }
                depth--;
                if (counts.isEmpty()) {
                    continue;
                }
            }
            if (!counts.isEmpty()) {
                inside.set(i);
            }
        }
        return inside;
    }

    /**
     * Whether the word at {@code i} ends a select list: FROM, WHERE, GROUP BY, ... but not the same words inside an
     * expression of it: WITHIN GROUP (percentile_disc(0.5) WITHIN GROUP (ORDER BY email)), IS [NOT] DISTINCT FROM,
     * DISTINCT ON.
     */
    static boolean endsList(List<SqlToken> t, int i) {
        SqlToken tok = t.get(i);
        if (tok.kind() != SqlToken.Kind.WORD || !LIST_END.contains(tok.text())) {
            return false;
        }
        SqlToken before = i > 0 ? t.get(i - 1) : null;
        return before == null || !((tok.isWord("group") && before.isWord("within"))
                || ((tok.isWord("from") || tok.isWord("on")) && before.isWord("distinct")));
    }

    /**
     * Names used by each output item of the main SELECT (or RETURNING) list, without those that only name what a
     * FROM list reads ({@code read}) or what is counted ({@code counted}); null when they cannot be lined up.
     */
    private static List<Item> outputItems(List<SqlToken> t, java.util.BitSet read, java.util.BitSet counted) {
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
        List<int[]> ranges = listItems(t, start, t.size());
        if (ranges == null) {
            return null;
        }
        List<Item> items = new ArrayList<>(ranges.size());
        for (int[] r : ranges) {
            items.add(item(t, r, read, counted, true));
        }
        return items;
    }

    /**
     * The token ranges of the items of a select list that starts at {@code start} (after SELECT; DISTINCT [ON (...)]
     * or ALL skipped) and ends at the first word ending it at its depth, a semicolon or {@code limit}; null when an
     * item is {@code *} or {@code t.*} (more columns than items).
     */
    private static List<int[]> listItems(List<SqlToken> t, int start, int limit) {
        if (start < limit && (t.get(start).isWord("distinct") || t.get(start).isWord("all"))) {
            start++;
            if (start < limit && t.get(start - 1).isWord("distinct") && t.get(start).isWord("on")) {
                start++;
                int d = 0;
                do {
                    if (t.get(start).isSymbol("(")) {
                        d++;
                    } else if (t.get(start).isSymbol(")")) {
                        d--;
                    }
                    start++;
                } while (start < limit && d > 0);
            }
        }
        List<int[]> ranges = new ArrayList<>();
        int itemStart = start;
        int end = limit;
        int depth = 0;
        for (int i = start; i < limit; i++) {
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && tok.isSymbol(",")) {
                ranges.add(new int[] {itemStart, i});
                itemStart = i + 1;
            } else if (depth == 0 && (tok.kind() == SqlToken.Kind.SEMICOLON || endsList(t, i))) {
                end = i;
                break;
            } else if (depth == 0 && tok.isSymbol("*") && (i == itemStart || t.get(i - 1).isSymbol("."))) {
                return null; // SELECT *, SELECT c.*: more columns than items (a * b is a product)
            }
        }
        ranges.add(new int[] {itemStart, end});
        return ranges;
    }

    /**
     * The item of tokens [r[0], r[1]): the names it uses, without those that only name what a FROM list reads
     * ({@code read}), what is counted ({@code counted}) and, with {@code labels}, its label (count(o.id) AS orders
     * names the result column, not a table's row).
     */
    private static Item item(List<SqlToken> t, int[] r, java.util.BitSet read, java.util.BitSet counted,
                             boolean labels) {
        Set<String> names = new HashSet<>();
        for (int i = r[0]; i < r[1]; i++) {
            SqlToken tok = t.get(i);
            if (tok.isName() && !qualifier(t, i)
                    && !read.get(i) && !counted.get(i) && !(labels && label(t, r[0], r[1], i))) {
                names.add(tok.text());
            }
        }
        return new Item(names, r[0], r[1]);
    }

    /**
     * A name followed by '.' qualifies the next name (c.email): it is not a whole-row reference itself, unless what
     * follows is '*' ({@code to_jsonb(c.*)} is the whole row of c).
     */
    private static boolean qualifier(List<SqlToken> t, int i) {
        return i + 1 < t.size() && t.get(i + 1).isSymbol(".") && !(i + 2 < t.size() && t.get(i + 2).isSymbol("*"));
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

    /** The rule for computed output column {@code index} of {@code fieldCount}; null when it reads nothing masked. */
    MaskingRules.ColumnRule ruleFor(int index, int fieldCount, MaskingRules rules) {
        boolean lined = items != null && items.size() == fieldCount;
        Set<String> names = lined ? items.get(index).names() : allNames;
        for (String n : names) {
            MaskingRules.ColumnRule r = derivedFrom.containsKey(n) ? tainted(rules).get(n) : null;
            if (r != null) {
                return r; // the whole row of a subquery or WITH query whose output carries masked values
            }
        }
        MaskingRules.ColumnRule rule = ruleForNames(names, rules);
        if (rule != null || !lined || derivedFrom.isEmpty()) {
            return rule;
        }
        return taintedReference(items.get(index), rules);
    }

    /**
     * The rule of a derived row (subquery, WITH query, function in FROM) whose columns may carry masked values and
     * that the output item may read: through its alias ({@code q.e}), or through a column name that is not
     * qualified, which may be one of its columns ({@code SELECT z FROM (VALUES ((SELECT email ...))) v(z)}, a UNION
     * in a subquery: the server names no table of origin for such columns). Calls and keywords are not columns.
     */
    private MaskingRules.ColumnRule taintedReference(Item item, MaskingRules rules) {
        java.util.Map<String, MaskingRules.ColumnRule> t = tainted(rules);
        if (t.isEmpty()) {
            return null;
        }
        Refs refs = refs(item.from(), item.to(), true);
        for (String q : refs.qualifiers()) {
            if (t.containsKey(q)) {
                MaskingRules.ColumnRule r = qualifiedRule(q, item.from(), item.to(), rules, 0); // q.e
                if (r != null) {
                    return r;
                }
            }
        }
        if (!refs.columns()) {
            return null;
        }
        for (java.util.Map.Entry<String, MaskingRules.ColumnRule> e : t.entrySet()) {
            String name = e.getKey();
            if (withRows.contains(name) && !repeatedDerived.contains(name) && !readByMainQuery(name, item)) {
                continue; // a WITH query read only in a subquery (a condition's, another's) has no column here
            }
            if (!topLevel(derivedFrom.get(name)[0] - 1)) {
                continue; // a row inside a condition's subquery is not output
            }
            // with a name given to two rows, one of them is not told apart (a LATERAL one reading this row may hide
            // behind it): any column name may then be one of this row's
            Set<String> own = repeatedDerived.isEmpty() ? columnNames(name) : null;
            if (own == null) {
                return e.getValue(); // a row the main query reads, whose columns are not all named here
            }
            for (String c : refs.columnNames()) {
                MaskingRules.ColumnRule r = own.contains(c) ? columnRule(name, c, rules, 0) : null;
                if (r != null) {
                    return r; // a column of that row the item may read, judged by the item that makes it
                }
            }
        }
        return null;
    }

    /**
     * The rule of the columns of tainted derived row {@code q} that tokens [from, to) read as {@code q.column}: each
     * judged by the select-list item that makes it ({@link #columnRule}), so {@code s.id} of
     * {@code (SELECT id, email AS e FROM customers) s} carries nothing masked while {@code s.e} does.
     */
    private MaskingRules.ColumnRule qualifiedRule(String q, int from, int to, MaskingRules rules, int depth) {
        for (int i = from; i < to; i++) {
            SqlToken tok = tokens.get(i);
            if (!tok.isName() || !tok.text().equals(q) || !qualifier(tokens, i)) {
                continue;
            }
            MaskingRules.ColumnRule r = i + 2 < to && tokens.get(i + 2).isName()
                    ? columnRule(q, tokens.get(i + 2).text(), rules, depth) : tainted(rules).get(q);
            if (r != null) {
                return r;
            }
        }
        return null;
    }

    /**
     * The rule for column {@code column} of derived row {@code name}: that of the one select-list item making it
     * (the masked columns and whole rows it names, the columns of other derived rows it reads), when it can be told
     * which item that is ({@link #derivedColumn}); else the rule of the whole row, as for any column of it. An item
     * with a column name that is not qualified is judged by the whole row when another derived row it may read
     * carries masked values (the column may be one of that row's).
     */
    private MaskingRules.ColumnRule columnRule(String name, String column, MaskingRules rules, int depth) {
        java.util.Map<String, MaskingRules.ColumnRule> t = tainted(rules);
        MaskingRules.ColumnRule whole = t.get(name);
        if (whole == null || depth >= MAX_COLUMN_DEPTH || derivedFrom.size() > MAX_DERIVED
                || ++columnSteps > MAX_COLUMN_STEPS || repeatedDerived.contains(name) || aliases.containsKey(name)) {
            return whole;
        }
        Item item = derivedColumn(name, column);
        if (item == null) {
            return whole;
        }
        for (String n : item.names()) {
            if (t.containsKey(n)) {
                return t.get(n); // the whole row of a derived row it reads
            }
        }
        MaskingRules.ColumnRule r = ruleForNames(item.names(), rules);
        if (r == null) {
            for (int i = item.from(); i < item.to() && r == null; i++) {
                String q = tokens.get(i).text();
                if (t.containsKey(q) && tokens.get(i).isName() && qualifier(tokens, i)) {
                    r = qualifiedRule(q, i, i + 3, rules, depth + 1);
                }
            }
        }
        if (r == null && otherTainted(name, t) && refs(item.from(), item.to(), true).columns()) {
            return whole;
        }
        return r;
    }

    /**
     * Whether a derived row other than {@code name} may carry masked values and lie where a column name in
     * {@code name}'s select list may reach it: not a row {@code name} is part of (a row's own columns are not
     * visible inside it).
     */
    private boolean otherTainted(String name, java.util.Map<String, MaskingRules.ColumnRule> t) {
        int[] own = derivedFrom.get(name);
        for (String other : t.keySet()) {
            int[] r = derivedFrom.get(other);
            if (!other.equals(name) && !(r[0] <= own[0] && own[1] <= r[1])) {
                return true;
            }
        }
        return false;
    }

    /**
     * The select-list item of derived row {@code name} that makes its column {@code column}: when what makes the
     * row is one SELECT (no UNION, INTERSECT or EXCEPT, no {@code *}, no column names given with its alias) with
     * exactly one item of that output name (its label, or the column a plain reference names); else null.
     */
    private Item derivedColumn(String name, String column) {
        List<int[]> ranges = columnItems(name);
        if (ranges == null) {
            return null;
        }
        int[] match = null;
        for (int[] r : ranges) {
            if (column.equals(outputName(r[0], r[1]))) {
                if (match != null) {
                    return null; // two columns of that name: the server refuses the reference
                }
                match = r;
            }
        }
        return match == null ? null : item(tokens, match, fromNames, counted, true);
    }

    /**
     * The token ranges of the items making derived row {@code name}'s columns, one per column: when what makes the row
     * is one SELECT (no UNION, INTERSECT or EXCEPT, no {@code *}, no column names given with its alias) or a writing
     * query's RETURNING list (no {@code *}); else null.
     */
    private List<int[]> columnItems(String name) {
        int[] range = derivedFrom.get(name);
        int from = range[0];
        int to = range[1];
        if (from >= to || renamesColumns(name, range)) {
            return null;
        }
        int list;
        if (tokens.get(from).isWord("select")) {
            if (StatementClassifier.indexAtDepth(tokens, from, to,
                    tok -> tok.isWord("union") || tok.isWord("intersect") || tok.isWord("except")) >= 0) {
                return null;
            }
            list = from + 1;
        } else if (writingQuery(tokens.get(from))) {
            // INSERT/UPDATE/DELETE/MERGE ... RETURNING: its columns are the RETURNING list's
            list = StatementClassifier.indexAtDepth(tokens, from, to, tok -> tok.isWord("returning")) + 1;
            if (list == 0) {
                return null;
            }
        } else {
            return null;
        }
        return listItems(tokens, list, to);
    }

    /**
     * The names of all of derived row {@code name}'s columns, when the statement tells each ({@link #columnItems}):
     * a label, a plain column reference, or a call the server names after its function ({@code upper(email)} makes
     * column {@code upper}); null when some column gets another name from the server (a constant's, a cast's, an
     * operator's {@code ?column?}, TRIM's {@code btrim}) or the items cannot be told.
     */
    private Set<String> columnNames(String name) {
        if (repeatedDerived.contains(name) || aliases.containsKey(name)) {
            return null; // which row of that name a column is of cannot be told
        }
        List<int[]> ranges = columnItems(name);
        if (ranges == null) {
            return null;
        }
        Set<String> names = new HashSet<>();
        for (int[] r : ranges) {
            String n = outputName(r[0], r[1]);
            if (n == null) {
                n = callName(r[0], r[1]);
            }
            if (n == null && r[1] == r[0] + 1 && (tokens.get(r[0]).kind() == SqlToken.Kind.NUMBER
                    || tokens.get(r[0]).kind() == SqlToken.Kind.STRING)) {
                n = "?column?"; // a constant: whatever its name, it carries nothing masked
            }
            if (n == null) {
                return null;
            }
            names.add(n);
        }
        return names;
    }

    /** Calls the server names otherwise than after the word written: TRIM (btrim), CAST and TREAT (the type's). */
    private static final Set<String> RENAMED_CALLS = Set.of("trim", "cast", "treat", "collation");

    /**
     * The name the server gives the column of an item that is one call, {@code [schema.]function(...)} and nothing
     * after it: the function's name; null for anything else.
     */
    private String callName(int from, int to) {
        int i = from;
        while (i + 2 < to && tokens.get(i).isName() && tokens.get(i + 1).isSymbol(".")) {
            i += 2;
        }
        SqlToken fn = tokens.get(i);
        if (i + 1 >= to || !fn.isName() || !tokens.get(i + 1).isSymbol("(")
                || closing(i + 2, to) != to - 1
                || (fn.kind() == SqlToken.Kind.WORD && RENAMED_CALLS.contains(fn.text()))) {
            return null;
        }
        return fn.text();
    }

    /**
     * The name of the column a select-list item makes, when the statement tells it: its label, or the column of a
     * plain reference ({@code email}, {@code c.email}); null for anything the server names itself (a call, a cast).
     */
    private String outputName(int from, int to) {
        if (to <= from) {
            return null;
        }
        int last = to - 1;
        if (tokens.get(last).isName() && label(tokens, from, to, last)) {
            return tokens.get(last).text();
        }
        if ((to - from) % 2 == 0) {
            return null;
        }
        for (int i = from; i < to; i++) {
            boolean ok = (i - from) % 2 == 0 ? tokens.get(i).isName() : tokens.get(i).isSymbol(".");
            if (!ok) {
                return null;
            }
        }
        return tokens.get(last).text();
    }

    /** Whether derived row {@code name} gets column names of its own: {@code AS s(a, b)}, {@code WITH s(a, b) AS}. */
    private boolean renamesColumns(String name, int[] range) {
        int a = range[1] + 1;
        if (a < tokens.size() && tokens.get(a).isWord("as")) {
            a++;
        }
        if (a + 1 < tokens.size() && tokens.get(a).isName() && tokens.get(a).text().equals(name)
                && tokens.get(a + 1).isSymbol("(")) {
            return true;
        }
        int k = range[0] - 2; // before the '(' of a WITH query's body: [NOT] MATERIALIZED, AS, then name or ')'
        while (k > 0 && (tokens.get(k).isWord("materialized") || tokens.get(k).isWord("not"))) {
            k--;
        }
        return k > 0 && tokens.get(k).isWord("as") && tokens.get(k - 1).isSymbol(")");
    }

    /**
     * Whether the statement mentions WITH query {@code name} where the main query's columns may come from it: outside
     * every parenthesized query (a subquery, a WITH query's body; a parenthesized join is no query), or inside the
     * item itself. Any mention counts (a FROM list's, TABLE name, name.column, a column of that name), but its
     * definition ({@code name [(columns)] AS (...)}) and a column of another row ({@code x.name}).
     */
    private boolean readByMainQuery(String name, Item item) {
        for (int i : withMentions(name)) {
            if (!insideQuery.get(i) || (item.from() <= i && i < item.to())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the derived row of tokens [range[0], range[1]) may read the columns of other rows of its FROM list:
     * anything but a plain subquery (after FROM, JOIN, a comma or a parenthesis) or a WITH query's body, so a
     * LATERAL subquery, a function's arguments, ROWS FROM (...).
     */
    private boolean lateral(int[] range) {
        int open = range[0] - 1;
        if (open < 1 || !tokens.get(open).isSymbol("(")) {
            return true;
        }
        SqlToken before = tokens.get(open - 1);
        return !(before.isSymbol(",") || before.isSymbol("(") || before.isWord("join") || before.isWord("as")
                || before.isWord("materialized") || before.isWord("using")
                || (before.isWord("from") && !(open > 1 && tokens.get(open - 2).isWord("rows"))));
    }

    /** Whether WITH query {@code name} is mentioned (not defined) in tokens [range[0], range[1]). */
    private boolean mentionedIn(String name, int[] range) {
        if (!withRows.contains(name)) {
            return false;
        }
        for (int i : withMentions(name)) {
            if (range[0] <= i && i < range[1]) {
                return true;
            }
        }
        return false;
    }

    /**
     * The token indexes where WITH query {@code name} is mentioned: a FROM list's, TABLE name, name.column, a column
     * of that name; not its definition ({@code name [(columns)] AS (...)}) nor a column of another row
     * ({@code x.name}).
     */
    private List<Integer> withMentions(String name) {
        if (withMentions == null) {
            // once per statement: each WITH query's mentions, and whether each lies inside a parenthesized query
            withMentions = new java.util.HashMap<>();
            insideQuery = new java.util.BitSet();
            int queries = 0;
            java.util.ArrayDeque<Boolean> parens = new java.util.ArrayDeque<>();
            for (int i = 0; i < tokens.size(); i++) {
                SqlToken tok = tokens.get(i);
                if (tok.isSymbol("(")) {
                    boolean query = i + 1 < tokens.size() && (tokens.get(i + 1).isWord("select")
                            || tokens.get(i + 1).isWord("values") || tokens.get(i + 1).isWord("with")
                            || tokens.get(i + 1).isWord("table") || writingQuery(tokens.get(i + 1)));
                    parens.push(query);
                    queries += query ? 1 : 0;
                } else if (tok.isSymbol(")")) {
                    if (!parens.isEmpty() && parens.pop()) {
                        queries--;
                    }
                } else if (tok.isName() && withRows.contains(tok.text())
                        && !(i > 0 && tokens.get(i - 1).isSymbol(".")) && !withDefinition(i)) {
                    withMentions.computeIfAbsent(tok.text(), k -> new ArrayList<>()).add(i);
                    insideQuery.set(i, queries > 0);
                }
            }
        }
        return withMentions.getOrDefault(name, List.of());
    }

    /** The token indexes where each WITH query is mentioned (not defined), made on first use. */
    private java.util.Map<String, List<Integer>> withMentions;
    /** Which of those mentions lie inside a parenthesized query. */
    private java.util.BitSet insideQuery;

    /** Whether the name at {@code i} is a WITH query's: {@code name [(columns)] AS [[NOT] MATERIALIZED] (}. */
    private boolean withDefinition(int i) {
        int a = i + 1;
        if (a < tokens.size() && tokens.get(a).isSymbol("(")) {
            a = closing(a + 1, tokens.size()) + 1; // past the column list
        }
        return a + 1 < tokens.size() && tokens.get(a).isWord("as") && withBody(tokens, a + 1);
    }

    /** Whether token {@code at} (a parenthesis opening a derived row) is outside every other parenthesis. */
    private boolean topLevel(int at) {
        if (topLevelOpens == null) {
            topLevelOpens = new java.util.BitSet();
            int depth = 0;
            for (int i = 0; i < tokens.size(); i++) {
                if (tokens.get(i).isSymbol("(")) {
                    if (depth++ == 0) {
                        topLevelOpens.set(i);
                    }
                } else if (tokens.get(i).isSymbol(")")) {
                    depth--;
                }
            }
        }
        return topLevelOpens.get(at);
    }

    private java.util.BitSet topLevelOpens;

    /**
     * The derived rows whose columns may carry masked values, each with a rule for them: what makes the row outputs
     * (its select lists and VALUES, or a function's arguments) names a masked column or a whole row of a table with
     * masked columns, or reads a derived row that may (by alias, or by a column name when that row is inside it).
     * What only filters or orders (WHERE, JOIN ... ON, ORDER BY) carries nothing out.
     */
    private java.util.Map<String, MaskingRules.ColumnRule> tainted(MaskingRules rules) {
        if (tainted != null && taintedFor == rules) {
            return tainted;
        }
        taintedFor = rules;
        java.util.Map<String, MaskingRules.ColumnRule> found = new java.util.HashMap<>();
        if (derivedFrom.size() > MAX_DERIVED) {
            // more derived rows than any hand-written query has: no fixpoint over them (it grows with their square
            // and runs on an event loop); each is taken to carry whatever the statement reads
            MaskingRules.ColumnRule any = ruleForNames(allNames, rules);
            if (any != null) {
                derivedFrom.keySet().forEach(name -> found.put(name, any));
            }
            tainted = found;
            return found;
        }
        java.util.Map<String, Refs> outputs = new java.util.HashMap<>();
        derivedFrom.forEach((name, range) -> outputs.put(name, refs(range[0], range[1], false)));
        boolean changed = true;
        while (changed) {
            changed = false;
            for (java.util.Map.Entry<String, int[]> d : derivedFrom.entrySet()) {
                if (found.containsKey(d.getKey())) {
                    continue;
                }
                Refs out = outputs.get(d.getKey());
                MaskingRules.ColumnRule r = ruleForNames(out.names(), rules);
                for (String n : out.qualifiersAndNames()) {
                    if (r == null && found.containsKey(n)) {
                        r = found.get(n);
                    }
                }
                if (r == null && out.columns()) {
                    // a column name may be one of a row's inside it, or of a WITH query it reads (by name, anywhere
                    // in it: WITH q AS (SELECT name FROM r), (SELECT name FROM r) s), or, for a LATERAL subquery or
                    // a function in FROM, one of any other row's (FROM a, LATERAL (SELECT e AS x) b)
                    int[] range = d.getValue();
                    boolean lateral = lateral(range);
                    for (java.util.Map.Entry<String, MaskingRules.ColumnRule> f : found.entrySet()) {
                        int[] inner = derivedFrom.get(f.getKey());
                        boolean inside = inner[0] >= range[0] && inner[1] <= range[1];
                        boolean around = inner[0] <= range[0] && range[1] <= inner[1];
                        if (inside || mentionedIn(f.getKey(), range) || (lateral && !around)) {
                            r = f.getValue();
                            break;
                        }
                    }
                }
                if (r != null) {
                    found.put(d.getKey(), r);
                    changed = true;
                }
            }
        }
        tainted = found;
        return found;
    }

    /**
     * What tokens [from, to) output: their names (qualifiers left out), the qualifiers they use, and whether some name
     * may be a column (not a call, keyword, type after {@code ::}, qualified column name or, for an output item, its
     * label). With {@code item} false the range makes a derived row: only its select lists and VALUES count, unless
     * it holds neither (a function's arguments), then all of it.
     */
    private Refs refs(int from, int to, boolean item) {
        Set<String> names = new HashSet<>();
        Set<String> qualifiers = new HashSet<>();
        Set<String> columnNames = new HashSet<>();
        boolean columns = false;
        boolean writes = !item && from < to && writingQuery(tokens.get(from));
        boolean query = !item && from < to && (tokens.get(from).isWord("select") || tokens.get(from).isWord("values")
                || tokens.get(from).isWord("with") || tokens.get(from).isSymbol("(") || writes);
        boolean collecting = !query;
        boolean star = false;
        // per enclosing parenthesis: whether it was collecting, and whether its select list is the one at this depth
        java.util.BitSet outer = new java.util.BitSet();
        java.util.BitSet outerList = new java.util.BitSet();
        boolean listHere = false; // a select list or VALUES began at this depth (its end words count only here)
        int depth = 0;
        for (int i = from; i < to; i++) {
            SqlToken tok = tokens.get(i);
            if (tok.isSymbol("(")) {
                outer.set(depth, collecting);
                outerList.set(depth++, listHere);
                listHere = false; // (ORDER BY email) of WITHIN GROUP or OVER is part of the list it is in
            } else if (tok.isSymbol(")")) {
                if (depth > 0) {
                    collecting = outer.get(--depth);
                    listHere = outerList.get(depth);
                }
            } else if (query && tok.kind() == SqlToken.Kind.WORD) {
                if (tok.isWord("select") || tok.isWord("values") || tok.isWord("returning")) {
                    // a select list (also of a subquery in it or in a condition), VALUES, what a writing WITH query
                    // (or one inside it) returns
                    collecting = true;
                    listHere = true;
                } else if (listHere && endsList(tokens, i)) {
                    collecting = false;
                    listHere = false;
                }
            }
            if (query && tok.isWord("table") && i + 1 < to && (i == from || tokens.get(i - 1).isSymbol("(")
                    || tokens.get(i - 1).isWord("union") || tokens.get(i - 1).isWord("intersect")
                    || tokens.get(i - 1).isWord("except") || tokens.get(i - 1).isWord("all")
                    || tokens.get(i - 1).isWord("distinct"))) {
                // TABLE name (a UNION's part, a subquery): the whole rows of the table, as SELECT * FROM name
                int n = i + 1;
                while (n + 2 < to && tokens.get(n + 1).isSymbol(".")) {
                    n += 2;
                }
                if (tokens.get(n).isName()) {
                    names.add(tokens.get(n).text());
                    columns = true;
                }
                i = n;
                continue;
            }
            if (collecting && query && tok.isSymbol("*") && i > from && (tokens.get(i - 1).isSymbol(".")
                    || tokens.get(i - 1).isWord("select") || tokens.get(i - 1).isWord("returning")
                    || tokens.get(i - 1).isSymbol(",")
                    || tokens.get(i - 1).isWord("distinct") || tokens.get(i - 1).isWord("all"))) {
                star = true; // SELECT * / t.*: the whole rows of what it reads
            }
            if (!collecting || counted.get(i)
                    || (tok.kind() != SqlToken.Kind.WORD && tok.kind() != SqlToken.Kind.QUOTED_IDENT)) {
                continue;
            }
            if (qualifier(tokens, i)) {
                qualifiers.add(tok.text());
                continue;
            }
            names.add(tok.text());
            boolean column = !(i + 1 < to && tokens.get(i + 1).isSymbol("("))
                    && !(i > from && (tokens.get(i - 1).isSymbol(".") || tokens.get(i - 1).isSymbol("::")))
                    && !(tok.kind() == SqlToken.Kind.WORD && NOT_COLUMNS.contains(tok.text()))
                    && !(item && label(tokens, from, to, i));
            if (column) {
                columns = true;
                columnNames.add(tok.text());
            }
        }
        if (star) {
            // the tables (and aliases) it reads count as whole rows it outputs
            for (int i = fromNames.nextSetBit(from); i >= 0 && i < to; i = fromNames.nextSetBit(i + 1)) {
                names.add(tokens.get(i).text());
            }
            if (query && writes(tokens, from, to)) {
                // RETURNING * of a table written (its name is in no FROM list): every name the range holds
                for (int i = from; i < to; i++) {
                    if (tokens.get(i).isName()) {
                        names.add(tokens.get(i).text());
                    }
                }
                columns = true;
            }
        }
        return new Refs(names, qualifiers, columns, columnNames);
    }

    /** Whether a query starting with {@code first} writes: a WITH query's body INSERT, UPDATE, DELETE or MERGE. */
    private static boolean writingQuery(SqlToken first) {
        return first.isWord("insert") || first.isWord("update") || first.isWord("delete") || first.isWord("merge");
    }

    /** Whether tokens [from, to) hold a writing statement (or the word of one: FOR UPDATE counts too). */
    static boolean writes(List<SqlToken> t, int from, int to) {
        for (int i = from; i < to; i++) {
            if (t.get(i).kind() == SqlToken.Kind.WORD && writingQuery(t.get(i))) {
                return true;
            }
        }
        return false;
    }

    /**
     * What a range reads: {@code names} all names but qualifiers, {@code columnNames} those that may be columns,
     * {@code columns} whether some name may be a column (also a whole row's column that has no name here: RETURNING *).
     */
    private record Refs(Set<String> names, Set<String> qualifiers, boolean columns, Set<String> columnNames) {
        Set<String> qualifiersAndNames() {
            Set<String> all = new HashSet<>(names);
            all.addAll(qualifiers);
            return all;
        }
    }

    /** The output name of an item ({@code count(*) AS n}, {@code count(*) n}): its last word, after AS or a value. */
    private static boolean label(List<SqlToken> tokens, int from, int to, int i) {
        if (i != to - 1 || i == from) {
            return false;
        }
        SqlToken before = tokens.get(i - 1);
        // not after a keyword: NOT flag, x IS NULL, x AT TIME ZONE zone end in an operand, not a label
        return before.isWord("as") || before.isSymbol(")") || before.kind() == SqlToken.Kind.STRING
                || before.kind() == SqlToken.Kind.NUMBER || before.kind() == SqlToken.Kind.QUOTED_IDENT
                || (before.kind() == SqlToken.Kind.WORD && !NOT_COLUMNS.contains(before.text()));
    }

    /** Words of an expression that are not column names. */
    private static final Set<String> NOT_COLUMNS = Set.of("as", "and", "or", "not", "is", "null", "true", "false",
            "case", "when", "then", "else", "end", "distinct", "all", "any", "some", "in", "between", "like", "ilike",
            "similar", "to", "escape", "exists", "over", "partition", "by", "order", "asc", "desc", "nulls", "first",
            "last", "filter", "where", "within", "group", "interval", "current_date", "current_time",
            "current_timestamp", "localtime", "localtimestamp", "current_user", "session_user", "user", "at", "time",
            "zone", "collate", "array", "row", "isnull", "notnull", "rows", "range", "unbounded", "preceding",
            "following", "current", "default", "select", "from", "limit");

    /** The rule of a masked column {@code names} mention, or of a table with masked columns they name whole. */
    private MaskingRules.ColumnRule ruleForNames(Set<String> names, MaskingRules rules) {
        for (MaskingRules.ColumnRule rule : rules.columns()) {
            for (QualifiedName table : tables) {
                for (QualifiedName as : lineOf(table, rules.defaultSchema(), ancestry)) {
                    if (!rule.matchesTable(as.schema(), as.name())) {
                        continue;
                    }
                    for (String n : names) {
                        if (rule.matches(as.schema(), as.name(), n)) {
                            return rule; // a masked column
                        }
                        if ((n.equals(table.name()) || aliasOf(n, table) || renamedColumnOf(n, table))
                                && rule.mayBeInRowOf(as.schema(), as.name())) {
                            return rule; // the whole row of a table with masked columns, or a column renamed
                        }
                    }
                }
            }
            if (tables.isEmpty() && names.stream().anyMatch(rule::matchesColumnName)) {
                return rule;
            }
        }
        return viewRuleForNames(names, rules);
    }

    /**
     * The rule of a masked table column that a view the statement reads may show under a name {@code names}
     * mention (renamed, or computed: {@code lower(contact)} of a view's {@code email AS contact}), or through the
     * view's whole row ({@link MaskingRules#viewColumnRule}, as for the view's columns the server names).
     */
    private MaskingRules.ColumnRule viewRuleForNames(Set<String> names, MaskingRules rules) {
        for (QualifiedName table : tables) {
            QualifiedName resolved = table.inSchema(rules.defaultSchema());
            Ancestry.ViewColumns view = ancestry.viewColumns(resolved.schema(), resolved.name());
            if (view == null) {
                continue;
            }
            for (String n : names) {
                boolean wholeRow = n.equals(table.name()) || aliasOf(n, table);
                if (wholeRow || view.names().contains(n)) {
                    MaskingRules.ColumnRule r = viewColumnRule(view, wholeRow ? null : n, rules, ancestry);
                    if (r != null) {
                        return r;
                    }
                }
            }
        }
        return null;
    }

    /**
     * The rule of a view's column: what the view's definition computes it from ({@link #viewDefinitionRule}); without
     * a definition, and for the view's whole row ({@code column} null), {@link MaskingRules#viewColumnRule} by the
     * table columns it reads (each ruled with its table's lineage, {@link #lineOf}).
     */
    static MaskingRules.ColumnRule viewColumnRule(Ancestry.ViewColumns view, String column, MaskingRules rules,
                                                  Ancestry ancestry) {
        if (column != null && view.definition() != null) {
            return viewDefinitionRule(view, column, rules, ancestry);
        }
        return MaskingRules.viewColumnRule(column, view.sources(), Ancestry.ViewColumns.Source::column, src -> {
            for (QualifiedName as : lineOf(src.table(), rules.defaultSchema(), ancestry)) {
                MaskingRules.ColumnRule rule = rules.ruleFor(as.schema(), as.name(), src.column());
                if (rule != null) {
                    return rule;
                }
            }
            return null;
        });
    }

    /**
     * The rule of a view's column by the view's definition, read as any statement's output list is (the names each
     * output item uses, a masked column renamed {@code email AS name} too; when the items cannot be lined up with the
     * columns, as for a UNION, all the names of the definition), worked out once per view and rules; null when the
     * definition is unknown or computes that column from nothing masked.
     */
    static MaskingRules.ColumnRule viewDefinitionRule(Ancestry.ViewColumns view, String column, MaskingRules rules,
                                                      Ancestry ancestry) {
        if (view.definition() == null) {
            return null;
        }
        java.util.Set<Ancestry.ViewColumns> reading = READING_DEFINITIONS.get();
        if (!reading.add(view)) {
            // its definition reads (under a name resolved alike) the view itself: any masked column it reads
            return viewColumnRule(view, null, rules, ancestry);
        }
        try {
            return view.<java.util.Map<String, MaskingRules.ColumnRule>>memo(rules,
                    v -> definitionRules(v, rules, ancestry)).get(column);
        } finally {
            reading.remove(view);
        }
    }

    /** The views whose definitions this thread is reading (views over views), to stop at a cycle of names. */
    private static final ThreadLocal<java.util.Set<Ancestry.ViewColumns>> READING_DEFINITIONS =
            ThreadLocal.withInitial(() -> java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>()));

    private static java.util.Map<String, MaskingRules.ColumnRule> definitionRules(Ancestry.ViewColumns v,
                                                                                 MaskingRules rules,
                                                                                 Ancestry ancestry) {
        String definition = v.definition().strip();
        if (definition.endsWith(";")) {
            definition = definition.substring(0, definition.length() - 1);
        }
        ExpressionLineage lineage = of(io.dbwarden.proxy.sql.SqlLexer.tokenize(definition, true), ancestry);
        java.util.Map<String, MaskingRules.ColumnRule> rulesByColumn = new java.util.HashMap<>();
        List<String> columns = v.columns();
        for (int i = 0; i < columns.size(); i++) {
            MaskingRules.ColumnRule r = lineage.ruleFor(i, columns.size(), rules);
            if (r != null) {
                rulesByColumn.putIfAbsent(columns.get(i), r);
            }
        }
        return rulesByColumn;
    }

    /**
     * The table whose rows output column {@code index} is, as JSON objects keyed by the table's column names: the item
     * is exactly {@code row_to_json(c)}, {@code to_json(c)}, {@code to_jsonb(c)}, {@code json_agg(c)} or
     * {@code jsonb_agg(c)} of a table or its alias {@code c} (optionally {@code c.*}, a pretty-print flag, a cast to
     * json, jsonb or text and a label); null for anything else, whose JSON may hold masked values under any key.
     */
    QualifiedName rowAsJson(int index, int fieldCount) {
        return rowsIn(index, fieldCount, true);
    }

    /**
     * The table whose own rows output column {@code index} is an array of: the item is exactly {@code array_agg(c)}
     * of a table or its alias {@code c} (optionally {@code c.*}, ORDER BY, FILTER and a label); null for anything
     * else. Only the server can tell that the elements are of that table's row type (the column's type).
     */
    QualifiedName rowsAsArray(int index, int fieldCount) {
        return rowsIn(index, fieldCount, false);
    }

    /** @param json whether the function is one of {@link #ROW_TO_JSON} (else array_agg) */
    private QualifiedName rowsIn(int index, int fieldCount, boolean json) {
        if (items == null || items.size() != fieldCount) {
            return null;
        }
        Item item = items.get(index);
        int i = item.from();
        int to = item.to();
        if (i + 3 >= to || tokens.get(i).kind() != SqlToken.Kind.WORD || !tokens.get(i + 1).isSymbol("(")
                || !(json ? ROW_TO_JSON.contains(tokens.get(i).text()) : tokens.get(i).isWord("array_agg"))) {
            return null;
        }
        SqlToken row = tokens.get(i + 2);
        if (row.kind() != SqlToken.Kind.WORD && row.kind() != SqlToken.Kind.QUOTED_IDENT) {
            return null;
        }
        i += 3;
        if (i + 1 < to && tokens.get(i).isSymbol(".") && tokens.get(i + 1).isSymbol("*")) {
            i += 2;
        }
        if (json && i + 1 < to && tokens.get(i).isSymbol(",")
                && (tokens.get(i + 1).isWord("true") || tokens.get(i + 1).isWord("false"))) {
            i += 2; // row_to_json(c, true)
        }
        if (i + 1 < to && tokens.get(i).isWord("order") && tokens.get(i + 1).isWord("by")) {
            i = closing(i + 2, to); // json_agg(c ORDER BY c.id): the order of the elements, not their content
        }
        if (i >= to || !tokens.get(i).isSymbol(")")) {
            return null;
        }
        i++;
        if (i + 1 < to && tokens.get(i).isWord("filter") && tokens.get(i + 1).isSymbol("(")) {
            i = closing(i + 2, to) + 1; // json_agg(c) FILTER (WHERE ...): which rows, not what they hold
        }
        if (json && i + 1 < to && tokens.get(i).isSymbol("::") && (tokens.get(i + 1).isWord("json")
                || tokens.get(i + 1).isWord("jsonb") || tokens.get(i + 1).isWord("text"))) {
            i += 2;
        }
        if (i < to && tokens.get(i).isWord("as")) {
            i++;
        }
        if (i < to && tokens.get(i).isName()) {
            i++;
        }
        if (i != to || derivedFrom.containsKey(row.text())) {
            return null;
        }
        QualifiedName table = aliases.get(row.text());
        if (table != null) {
            return table;
        }
        return tables.stream().filter(tb -> tb.name().equals(row.text())).findFirst().orElse(null);
    }

    /** The index of the ')' closing the parenthesis open before {@code from}, or {@code to} when there is none. */
    private int closing(int from, int to) {
        int depth = 0;
        for (int i = from; i < to; i++) {
            if (tokens.get(i).isSymbol("(")) {
                depth++;
            } else if (tokens.get(i).isSymbol(")") && depth-- == 0) {
                return i;
            }
        }
        return to;
    }
}
