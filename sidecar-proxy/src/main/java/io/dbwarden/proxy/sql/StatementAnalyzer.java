package io.dbwarden.proxy.sql;

import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Analyses statements for policy: token classification plus, for statements that name tables, a full parse for
 * the complete table list. Results are cached by literal-free text, so repeated statements (whatever their
 * literals) never reach the parser again. Parsing runs on a small worker pool, never on the event loop, and is
 * bounded in time: a statement that takes too long is reported unclassified, and policy denies it (the parse is
 * interrupted; the result is not cached, so a slow moment never denies a statement for good). The cache holds at
 * most {@code maxEntries} analyses and {@link #MAX_CACHED_CHARS} characters of their texts.
 */
public final class StatementAnalyzer implements AutoCloseable {
    /** Kinds that cannot name tables the token classifier would miss. */
    private static final Set<StatementKind> TABLELESS = EnumSet.of(StatementKind.SET, StatementKind.SHOW,
            StatementKind.TRANSACTION, StatementKind.EXECUTE);

    /** Characters of literal-free text the cache of analyses holds at most. */
    public static final long MAX_CACHED_CHARS = 8L << 20;

    private final TextKeyedCache<StatementAnalysis> cache;
    private final int maxAnalyzedLength;
    private final long timeoutMillis;
    private final ThreadPoolExecutor pool;

    public StatementAnalyzer(int maxEntries, int maxAnalyzedLength, long timeoutMillis, int threads) {
        this.cache = new TextKeyedCache<>(maxEntries, MAX_CACHED_CHARS);
        this.maxAnalyzedLength = maxAnalyzedLength;
        this.timeoutMillis = timeoutMillis;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096),
                r -> {
                    Thread th = new Thread(r, "dbwarden-sql-" + n.incrementAndGet());
                    th.setDaemon(true);
                    return th;
                });
        // warm the parser up (class loading, JIT) so that the first real statements are not slowed into timeouts
        pool.execute(() -> new SqlParserTables().tables(
                "WITH x AS (SELECT a FROM s.t WHERE b = 1) SELECT * FROM x JOIN u ON u.id = x.a ORDER BY 1 LIMIT 5"));
    }

    /** The cached analysis, or null when the statement has not been analysed yet. */
    public StatementAnalysis cached(StatementInfo statement) {
        return cache.get(statement.normalized());
    }

    /** Analyses off the calling thread; completes with an unclassified result on timeout or overload. */
    public CompletionStage<StatementAnalysis> analyze(StatementInfo statement) {
        StatementAnalysis hit = cached(statement);
        if (hit != null) {
            return CompletableFuture.completedFuture(hit);
        }
        SqlParserTables parser = new SqlParserTables();
        java.util.concurrent.atomic.AtomicBoolean started = new java.util.concurrent.atomic.AtomicBoolean();
        CompletableFuture<StatementAnalysis> f;
        try {
            f = CompletableFuture.supplyAsync(() -> {
                started.set(true);
                return compute(statement, parser);
            }, pool);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.completedFuture(unclassified("the proxy's SQL analysis is overloaded"));
        }
        return f.orTimeout(timeoutMillis, TimeUnit.MILLISECONDS).exceptionally(err -> {
            parser.interrupt();
            Throwable cause = err.getCause() != null ? err.getCause() : err;
            if (!(cause instanceof TimeoutException)) {
                return unclassified("analysis failed: " + cause);
            }
            if (!started.get()) {
                // queued behind other work: an overload, not a property of this statement; do not remember it
                return unclassified("the proxy's SQL analysis is overloaded (waited " + timeoutMillis + " ms)");
            }
            // not remembered: a slow moment (cold start, GC) must not deny a statement forever; a pathological
            // statement costs at most the timeout of one worker per attempt, and is denied every time
            return unclassified("analysis took longer than " + timeoutMillis + " ms");
        });
    }

    /** Analyses on the calling thread (CLI, tests); same result as {@link #analyze}. */
    public StatementAnalysis analyzeNow(StatementInfo statement) {
        StatementAnalysis hit = cached(statement);
        return hit != null ? hit : compute(statement, new SqlParserTables());
    }

    private StatementAnalysis compute(StatementInfo statement, SqlParserTables parser) {
        StatementAnalysis result;
        if (statement.text().length() > maxAnalyzedLength) {
            result = unclassified("statement of " + statement.text().length() + " characters is longer than the "
                    + maxAnalyzedLength + " the proxy analyses");
        } else {
            StatementClassifier.Result c = StatementClassifier.classify(statement.tokens());
            if (!c.classified()) {
                result = new StatementAnalysis(false, Set.of(StatementKind.OTHER), c.tables(), false, c.functions(),
                        c.withoutWhere(), c.copyProgram(), c.copyServerFile(), c.changesSearchPath(),
                        c.changesReadOnly(), c.problem(),
                        c.roleChange(), c.rowsUncounted(), c.protectedSetting(), c.changedSetting(), List.of());
            } else {
                List<QualifiedName> tables = c.tables();
                boolean complete;
                if (!c.bodyParts().isEmpty()) {
                    // a routine's SQL-standard body: the tables of each of its statements
                    Optional<List<QualifiedName>> parsed = bodyTables(statement, c, parser);
                    if (parser.wasInterrupted()) {
                        return unclassified("analysis took longer than " + timeoutMillis + " ms");
                    }
                    complete = parsed.isPresent();
                    if (complete) {
                        tables = union(parsed.get(), c.relations());
                    }
                } else if (TABLELESS.containsAll(c.kinds())) {
                    complete = true;
                } else if (c.kinds().equals(Set.of(StatementKind.COPY)) && !tables.isEmpty()) {
                    complete = true; // COPY table ...: the table is the only object named
                } else {
                    // a wrapper (DECLARE/PREPARE/COPY (q)) names the tables of the query it wraps
                    Optional<List<QualifiedName>> parsed = parser.tables(forParser(statement, c));
                    if (parser.wasInterrupted()) {
                        return unclassified("analysis took longer than " + timeoutMillis + " ms");
                    }
                    complete = parsed.isPresent();
                    if (complete) {
                        // and every table the lexer saw: JSqlParser's list misses some it parses without error
                        // (ARRAY(TABLE t), (TABLE t) in FROM, subqueries in position/overlay/substring/XMLTABLE
                        // arguments) and drops every name that some WITH query anywhere in the statement has
                        tables = union(union(parsed.get(), c.relations()), copyTable(c));
                    }
                }
                complete &= !c.tablesUnlisted();
                Set<StatementKind> kinds = complete && tables.isEmpty() && settingsQuery(statement, c)
                        ? Set.of(StatementKind.SET) : c.kinds();
                result = new StatementAnalysis(true, kinds, tables, complete, c.functions(), c.withoutWhere(),
                        c.copyProgram(), c.copyServerFile(), c.changesSearchPath(), c.changesReadOnly(), null,
                        c.roleChange(),
                        c.rowsUncounted(), c.protectedSetting(), c.changedSetting(),
                        kinds.contains(StatementKind.ALTER) ? Relocation.of(statement.tokens()) : List.of());
            }
        }
        remember(statement, result);
        return result;
    }

    /**
     * {@code SELECT set_config(...)} that reads no table: a settings change written as a query (how a setting is set
     * from a bind parameter, e.g. a tenant id for row-level security), judged as SET alone so that the rule allowing
     * SET statements covers it. Only once the parser has confirmed that no table is read.
     */
    private static boolean settingsQuery(StatementInfo statement, StatementClassifier.Result c) {
        List<SqlToken> t = statement.tokens();
        return c.kinds().size() == 2 && c.kinds().contains(StatementKind.SELECT)
                && c.kinds().contains(StatementKind.SET) && !t.isEmpty() && t.get(0).isWord("select")
                && c.functions().stream().anyMatch(f -> f.name().equals("set_config"))
                && !StatementClassifier.hasWordAtDepth(t, 0, t.size(), "into");
    }

    /**
     * The text JSqlParser reads: the wrapped query of a wrapper, with the PostgreSQL syntax JSqlParser does not know
     * rewritten (see {@link #forParser(StatementInfo, int, int)}).
     */
    static String forParser(StatementInfo statement, StatementClassifier.Result c) {
        String text = statement.text();
        return forParser(statement, c.innerFrom() < 0 ? 0 : c.innerFrom(),
                c.innerFrom() < 0 ? text.length() : c.innerTo());
    }

    /** The tables all parts of a routine body name, or empty when the parser cannot read one of them. */
    private static Optional<List<QualifiedName>> bodyTables(StatementInfo statement, StatementClassifier.Result c,
                                                            SqlParserTables parser) {
        List<QualifiedName> tables = List.of();
        for (StatementClassifier.Result.Part part : c.bodyParts()) {
            String sql = forParser(statement, part.from(), part.to());
            Optional<List<QualifiedName>> parsed = parser.tables(part.expression() ? "SELECT " + sql : sql);
            if (parsed.isEmpty()) {
                return parsed;
            }
            tables = union(tables, parsed.get());
        }
        return Optional.of(tables);
    }

    /**
     * The characters {@code from}-{@code to} of the statement, rewritten where JSqlParser does not know PostgreSQL's
     * syntax, in ways that neither add nor remove a name of a relation: {@code OPERATOR(schema.op)} as a plain
     * operator, {@code COLLATE name} left out, {@code ONLY} before a table left out, the TABLE command of a subquery
     * or set operation as {@code SELECT * FROM}, an empty select list ({@code SELECT FROM t}) as {@code SELECT 1},
     * a {@code U&"..."} identifier as the plain quoted name the lexer decoded, and TRUNCATE's {@code RESTART
     * IDENTITY}, {@code CONTINUE IDENTITY} and {@code RESTRICT} left out. Without them common statements ({@code
     * SELECT name COLLATE "C" FROM t}, {@code DELETE FROM ONLY t}) count as having an incomplete table list.
     */
    static String forParser(StatementInfo statement, int from, int to) {
        String text = statement.text();
        List<SqlToken> t = statement.tokens();
        StringBuilder sb = null;
        int copied = from;
        for (int i = 0; i < t.size(); i++) {
            SqlToken tok = t.get(i);
            if (tok.start() < from || tok.end() > to) {
                continue;
            }
            String replacement = null;
            int last = i; // the last token the replacement stands for
            int close = StatementClassifier.operatorSyntaxEnd(t, i);
            if (close > 0) {
                replacement = "=";
                last = close;
            } else if (tok.isWord("collate") && i + 1 < t.size() && t.get(i + 1).isName()) {
                last = i + 1;
                while (last + 2 < t.size() && t.get(last + 1).isSymbol(".") && t.get(last + 2).isName()) {
                    last += 2;
                }
                replacement = " ";
            } else if (tok.isWord("only") && i > 0 && i + 1 < t.size() && t.get(i + 1).isName()
                    && keyword(t.get(i - 1), ONLY_AFTER)) {
                replacement = " ";
            } else if (tok.isWord("table") && i > 0 && i + 1 < t.size() && t.get(i + 1).isName()
                    && t.get(i - 1).start() >= from && keyword(t.get(i - 1), TABLE_COMMAND_AFTER)) {
                replacement = "SELECT * FROM";
            } else if (tok.isWord("select") && i + 1 < t.size() && t.get(i + 1).isWord("from")) {
                replacement = "SELECT 1";
            } else if (tok.kind() == SqlToken.Kind.QUOTED_IDENT && text.regionMatches(true, tok.start(), "u&", 0, 2)) {
                replacement = "\"" + tok.text().replace("\"", "\"\"") + "\"";
            } else if (t.get(0).isWord("truncate") && (tok.isWord("restrict") || ((tok.isWord("restart")
                    || tok.isWord("continue")) && i + 1 < t.size() && t.get(i + 1).isWord("identity")))) {
                last = tok.isWord("restrict") ? i : i + 1;
                replacement = " "; // TRUNCATE's options
            }
            if (replacement != null && t.get(last).end() <= to) {
                if (sb == null) {
                    sb = new StringBuilder(to - from + 16);
                }
                sb.append(text, copied, tok.start()).append(replacement);
                copied = t.get(last).end();
                i = last;
            }
        }
        return sb == null ? text.substring(from, to) : sb.append(text, copied, to).toString();
    }

    /** A keyword or punctuation among {@code words} (not a quoted name or a string that reads the same). */
    private static boolean keyword(SqlToken tok, Set<String> words) {
        return (tok.kind() == SqlToken.Kind.WORD || tok.kind() == SqlToken.Kind.SYMBOL) && words.contains(tok.text());
    }

    /** Words (and symbols) ONLY may follow when it stands before a table's name. */
    private static final Set<String> ONLY_AFTER = Set.of("from", "join", "update", ",", "using", "on", "table",
            "truncate", "into");

    /** What the TABLE command follows where it stands for a query (a subquery, a part of a set operation). */
    private static final Set<String> TABLE_COMMAND_AFTER = Set.of("(", "union", "intersect", "except", "all",
            "distinct", "as");

    private static List<QualifiedName> copyTable(StatementClassifier.Result c) {
        return c.kinds().contains(StatementKind.COPY) ? c.tables() : List.of();
    }

    private static List<QualifiedName> union(List<QualifiedName> a, List<QualifiedName> b) {
        if (b.isEmpty()) {
            return a;
        }
        java.util.LinkedHashSet<QualifiedName> all = new java.util.LinkedHashSet<>(a);
        all.addAll(b);
        return List.copyOf(all);
    }

    private static StatementAnalysis unclassified(String problem) {
        return new StatementAnalysis(false, Set.of(StatementKind.OTHER), List.of(), false, List.of(), false, false,
                false, false, false, problem, null, false, null, null, List.of());
    }

    private void remember(StatementInfo statement, StatementAnalysis analysis) {
        cache.put(statement.normalized(), analysis);
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
