package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.Relocation;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementClassifier;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Live masking as a result filter. Statements of exempt identities (or with no masking rules) are not looked at;
 * for the others a {@link MaskingHandler} masks each result. DDL that runs through the proxy drops the catalog
 * cache so that column names are looked up again.
 */
public final class MaskingFilter implements ResultFilter, ExecutionListener, StatementFilter {
    /** Statements that change definitions, as their literal-free text starts. */
    private static final List<String> DDL = List.of("create ", "alter ", "drop ", "comment ");

    private final Catalog catalog;
    private volatile MaskingRules rules;
    /** Times the rules were replaced (written in {@link #update} only, which is synchronized). */
    private volatile long rulesVersion;

    public MaskingFilter(MaskingRules rules, Catalog catalog) {
        this(rules, catalog, s -> List.of());
    }

    /**
     * @param parsedTables the tables the full SQL parser found in a statement (the policy filter's analysis, empty
     *                     when it has none): what a statement reads is the union of these and the tables the quick
     *                     token classifier finds, so a shape one of them misses does not hide a masked table
     */
    public MaskingFilter(MaskingRules rules, Catalog catalog,
                         java.util.function.Function<io.dbwarden.proxy.filter.StatementInfo, List<
                                 io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>> parsedTables) {
        this.rules = rules;
        this.catalog = catalog;
        this.parsedTables = parsedTables;
    }

    private final java.util.function.Function<io.dbwarden.proxy.filter.StatementInfo,
            List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>> parsedTables;

    /** The tables a statement reads: the quick classifier's (of {@code tokens}) and the full parser's (of {@code s}). */
    static List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> tablesOf(List<SqlToken> tokens,
            List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> parsed) {
        List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> quick = StatementClassifier.classify(tokens).tables();
        if (parsed.isEmpty()) {
            return quick;
        }
        java.util.LinkedHashSet<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> all =
                new java.util.LinkedHashSet<>(quick);
        all.addAll(parsed);
        return List.copyOf(all);
    }

    /** The rules in force. */
    public MaskingRules rules() {
        return rules;
    }

    public synchronized void update(MaskingRules newRules) {
        this.rules = newRules;
        rulesVersion++; // after the rules: a version read first never stamps a verdict of rules older than it
        catalog.invalidate();
    }

    /**
     * The rules' version, and with column rules the version of the graph of partitions the copy and DDL checks
     * consult (-1 while none is loaded).
     */
    @Override
    public long version() {
        long seq = rulesVersion << 32;
        if (rules.columns().isEmpty()) {
            return seq;
        }
        RelationGraph g = catalog.graph();
        Ancestry current = g.current();
        return current == null ? -1 : seq + g.version(current);
    }

    @Override
    public boolean active() {
        return !rules.isEmpty();
    }

    /**
     * Server messages (errors, notices) can carry stored values the server-side code put there unquoted
     * ({@code RAISE NOTICE '%', email}): the detectors mask what they recognise in them, as in result values.
     */
    @Override
    public String maskMessage(String text) {
        MaskingRules r = rules;
        return text == null || r.detectors().isEmpty() ? text : r.detect(text, d -> { }, true);
    }

    @Override
    public ResultHandler forStatement(StatementContext context) {
        MaskingRules r = rules;
        return r.isEmpty() ? null : new MaskingHandler(r, catalog, context, parsedTables.apply(context.runs()));
    }

