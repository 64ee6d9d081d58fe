package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.approval.ApprovalService;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.PendingVerdict;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.sql.TableGraph;
import io.dbwarden.proxy.sql.TextKeyedCache;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The policy as a statement filter. Verdicts are cached by literal-free statement text (bounded, dropped when the
 * policy changes), so a repeated statement costs one map lookup; a new statement is analysed off the event loop.
 * <p>
 * When rules name tables, decisions also depend on which relations show the rows of which (partitions, inheritance
 * children, views: {@link TableGraph}, loaded on the proxy's catalog connection): cached verdicts belong to one
 * version of that graph and are dropped when it changes. A relation the graph does not know is looked up: one made
 * since the graph was loaded waits for a newer graph; verdicts are not cached while a name stays unknown. When the
 * graph cannot be loaded, statements on tables are refused if a deny or requireApproval rule of an enforcing policy
 * names tables (built-in {@code policy-catalog}), and else decided by their names alone.
 */
public final class PolicyFilter implements StatementFilter {
    /** Characters of literal-free text the verdicts of one graph version are cached under at most. */
    static final long MAX_CACHED_CHARS = 8L << 20;

    private final StatementAnalyzer analyzer;
    private final int maxCachedVerdicts;
    private final TableGraph graph;
    private volatile State state;
    private volatile ApprovalService approvals;

    /** Verdicts decided with one version of the table graph (0: without it), as completed stages: a hit allocates
     * nothing. */
    private record Verdicts(long graphVersion, TextKeyedCache<CompletableFuture<Verdict>> byText) {
    }

    /** A policy set in force; {@code seq} counts the sets since the filter was made (the first is 0). */
    private record State(PolicyEngine engine, AtomicReference<Verdicts> verdicts, Map<String, String> sessionSettings,
                         int maxCachedVerdicts, long seq) {
        State(PolicyEngine engine, int maxCachedVerdicts, long seq) {
            this(engine, new AtomicReference<>(new Verdicts(0, new TextKeyedCache<>(maxCachedVerdicts,
                    MAX_CACHED_CHARS))), engine.sessionSettings(), maxCachedVerdicts, seq);
        }

        /** The verdicts of graph version {@code version}: null when a newer version's verdicts are cached already. */
        TextKeyedCache<CompletableFuture<Verdict>> verdicts(long version) {
            while (true) {
                Verdicts v = verdicts.get();
                if (v.graphVersion() == version) {
                    return v.byText();
                }
                if (v.graphVersion() > version) {
                    return null;
                }
                Verdicts next = new Verdicts(version, new TextKeyedCache<>(maxCachedVerdicts, MAX_CACHED_CHARS));
                if (verdicts.compareAndSet(v, next)) {
                    return next.byText();
                }
            }
        }
    }

    /** @param graph partitions and inheritance children, for rules that name tables; null: names alone decide */
    public PolicyFilter(PolicyEngine engine, StatementAnalyzer analyzer, int maxCachedVerdicts, TableGraph graph) {
        this.analyzer = analyzer;
        this.maxCachedVerdicts = maxCachedVerdicts;
        this.graph = graph;
        this.state = new State(engine, maxCachedVerdicts, 0);
    }

    public PolicyFilter(PolicyEngine engine, StatementAnalyzer analyzer, int maxCachedVerdicts) {
        this(engine, analyzer, maxCachedVerdicts, null);
    }

    /** Switches to a new policy set; sessions see it from their next statement (and Bind or Execute). */
    public synchronized void update(PolicyEngine engine) {
        this.state = new State(engine, maxCachedVerdicts, state.seq() + 1);
    }

    /**
     * The policy set's number, and where rules name tables the version of the graph of partitions, inheritance
     * children and views they are decided with (-1 while none is loaded: the next statement waits for one).
     */
    @Override
    public long version() {
        State s = state;
        long seq = s.seq() << 32;
        TableGraph g = s.engine().tableRules() ? graph : null;
        if (g == null) {
            return seq;
        }
        Ancestry current = g.current();
        return current == null ? -1 : seq + g.version(current);
    }

    public PolicyEngine engine() {
        return state.engine();
    }

    /** Where statements held by requireApproval rules are sent (sidecar mode); without one they are refused. */
    public void approvals(ApprovalService service) {
        this.approvals = service;
    }

    @Override
    public CompletionStage<Verdict> onStatement(StatementContext context) {
        ApprovalService a = approvals;
        State s = state;
        Map<String, String> pinned = context.session().pinnedSettings();
        if (pinned != null && !pinned.equals(s.sessionSettings())) {
            return CompletableFuture.completedFuture(settingsChanged(pinned, s.sessionSettings()));
        }
        CompletionStage<Verdict> v = evaluate(s, context);
        if (context.runsNamedQuery() || definesNamedQuery(context.statement().normalized())) {
            return v.thenApply(PolicyFilter::noApprovalThroughNames);
        }
        if (a == null) {
            return v;
        }
        CompletableFuture<Verdict> f = v.toCompletableFuture();
        Verdict done = f.getNow(null);
        if (done != null) {
            return done.decision() == Decision.REQUIRE_APPROVAL ? approve(a, s, context, done) : f;
        }
        PendingVerdict pending = new PendingVerdict(); // held for approval is known once the analysis is done
        pending.completeAs(f.thenCompose(verdict -> {
            if (verdict.decision() != Decision.REQUIRE_APPROVAL) {
                return CompletableFuture.completedFuture(verdict);
            }
            pending.meanwhile(verdict);
            return approve(a, s, context, verdict);
        }));
        return pending;
    }

    /**
     * The policy now starts sessions with other server settings (it became read-only, or its default schema moved)
     * than this session has, and a SET in the session could be undone by RESET ALL: every statement is refused with
     * admin_shutdown (57P01), which connection pools take as "discard this connection", until the client reconnects.
     */
    private static Verdict settingsChanged(Map<String, String> pinned, Map<String, String> now) {
        String reason = "the policy changed the settings sessions start with (" + describe(pinned) + " -> "
                + describe(now) + ")";
        return Verdict.deny(null, "session-settings", reason, io.dbwarden.proxy.postgres.PgError.error("57P01",
                "dbwarden: " + reason + "; this session must reconnect", null,
                "Close this connection and open a new one: it starts with the policy's current settings."));
    }

    private static String describe(Map<String, String> settings) {
        return settings.isEmpty() ? "none" : new java.util.TreeMap<>(settings).toString();
    }

    /** DECLARE ... FOR q and PREPARE name AS q (not PREPARE TRANSACTION): they define q, they do not run it. */
    private static boolean definesNamedQuery(String normalized) {
        return SqlText.startsWithWord(normalized, "declare") || (SqlText.startsWithWord(normalized, "prepare")
                && !normalized.startsWith("prepare transaction"));
    }

    /**
     * A statement that needs approval, defined (DECLARE, PREPARE) or run (FETCH, EXECUTE) under a name: an approval
     * covers one exact statement text that runs once, and neither defining a name nor "EXECUTE name(...)" is that,
     * so the statement must be sent as itself.
     */
    private static Verdict noApprovalThroughNames(Verdict v) {
        if (v.decision() != Decision.REQUIRE_APPROVAL) {
            return v;
        }
        return Verdict.deny(v.policy(), v.rule(), "approval required; not through a prepared statement",
                io.dbwarden.proxy.postgres.PgError.error(io.dbwarden.proxy.postgres.PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: " + v.reason() + "; statements that need approval cannot run through "
                                + "PREPARE/EXECUTE or a cursor", null,
                        "Send the statement itself: it can then be approved and run once."));
    }

    /**
     * Whether {@code $n} in the statement are bind parameters: everywhere but in a routine's definition, whose body
     * refers to the routine's own parameters that way ({@code CREATE FUNCTION f(int) ... RETURN $1 + 1}; no other
     * utility statement takes bind parameters).
     */
    static boolean hasBindParameters(List<SqlToken> tokens) {
        if (tokens.stream().noneMatch(t -> t.kind() == SqlToken.Kind.PARAM)) {
            return false;
        }
        int at = 0;
        if (tokens.size() > at && tokens.get(at).isWord("create")) {
            at++;
            if (tokens.size() > at + 1 && tokens.get(at).isWord("or") && tokens.get(at + 1).isWord("replace")) {
                at += 2;
            }
            if (tokens.size() > at && (tokens.get(at).isWord("function") || tokens.get(at).isWord("procedure"))) {
                return false;
            }
        }
        return true;
    }

    /**
     * A statement that needs approval with bind parameters ({@code $1}) where no Bind supplies their values: a
     * simple query (the server would not run it either). In the extended protocol the approval is asked for at each
     * Bind, of the statement with the values bound.
     */
    private static Verdict noApprovalWithParameters(Verdict v) {
        return Verdict.deny(v.policy(), v.rule(), "approval required; bind parameters without values",
                io.dbwarden.proxy.postgres.PgError.error(io.dbwarden.proxy.postgres.PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: " + v.reason() + "; the statement has bind parameters but no values bound to "
                                + "them, so there is nothing an approval could cover", null,
                        "Send the statement with its values written in its text, or prepare it and bind the values "
                                + "(the approval then covers the statement with those values)."));
    }

    private static CompletionStage<Verdict> approve(ApprovalService a, State s, StatementContext context, Verdict held) {
        CompiledPolicy policy = s.engine().applicable().stream().filter(p -> p.name().equals(held.policy()))
                .findFirst().orElse(null);
        if (policy == null) {
            return CompletableFuture.completedFuture(held);
        }
        StatementContext asked = context;
        if (!hasBindParameters(context.statement().tokens())) {
            if (context.boundValues() != null) {
                // judged again at a Bind: without parameters the values are nothing, the approval is of the text
                asked = new StatementContext(context.session(), context.statement(), context.protocol(),
                        context.transactionStatus(), context.cancelled(), context.runs());
            }
        } else if (context.boundValues() == null) {
            // its values come with each Bind: the statement may be prepared, every Bind asks with its values
            return CompletableFuture.completedFuture(context.protocol() == Protocol.EXTENDED
                    ? Verdict.approvalPerBind(held.policy(), held.rule(), held.reason())
                    : noApprovalWithParameters(held));
        }
        CompletionStage<Verdict> decided = a.request(asked, held, policy);
        return decided instanceof CompletableFuture<Verdict> f && f.isDone() ? decided
                : PendingVerdict.of(decided, held);
    }

    /** Decides on what runs: for EXECUTE/FETCH of a known name, the query behind the name. */
    private CompletionStage<Verdict> evaluate(State s, StatementContext context) {
        String key = context.runs().normalized();
        TableGraph g = s.engine().tableRules() ? graph : null;
        if (g != null) {
            g.ensureLoaded(); // a graph past its time is reloaded (in the background) also while verdicts hit
        }
        TextKeyedCache<CompletableFuture<Verdict>> cache = g == null ? s.verdicts(0)
                : s.verdicts(g.version(g.current()));
        CompletableFuture<Verdict> cached = cache == null ? null : cache.get(key);
        if (cached != null) {
            return cached;
        }
        StatementAnalysis analysis = analyzer.cached(context.runs());
        if (g != null) {
            long since = System.nanoTime();
            return analysis != null ? decideWithGraph(s, key, analysis, g, since)
                    : analyzer.analyze(context.runs()).thenCompose(a -> decideWithGraph(s, key, a, g, since));
        }
        if (analysis != null) {
            return decide(s, key, analysis, Ancestry.NONE, 0);
        }
        return analyzer.analyze(context.runs()).thenCompose(a -> decide(s, key, a, Ancestry.NONE, 0));
    }

    /**
     * Decides with the table graph: waits for it to be loaded and, when the statement names a relation the graph does
     * not know that exists (made since the graph was loaded), for a graph loaded after the statement arrived
     * ({@code since}). Names of no relation the catalog connection can see (typos, the session's temporary tables)
     * cost one lookup each time; their verdicts are not cached.
     */
    private CompletionStage<Verdict> decideWithGraph(State s, String key, StatementAnalysis analysis, TableGraph g,
                                                     long since) {
        if (analysis.tables().isEmpty()) { // nothing for the graph to say: valid for every version of it
            return decide(s, key, analysis, Ancestry.NONE, g.version(g.current()));
        }
        CompletionStage<Void> loading = g.ensureLoaded();
        Ancestry current = g.current();
        if (loading == null && current != null) {
            List<QualifiedName> unknown = s.engine().unknownTables(analysis, current);
            if (unknown.isEmpty()) {
                return decide(s, key, analysis, current, g.version(current));
            }
            return g.anyExists(unknown).handle((exists, err) -> err != null ? null : exists).thenCompose(exists -> {
                if (exists == null) {
                    return CompletableFuture.completedFuture(withoutGraph(s.engine(), analysis));
                }
                CompletionStage<Void> newer = exists ? g.ensureLoadedSince(since) : null;
                if (newer == null) { // not cached: the name may become a relation (a partition, a view) any time
                    return CompletableFuture.completedFuture(s.engine().decide(analysis, current));
                }
                return newer.handle((v, err) -> err).thenCompose(err -> err == null
                        ? decideWithGraph(s, key, analysis, g, since)
                        : CompletableFuture.completedFuture(withoutGraph(s.engine(), analysis)));
            });
        }
        if (loading == null) {
            loading = CompletableFuture.completedFuture(null); // dropped by DDL just now: ask again
        }
        return loading.handle((v, err) -> err).thenCompose(err -> err == null
                ? decideWithGraph(s, key, analysis, g, since)
                : CompletableFuture.completedFuture(withoutGraph(s.engine(), analysis)));
    }

    /** The graph of partitions cannot be loaded: fail closed where a blocking rule names tables. */
    private static Verdict withoutGraph(PolicyEngine engine, StatementAnalysis analysis) {
        if (!engine.blockingTableRules()) {
            return engine.decide(analysis); // allow rules by names alone match no more statements than with it
        }
        return Verdict.deny(null, "policy-catalog", "partitions, inheritance children and views could not be looked up",
                io.dbwarden.proxy.postgres.PgError.error(io.dbwarden.proxy.postgres.PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: rules of the policy for this identity name tables, and the proxy could not look up "
                                + "which relations show their rows (partitions, inheritance children, views)", null,
                        "Retry; the proxy's catalog connection to the database is failing."));
    }

    private CompletableFuture<Verdict> decide(State s, String key, StatementAnalysis analysis, Ancestry ancestry,
                                              long graphVersion) {
        CompletableFuture<Verdict> v = CompletableFuture.completedFuture(s.engine().decide(analysis, ancestry));
        TextKeyedCache<CompletableFuture<Verdict>> cache = s.verdicts(graphVersion);
        if (cache == null) {
            return v; // decided with a graph older than the cached verdicts'
        }
        cache.put(key, v);
        return v;
    }
}
