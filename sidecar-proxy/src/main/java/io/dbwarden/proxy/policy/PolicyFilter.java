package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.approval.ApprovalService;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalyzer;

import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The policy as a statement filter. Verdicts are cached by literal-free statement text (bounded, dropped when the
 * policy changes), so a repeated statement costs one map lookup; a new statement is analysed off the event loop.
 */
public final class PolicyFilter implements StatementFilter {
    private final StatementAnalyzer analyzer;
    private final int maxCachedVerdicts;
    private volatile State state;
    private volatile ApprovalService approvals;

    /** Verdicts are kept as completed stages: a cache hit allocates nothing. */
    private record State(PolicyEngine engine, Map<String, CompletableFuture<Verdict>> verdicts,
                         Map<String, String> sessionSettings) {
        State(PolicyEngine engine) {
            this(engine, new ConcurrentHashMap<>(), engine.sessionSettings());
        }
    }

    public PolicyFilter(PolicyEngine engine, StatementAnalyzer analyzer, int maxCachedVerdicts) {
        this.analyzer = analyzer;
        this.maxCachedVerdicts = maxCachedVerdicts;
        this.state = new State(engine);
    }

    /** Switches to a new policy set; sessions see it from their next statement. */
    public void update(PolicyEngine engine) {
        this.state = new State(engine);
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
        return f.thenCompose(verdict -> verdict.decision() == Decision.REQUIRE_APPROVAL
                ? approve(a, s, context, verdict) : CompletableFuture.completedFuture(verdict));
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
        return normalized.startsWith("declare ")
                || (normalized.startsWith("prepare ") && !normalized.startsWith("prepare transaction"));
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

    private static CompletionStage<Verdict> approve(ApprovalService a, State s, StatementContext context, Verdict held) {
        CompiledPolicy policy = s.engine().applicable().stream().filter(p -> p.name().equals(held.policy()))
                .findFirst().orElse(null);
        if (policy == null) {
            return CompletableFuture.completedFuture(held);
        }
        return a.request(context, held, policy);
    }

    /** Decides on what runs: for EXECUTE/FETCH of a known name, the query behind the name. */
    private CompletionStage<Verdict> evaluate(State s, StatementContext context) {
        String key = context.runs().normalized();
        CompletableFuture<Verdict> cached = s.verdicts().get(key);
        if (cached != null) {
            return cached;
        }
        StatementAnalysis analysis = analyzer.cached(context.runs());
        if (analysis != null) {
            return decide(s, key, analysis);
        }
        return analyzer.analyze(context.runs()).thenCompose(a -> decide(s, key, a));
    }

    private CompletableFuture<Verdict> decide(State s, String key, StatementAnalysis analysis) {
        CompletableFuture<Verdict> v = CompletableFuture.completedFuture(s.engine().decide(analysis));
        Map<String, CompletableFuture<Verdict>> cache = s.verdicts();
        if (cache.size() >= maxCachedVerdicts) {
            Iterator<String> it = cache.keySet().iterator();
            for (int i = 0; i < Math.max(1, maxCachedVerdicts / 10) && it.hasNext(); i++) {
                it.next();
                it.remove();
            }
        }
        cache.put(key, v);
        return v;
    }
}