    /**
     * COPY ... TO STDOUT rows are masked like query rows, in text, CSV and binary format. A COPY TO whose stream the
     * proxy cannot read back exactly (ENCODING, unusual options) is blocked while results are masked for the
     * identity, rather than let unmasked data out.
     */
    @Override
    public CompletionStage<Verdict> onStatement(StatementContext context) {
        if (rules.isEmpty()) {
            return Verdict.allowNow();
        }
        CompletionStage<Void> inheritance = rules.columns().isEmpty() ? null : catalog.ensureInheritance();
        if (inheritance == null) {
            return decide(context, catalog.ancestry());
        }
        // the graph of partitions is not loaded yet: wait for it only when the copy checks ask about a table
        boolean[] asked = {false};
        CompletionStage<Verdict> without = decide(context, (schema, table) -> {
            asked[0] = true;
            return List.of();
        });
        if (!asked[0]) {
            return without;
        }
        return inheritance.handle((v, err) -> err).thenCompose(err -> err == null ? decide(context, catalog.ancestry())
                : CompletableFuture.completedFuture(Verdict.deny(null, "masking-catalog",
                        "table partitions could not be looked up", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                                "dbwarden: results are masked for this identity, and the proxy could not look up "
                                        + "which tables are partitions of masked ones", null,
                                "Retry; the proxy's catalog connection to the database is failing."))));
    }

    /** The checks, synchronous: ancestry tells which tables are partitions or children of others. */
    private CompletionStage<Verdict> decide(StatementContext context, Ancestry ancestry) {
        String code = rules.columns().isEmpty() ? null : definesCode(context.statement().normalized());
        if (code != null) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-code",
                    code + " while results are masked", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: results are masked for this identity, and " + code + " runs queries the proxy "
                                    + "cannot see into: it could return masked values under other names, raise them "
                                    + "in messages or store them elsewhere", null,
                            "Define server code through an identity without masking (a reviewed migration); "
                                    + "calling functions that exist is fine.")));
        }
        String uncovers = rules.columns().isEmpty() || !context.statement().normalized().startsWith("alter ") ? null
                : MaskingDdl.uncovers(Relocation.of(context.statement().tokens()), rules, ancestry);
        if (uncovers != null) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-ddl",
                    "DDL that takes columns out of masking rules", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: this statement " + uncovers + ", and results are masked for this identity: "
                                    + "the values would be read unmasked under the new name", null,
                            "Change masked tables through an identity without masking (a reviewed migration), "
                                    + "together with the policy's masking rules.")));
        }
        if (readsColumnStatistics(context.statement()) || readsColumnStatistics(context.runs())) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-statistics",
                    "column statistics while results are masked", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: column statistics (pg_stats, pg_statistic, pg_stats_ext) hold sample values "
                                    + "of masked columns, and results are masked for this identity", null,
                            "Query the tables themselves; their masked columns come out masked.")));
        }
        if (runsUnseenPreparedStatement(context)) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-unknown-prepared",
                    "prepared statement the proxy cannot see into", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: results are masked for this identity, and this EXECUTE runs a prepared "
                                    + "statement the proxy did not see prepared (or inside another statement), so it "
                                    + "cannot tell whether it copies masked values", null,
                            "PREPARE the statement through the proxy and EXECUTE it on its own.")));
        }
        // what runs: for EXECUTE of a statement prepared through the proxy, the prepared statement
        MaskingRules.ColumnRule copied = copiesMaskedValues(context.runs(), rules, ancestry,
                parsedTables.apply(context.runs()));
        if (copied != null) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-copy",
                    "writes values of masked columns elsewhere", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: this statement would write values of masked columns (rule \"" + copied.name()
                                    + "\") where they are no longer masked, and results are masked for this identity",
                            null, "Select the values (they come out masked), or write them into the masked column "
                                    + "itself; copies into other tables or columns need an identity without masking.")));
        }
        MaskingRules.ColumnRule sent = sendsMaskedValues(context.runs(), rules, ancestry);
        if (sent != null) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-copy",
                    "sends values of masked columns past masking", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: this statement passes values read from a table with masked columns (rule \""
                                    + sent.name() + "\") to a function whose arguments leave the result path "
                                    + "(notification payloads, large objects, settings), and results are masked "
                                    + "for this "
                                    + "identity", null, "Select the values instead (they come out masked); "
                                    + "literal and parameter arguments are fine.")));
        }
        if (!isCopyOut(context.statement().tokens()) || CopyFormat.parse(context.statement()) != null) {
            return Verdict.allowNow();
        }
        return CompletableFuture.completedFuture(Verdict.deny(null, "masking-copy-out",
                "COPY TO in a format the proxy cannot mask", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: this COPY ... TO cannot be masked (ENCODING or unusual options), "
                                + "and results are masked for this identity",
                        null, "Use COPY ... TO STDOUT in text, CSV or binary format without ENCODING (its rows are "
                                + "masked), or SELECT.")));
    }

    /**
     * EXECUTE of a name the session did not prepare through the proxy, or an EXECUTE inside another statement
     * (CREATE TABLE ... AS EXECUTE, EXPLAIN ANALYZE EXECUTE), whose effect the proxy cannot judge.
     */
    static boolean runsUnseenPreparedStatement(StatementContext context) {
        String n = context.runs().normalized();
        if (SqlText.startsWithWord(n, "execute")) {
            return true; // unresolved: a resolved EXECUTE runs the prepared statement's own text
        }
        if (!n.contains("execute")) {
            return false;
        }
        List<SqlToken> t = context.runs().tokens();
        for (int i = 1; i < t.size(); i++) {
            if (t.get(i).isWord("execute") && (t.get(i - 1).isWord("as") || t.get(0).isWord("explain"))) {
                return true;
            }
        }
        return false;
    }

    /** A view stores no values: reading it masks what it shows from masked columns (materialized views do store). */
    private static final java.util.regex.Pattern PLAIN_VIEW = java.util.regex.Pattern.compile(
            "create (or replace )?((temp|temporary) )?(recursive )?view ");

    /**
     * INSERT ... SELECT / VALUES (subquery), CREATE TABLE ... AS, SELECT ... INTO, MERGE, and UPDATE ... SET
     * other_column = f(masked column): the rule of a masked column whose values the statement would store where
     * masking no longer applies, or null. Reads in WHERE, JOIN or subquery conditions are not copies; an UPDATE that
     * sets a masked column from itself (SET email = lower(email)) keeps the value masked.
     */
    static MaskingRules.ColumnRule copiesMaskedValues(io.dbwarden.proxy.filter.StatementInfo statement,
                                                      MaskingRules rules, Ancestry ancestry,
                                                      List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>
                                                              parsed) {
        io.dbwarden.proxy.filter.StatementInfo explained = explainedAndRun(statement);
        if (explained != null) {
            statement = explained; // EXPLAIN ANALYZE runs the statement it explains
        }
        String n = statement.normalized();
        boolean candidate = n.startsWith("insert") || n.startsWith("update") || n.startsWith("merge")
                || (n.startsWith("create") && SqlText.containsWord(n, "as") && !PLAIN_VIEW.matcher(n).lookingAt())
                || n.startsWith("with") || (n.startsWith("select") && SqlText.containsWord(n, "into"));
        if (!candidate || rules.columns().isEmpty()
                || (n.startsWith("insert") && !n.contains("select") && !n.contains("table"))) {
            return null; // (an INSERT of literals only, however long, is not lexed again here)
        }
        List<SqlToken> t = statement.tokens();
        StatementClassifier.Result c = StatementClassifier.classify(t);
        List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> tables = tablesOf(t, explained != null
                ? List.of() : parsed); // the parser's tables are of the statement as sent, not of what EXPLAIN runs
        boolean writes = c.kinds().contains(io.dbwarden.api.v1alpha1.StatementKind.INSERT)
                || c.kinds().contains(io.dbwarden.api.v1alpha1.StatementKind.UPDATE)
                || c.kinds().contains(io.dbwarden.api.v1alpha1.StatementKind.MERGE)
                || c.kinds().contains(io.dbwarden.api.v1alpha1.StatementKind.CREATE);
        if (!writes || ExpressionLineage.withTemporaryViews(tables, ancestry).stream()
                .noneMatch(table -> mayHoldMaskedColumns(table, rules, ancestry))) {
            return null; // no table with masked columns is named at all, nor read through a view
        }
        if (!t.getFirst().isWord("with")) {
            return writtenBy(t, 0, c, tables, rules, ancestry);
        }
        List<int[]> parts = StatementClassifier.withParts(t, 0, t.size());
        if (parts.isEmpty() || parts.getLast()[0] < 0) {
            // parts not told apart: every masked column the statement names counts
            return ExpressionLineage.of(t, tables, ancestry).ruleFor(0, -1, rules);
        }
        int main = parts.getLast()[0];
        for (int[] body : parts.subList(0, parts.size() - 1)) {
            if (body[0] >= body[1]) {
                continue;
            }
            SqlToken first = t.get(body[0]);
            if (first.isWord("insert") || first.isWord("update") || first.isWord("merge")) {
                // a WITH query that writes, judged as the statement it is, with the WITH list around it (it may read
                // the other WITH queries; not itself, so its own body is left empty there): WITH ... <body>
                List<SqlToken> alone = new java.util.ArrayList<>(main);
                alone.addAll(t.subList(0, body[0]));
                alone.addAll(t.subList(body[1], main));
                int at = alone.size();
                alone.addAll(t.subList(body[0], body[1]));
                MaskingRules.ColumnRule r = writtenBy(alone, at, c, tables, rules, ancestry);
                if (r != null) {
                    return r;
                }
            } else if (!first.isWord("select") && !first.isWord("values") && !first.isWord("delete")
                    && !first.isWord("table") && ExpressionLineage.writes(t, body[0], body[1])) {
                // one that writes inside (its own WITH queries, parentheses): every masked column it names counts
                return ExpressionLineage.of(t, tables, ancestry).ruleFor(0, -1, rules);
            }
        }
        String head = t.get(main).text();
        if (head.equals("delete") || head.equals("values") || head.equals("table")
                || (head.equals("select") && !StatementClassifier.hasWordAtDepth(t, main, t.size(), "into"))) {
            return null; // the main statement stores nothing: what it returns goes to the client, masked there
        }
        return writtenBy(t, main, c, tables, rules, ancestry);
    }

    /**
     * What the statement beginning at {@code main} (after WITH queries when {@code main > 0}) writes: the rule of a
     * masked column whose values it stores where masking no longer applies, or null.
     */
    private static MaskingRules.ColumnRule writtenBy(List<SqlToken> t, int main, StatementClassifier.Result c,
                                                     List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>
                                                             tables,
                                                     MaskingRules rules, Ancestry ancestry) {
        String head = t.get(main).text();
        if (head.equals("update")) {
            return updateCopies(t, main, c, tables, rules, ancestry);
        }
        if (head.equals("insert") || head.equals("merge")) {
            // what RETURNING lists comes back to the client (masked there), it is not written
            int returning = StatementClassifier.indexAtDepth(t, 0, t.size(), tok -> tok.isWord("returning"));
            if (returning >= 0) {
                t = t.subList(0, returning);
            }
        }
        if (head.equals("merge")) {
            return mergeCopies(t, main, tables, rules, ancestry);
        }
        if (head.equals("insert")) {
            // ON CONFLICT ... DO UPDATE SET column = expression: written like UPDATE's, into the INSERT's table
            List<SqlToken> all = t;
            int conflict = StatementClassifier.indexAtDepth(all, main, all.size(), tok -> tok.isWord("conflict"));
            if (conflict > 0 && all.get(conflict - 1).isWord("on")) {
                int set = StatementClassifier.indexAtDepth(all, conflict, all.size(), tok -> tok.isWord("set"));
                var target = all.size() > main + 2 && all.get(main + 1).isWord("into")
                        ? qualifiedName(all, main + 2) : null;
                if (set >= 0) {
                    int where = StatementClassifier.indexAtDepth(all, set + 1, all.size(), tok -> tok.isWord("where"));
                    List<Write> updated = assignments(all, set + 1, where < 0 ? all.size() : where);
                    MaskingRules.ColumnRule upserted = target == null
                            ? ExpressionLineage.of(all, tables, ancestry).ruleFor(0, -1, rules)
                            : writtenMaskedValues(all, tables, target, updated, rules, ancestry);
                    if (upserted != null) {
                        return upserted;
                    }
                }
                t = all.subList(0, conflict - 1); // what the INSERT itself writes
            }
        }
        if (head.equals("insert") && !StatementClassifier.hasWordAtDepth(t, main, t.size(), "select")) {
            // INSERT ... VALUES: literals, unless a subquery in the values reads a masked table
            return hasSubquery(t.subList(main, t.size()))
                    ? ExpressionLineage.of(t, tables, ancestry).anyOutputRule(rules) : null;
        }
        return ExpressionLineage.of(t, tables, ancestry).anyOutputRule(rules);
    }

    /**
     * Whether a rule names a column of this table, of one in its lineage, or (for a view) of a table the view reads,
     * under that table's own name ({@code INSERT ... SELECT contact FROM contacts}, contacts showing email).
     */
    private static boolean mayHoldMaskedColumns(io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName table,
                                                MaskingRules rules, Ancestry ancestry) {
        var resolved = table.inSchema(rules.defaultSchema());
        List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> read = new java.util.ArrayList<>();
        read.add(resolved);
        read.addAll(ancestry.viewSources(resolved.schema(), resolved.name()));
        return read.stream().flatMap(t -> ExpressionLineage.lineOf(t, rules.defaultSchema(), ancestry).stream())
                .anyMatch(as -> rules.columns().stream().anyMatch(r -> r.matchesTable(as.schema(), as.name())));
    }

    /**
     * The statement an {@code EXPLAIN ANALYZE} runs, or null for anything else. Fails closed: any ANALYZE option counts
     * ({@code EXPLAIN (ANALYZE false) ...} is judged as if it ran).
     */
    static io.dbwarden.proxy.filter.StatementInfo explainedAndRun(io.dbwarden.proxy.filter.StatementInfo statement) {
        List<SqlToken> t = statement.tokens();
        if (t.isEmpty() || !t.get(0).isWord("explain")) {
            return null;
        }
        boolean analyze = false;
        int j = 1;
        if (j < t.size() && t.get(j).isSymbol("(")) {
            int depth = 0;
            for (; j < t.size(); j++) {
                SqlToken tok = t.get(j);
                analyze |= tok.isWord("analyze") || tok.isWord("analyse");
                if (tok.isSymbol("(")) {
                    depth++;
                } else if (tok.isSymbol(")") && --depth == 0) {
                    j++;
                    break;
                }
            }
        }
        for (; j < t.size() && (t.get(j).isWord("analyze") || t.get(j).isWord("analyse")
                || t.get(j).isWord("verbose")); j++) {
            analyze |= !t.get(j).isWord("verbose");
        }
        if (!analyze || j >= t.size()) {
            return null;
        }
        String text = statement.text();
        return io.dbwarden.proxy.filter.StatementInfo.of(new io.dbwarden.proxy.sql.SqlText.Statement(
                text.substring(t.get(j).start()),
                io.dbwarden.proxy.sql.SqlText.shift(t.subList(j, t.size()), t.get(j).start()),
                text.substring(t.get(j).start())));
    }

    /** A value a statement writes: the target column (null when not a single plain column) and its expression. */
    private record Write(String column, int from, int to) {
    }

    /**
     * UPDATE ... SET column = expression: the rule of a masked column whose values an expression carries into a
     * column masked otherwise or not at all (a masked column set from itself, {@code SET email = lower(email)}, stays
     * masked). Expressions are judged as a query's output items are: by the masked columns they name, the whole rows
     * of tables with masked columns, and the subqueries and WITH queries (in FROM or in the expression) whose output
     * carries masked values ({@code SET note = s.e FROM (SELECT email AS e FROM customers) s}). WHERE and FROM
     * conditions are reads, not writes.
     */
    private static MaskingRules.ColumnRule updateCopies(List<SqlToken> t, int main,
                                                        StatementClassifier.Result c,
                                                        List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>
                                                                tables,
                                                        MaskingRules rules, Ancestry ancestry) {
        int set = StatementClassifier.indexAtDepth(t, main, t.size(), tok -> tok.isWord("set")) + 1;
        // after WITH queries the classifier's first table is one they read: the target is the name after UPDATE
        var target = main == 0 ? (c.tables().isEmpty() ? null : c.tables().get(0))
                : qualifiedName(t, main + 1 < t.size() && t.get(main + 1).isWord("only") ? main + 2 : main + 1);
        if (set == 0 || target == null) {
            return ExpressionLineage.of(t, tables, ancestry).ruleFor(0, -1, rules);
        }
        int listEnd = StatementClassifier.indexAtDepth(t, set, t.size(),
                tok -> tok.isWord("from") || tok.isWord("where") || tok.isWord("returning"));
        List<Write> writes = assignments(t, set, listEnd < 0 ? t.size() : listEnd);
        return writtenMaskedValues(t, tables, target, writes, rules, ancestry);
    }

    /** The assignments {@code column = expression} of a SET list in tokens [from, to). */
    private static List<Write> assignments(List<SqlToken> t, int from, int to) {
        List<Write> writes = new java.util.ArrayList<>();
        for (int[] part : StatementClassifier.splitAtDepth(t, from, to, tok -> tok.isSymbol(","))) {
            int eq = StatementClassifier.indexAtDepth(t, part[0], part[1], tok -> tok.isSymbol("="));
            if (eq < 0) {
                continue;
            }
            // (a, b) = (...), col[1] = ..., col.field = ...: several columns, or part of one: no plain column
            boolean plain = eq == part[0] + 1 && t.get(part[0]).isName();
            writes.add(new Write(plain ? t.get(part[0]).text() : null, eq + 1, part[1]));
        }
        return writes;
    }

    /**
     * The rule of a masked column whose values one of {@code writes} carries into a column of {@code target} that
     * the same rule does not mask, or null.
     */
    private static MaskingRules.ColumnRule writtenMaskedValues(List<SqlToken> t,
                                                               List<io.dbwarden.proxy.sql.StatementAnalysis
                                                                       .QualifiedName> tables,
                                                               io.dbwarden.proxy.sql.StatementAnalysis
                                                                       .QualifiedName target,
                                                               List<Write> writes, MaskingRules rules,
                                                               Ancestry ancestry) {
        if (writes.isEmpty()) {
            return null;
        }
        List<int[]> ranges = writes.stream().map(w -> new int[] {w.from(), w.to()}).toList();
        ExpressionLineage lineage = ExpressionLineage.ofWritten(t, tables, ancestry, ranges);
        String schema = target.schema() != null ? target.schema() : rules.defaultSchema();
        List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> targetLine =
                ExpressionLineage.lineOf(target, schema, ancestry);
        for (int i = 0; i < writes.size(); i++) {
            String column = writes.get(i).column();
            // the rules that mask the target column: values they cover stay masked there, any other rule's do not
            java.util.Set<MaskingRules.ColumnRule> masksTarget = new java.util.HashSet<>();
            if (column != null) {
                for (MaskingRules.ColumnRule rule : rules.columns()) {
                    if (targetLine.stream().anyMatch(as -> rule.matches(as.schema(), as.name(), column))) {
                        masksTarget.add(rule);
                    }
                }
            }
            MaskingRules.ColumnRule carried = lineage.ruleFor(i, writes.size(), rules.without(masksTarget));
            if (carried != null) {
                return carried;
            }
        }
        return null;
    }

    /**
     * MERGE INTO target USING source ON ... WHEN ... THEN UPDATE SET / INSERT (columns) VALUES (...): the rule of a
     * masked column whose values an assignment or inserted value carries into a column the same rule does not mask
     * (see {@link #updateCopies}); null when none does. The join condition and the WHEN conditions are reads. A MERGE
     * whose clauses do not parse is judged as a whole, by every name it uses.
     */
    private static MaskingRules.ColumnRule mergeCopies(List<SqlToken> t, int main,
                                                       List<io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName>
                                                               tables,
                                                       MaskingRules rules, Ancestry ancestry) {
        int into = main;
        while (into < t.size() && !t.get(into).isWord("into")) {
            into++;
        }
        int name = into + 1 < t.size() && t.get(into + 1).isWord("only") ? into + 2 : into + 1;
        io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName target = qualifiedName(t, name);
        List<Write> writes = target == null ? null : mergeWrites(t, name);
        if (writes == null) {
            return ExpressionLineage.of(t, tables, ancestry).ruleFor(0, -1, rules);
        }
        return writtenMaskedValues(t, tables, target, writes, rules, ancestry);
    }

    /** The name {@code a} or {@code a.b} at {@code i}, or null when there is none. */
    private static io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName qualifiedName(List<SqlToken> t, int i) {
        if (i >= t.size() || !t.get(i).isName()) {
            return null;
        }
        if (i + 2 < t.size() && t.get(i + 1).isSymbol(".") && t.get(i + 2).isName()) {
            return new io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName(t.get(i).text(), t.get(i + 2).text());
        }
        return new io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName(null, t.get(i).text());
    }

    /** Whether {@code tok} is a name: a word or a quoted identifier. */

    /**
     * What a MERGE's WHEN clauses write, after token {@code from}: UPDATE SET assignments and INSERT values (each
     * paired with its column when the INSERT lists them); null when a clause is not one of the forms PostgreSQL has.
     * A WHEN of a CASE expression (in a condition or a value) is told from a clause by the CASE ... END around it.
     */
    static List<Write> mergeWrites(List<SqlToken> t, int from) {
        List<Integer> clauses = outsideCase(t, from, t.size(), "when", false);
        if (clauses.isEmpty()) {
            return null;
        }
        List<Write> writes = new java.util.ArrayList<>();
        for (int k = 0; k < clauses.size(); k++) {
            int end = k + 1 < clauses.size() ? clauses.get(k + 1) : t.size();
            List<Integer> thens = outsideCase(t, clauses.get(k) + 1, end, "then", true);
            int then = thens.isEmpty() ? -1 : thens.get(0);
            if (then < 0 || then + 1 >= end) {
                return null;
            }
            int a = then + 1;
            if (t.get(a).isWord("update") && a + 1 < end && t.get(a + 1).isWord("set")) {
                writes.addAll(assignments(t, a + 2, end));
            } else if (t.get(a).isWord("insert")) {
                List<Write> inserted = mergeInsert(t, a + 1, end);
                if (inserted == null) {
                    return null;
                }
                writes.addAll(inserted);
            } else if (!t.get(a).isWord("delete") && !(t.get(a).isWord("do") && a + 1 < end
                    && t.get(a + 1).isWord("nothing"))) {
                return null;
            }
        }
        return writes;
    }

    /**
     * Where {@code word} stands in tokens [from, to) outside parentheses and CASE ... END (a MERGE clause's WHEN and
     * THEN, not those of a CASE in its condition or values); with {@code first}, only the first.
     */
    private static List<Integer> outsideCase(List<SqlToken> t, int from, int to, String word, boolean first) {
        List<Integer> at = new java.util.ArrayList<>();
        int depth = 0;
        int cases = 0;
        for (int i = from; i < to; i++) {
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && tok.isWord("case")) {
                cases++;
            } else if (depth == 0 && tok.isWord("end") && cases > 0) {
                cases--;
            } else if (depth == 0 && cases == 0 && tok.isWord(word)) {
                at.add(i);
                if (first) {
                    break;
                }
            }
        }
        return at;
    }

    /**
     * The values of a MERGE's {@code INSERT [(columns)] [OVERRIDING ... VALUE] VALUES (...)} in tokens [from, to),
     * each with its column when the columns are listed (without a list the values fill the table's columns in order,
     * which the statement does not name); none for DEFAULT VALUES; null when it is neither.
     */
    private static List<Write> mergeInsert(List<SqlToken> t, int from, int to) {
        int i = from;
        List<String> columns = null;
        if (i < to && t.get(i).isSymbol("(")) {
            int close = closingParenthesis(t, i, to);
            if (close < 0) {
                return null;
            }
            columns = new java.util.ArrayList<>();
            for (int[] part : StatementClassifier.splitAtDepth(t, i + 1, close, tok -> tok.isSymbol(","))) {
                columns.add(part[1] == part[0] + 1 && t.get(part[0]).isName() ? t.get(part[0]).text() : null);
            }
            i = close + 1;
        }
        if (i + 2 < to && t.get(i).isWord("overriding")) {
            i += 3; // OVERRIDING { SYSTEM | USER } VALUE
        }
        if (i + 1 < to && t.get(i).isWord("default") && t.get(i + 1).isWord("values")) {
            return List.of();
        }
        if (i + 1 >= to || !t.get(i).isWord("values") || !t.get(i + 1).isSymbol("(")) {
            return null;
        }
        int close = closingParenthesis(t, i + 1, to);
        if (close < 0) {
            return null;
        }
        List<int[]> values = StatementClassifier.splitAtDepth(t, i + 2, close, tok -> tok.isSymbol(","));
        List<Write> writes = new java.util.ArrayList<>(values.size());
        for (int v = 0; v < values.size(); v++) {
            String column = columns != null && v < columns.size() ? columns.get(v) : null;
            writes.add(new Write(column, values.get(v)[0], values.get(v)[1]));
        }
        return writes;
    }

    /** The ')' closing the '(' at {@code open}, before {@code to}; -1 when there is none. */
    private static int closingParenthesis(List<SqlToken> t, int open, int to) {
        int depth = 0;
        for (int i = open; i < to; i++) {
            if (t.get(i).isSymbol("(")) {
                depth++;
            } else if (t.get(i).isSymbol(")") && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Functions whose arguments do not come back as results, where masking applies, but go elsewhere: NOTIFY
     * payloads (delivered to every listener, this session included), large-object contents (read back later as
     * bytes no rule masks) and settings ({@code current_setting} reads them back as plain text).
     */
    private static final Set<String> SINKS = Set.of("pg_notify", "lo_from_bytea", "lo_put", "set_config");

    /**
     * A call of a {@link #SINKS sink function} with arguments that may carry values of masked columns, in a statement
     * that reads a table with masked columns: the rule concerned, or null. Arguments count as carrying masked values
     * when the statement names a masked column anywhere (so that aliases through subqueries and CTEs are covered:
     * {@code pg_notify(c, v) FROM (SELECT ssn AS v ...)}), or when an argument is a whole row of such a table
     * ({@code pg_notify('c', t::text)}). Literals, parameters and other columns are fine.
     */
    static MaskingRules.ColumnRule sendsMaskedValues(io.dbwarden.proxy.filter.StatementInfo statement,
                                                     MaskingRules rules, Ancestry ancestry) {
        String n = statement.normalized();
        if (rules.columns().isEmpty() || !(n.contains("pg_notify") || n.contains("lo_from_bytea")
                || n.contains("lo_put") || n.contains("set_config"))) {
            return null;
        }
        List<SqlToken> t = statement.tokens();
        Set<String> arguments = new java.util.HashSet<>();
        for (int i = 0; i + 1 < t.size(); i++) {
            if (isSinkCall(t, i)) {
                argumentNames(t, i + 1, arguments);
            }
        }
        if (arguments.isEmpty()) {
            return null;
        }
        StatementClassifier.Result c = StatementClassifier.classify(t);
        java.util.Map<String, io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName> aliases =
                ExpressionLineage.aliases(t, c.tables());
        for (var table : c.tables()) {
            for (var as : ExpressionLineage.lineOf(table, rules.defaultSchema(), ancestry)) {
                for (MaskingRules.ColumnRule rule : rules.columns()) {
                    if (!rule.matchesTable(as.schema(), as.name())) {
                        continue;
                    }
                    for (SqlToken tok : t) {
                        boolean name = tok.isName();
                        // a whole row of the table: its name or an alias of it passed as an argument
                        boolean row = arguments.contains(tok.text())
                                && (tok.text().equals(table.name()) || table.equals(aliases.get(tok.text())));
                        if (name && (rule.matchesColumnName(tok.text()) || (row && rule.mayBeInRowOf(as.schema(),
                                as.name())))) {
                            return rule;
                        }
                    }
                }
            }
        }
        return null;
    }

    private static boolean isSinkCall(List<SqlToken> t, int i) {
        SqlToken tok = t.get(i);
        return tok.isName()
                && SINKS.contains(tok.text()) && t.get(i + 1).isSymbol("(");
    }

    /** Adds the names in the argument list opening at {@code open} that are not functions, types or constants. */
    private static void argumentNames(List<SqlToken> t, int open, Set<String> out) {
        int depth = 0;
        for (int k = open; k < t.size(); k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                if (--depth == 0) {
                    return;
                }
            } else if (tok.isName()
                    && !(k + 1 < t.size() && t.get(k + 1).isSymbol("(")) // a function
                    && !(k > 0 && t.get(k - 1).isSymbol("::")) // a type
                    && !LITERAL_WORDS.contains(tok.text())) {
                out.add(tok.text());
            }
        }
    }

    private static final Set<String> LITERAL_WORDS = Set.of("true", "false", "null", "default");

    private static boolean hasSubquery(List<SqlToken> t) {
        for (int i = 0; i + 1 < t.size(); i++) {
            if (t.get(i).isSymbol("(") && (t.get(i + 1).isWord("select") || t.get(i + 1).isWord("with")
                    || t.get(i + 1).isWord("table") || t.get(i + 1).isWord("values"))) {
                return true;
            }
        }
        return false;
    }

    /** Catalog relations that keep sample values of columns (most common values, histogram bounds). */
    private static final Set<String> STATISTICS = Set.of("pg_stats", "pg_statistic", "pg_stats_ext",
            "pg_stats_ext_exprs", "pg_statistic_ext_data");

    /** Whether the statement names a statistics relation anywhere (cheap text test first: this runs per statement). */
    static boolean readsColumnStatistics(io.dbwarden.proxy.filter.StatementInfo statement) {
        if (!statement.normalized().contains("pg_stat")) {
            return false;
        }
        for (SqlToken t : statement.tokens()) {
            if (t.isName()
                    && STATISTICS.contains(t.text())) {
                return true;
            }
        }
        return false;
    }

    /**
     * Statements that define code the server runs later or at once, as their literal-free text starts (words are
     * separated by one space there; DO may be followed by its string without one: {@code DO'BEGIN ... END'}).
     */
    private static final List<String[]> CODE = List.of(new String[] {"do", "a DO block"},
            new String[] {"create function ", "CREATE FUNCTION"},
            new String[] {"create or replace function ", "CREATE FUNCTION"},
            new String[] {"create procedure ", "CREATE PROCEDURE"},
            new String[] {"create or replace procedure ", "CREATE PROCEDURE"},
            new String[] {"create rule ", "CREATE RULE"}, new String[] {"create or replace rule ", "CREATE RULE"},
            // a trigger runs a function (one that exists, a generic audit trigger say) on the rows of a table, where
            // it may store them elsewhere: the masked values of an UPDATE's rows in the clear
            new String[] {"create trigger ", "CREATE TRIGGER"},
            new String[] {"create or replace trigger ", "CREATE TRIGGER"},
            new String[] {"create constraint trigger ", "CREATE TRIGGER"},
            new String[] {"create event trigger ", "CREATE EVENT TRIGGER"});

    /** ALTER [FOREIGN] TABLE ... ENABLE [ALWAYS | REPLICA] TRIGGER / RULE, also as one of several subcommands. */
    private static final java.util.regex.Pattern ENABLES_CODE = java.util.regex.Pattern.compile(
            "^alter (foreign )?table\\b.*\\benable (always |replica )?(trigger|rule)\\b");

    /**
     * What server code the statement defines (a DO block, a function, procedure, rule or trigger) or turns on (a
     * disabled trigger or rule a DBA made, which runs on the table's rows once enabled), or null.
     */
    static String definesCode(String normalized) {
        for (String[] c : CODE) {
            if (SqlText.startsWithWord(normalized, c[0].strip())) {
                return c[1];
            }
        }
        java.util.regex.Matcher m = normalized.startsWith("alter ") ? ENABLES_CODE.matcher(normalized) : null;
        if (m != null && m.find()) {
            return "ALTER TABLE ... ENABLE " + m.group(3).toUpperCase(java.util.Locale.ROOT);
        }
        return null;
    }

    static boolean isCopyOut(List<SqlToken> tokens) {
        return !tokens.isEmpty() && tokens.get(0).isWord("copy")
                && StatementClassifier.hasWordAtDepth(tokens, 0, tokens.size(), "to");
    }

    /**
     * DDL through the proxy drops what the catalog holds (columns, views, the graph of partitions, which policy
     * decisions use too): statements after it see the new definitions.
     */
    @Override
    public void onExecution(ExecutionRecord record) {
        if (!record.executed() || catalog.empty()) {
            return; // nothing loaded (pass-through policies never load the catalog): nothing to drop
        }
        String normalized = record.statement().normalized();
        for (String ddl : DDL) {
            if (normalized.startsWith(ddl)) {
                catalog.invalidate();
                return;
            }
        }
    }
}
