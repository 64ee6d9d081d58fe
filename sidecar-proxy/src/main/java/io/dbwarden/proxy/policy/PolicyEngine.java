package io.dbwarden.proxy.policy;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.PolicyMode;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.Relocation;
import io.dbwarden.proxy.sql.StatementAnalysis;

import java.util.List;

/**
 * Decides statements for one identity against a set of policies. Every applicable policy is evaluated (first
 * matching rule, else its default); the most restrictive outcome wins: deny, then require approval, then audit,
 * then allow. No applicable policy means deny.
 */
public final class PolicyEngine {
    private final List<CompiledPolicy> applicable;
    private final String identity;
    private final java.util.Map<String, String> sessionSettings;
    private final boolean tableRules;
    private final boolean blockingTableRules;

    public PolicyEngine(List<CompiledPolicy> policies, String identity) {
        this.identity = identity;
        this.applicable = policies.stream().filter(p -> p.appliesTo(identity)).toList();
        this.sessionSettings = computeSessionSettings();
        this.tableRules = applicable.stream().flatMap(p -> p.rules().stream()).anyMatch(r -> !r.tables().isEmpty());
        this.blockingTableRules = applicable.stream().filter(p -> p.mode() != PolicyMode.AUDIT)
                .flatMap(p -> p.rules().stream()).anyMatch(r -> !r.tables().isEmpty()
                        && (r.action() == Action.DENY || r.action() == Action.REQUIRE_APPROVAL));
    }

    public static PolicyEngine of(List<DatabaseAccessPolicy> policies, String identity) {
        return new PolicyEngine(policies.stream().map(CompiledPolicy::of).toList(), identity);
    }

    public List<CompiledPolicy> applicable() {
        return applicable;
    }

    /** The shortest of a timeout the applicable policies set, in milliseconds; 0 when none sets it. */
    private long shortest(java.util.function.ToLongFunction<CompiledPolicy> timeout) {
        return applicable.stream().mapToLong(timeout).filter(t -> t > 0).min().orElse(0);
    }

    /** Whether sessions must run with default_transaction_read_only (some applicable policy says readOnly). */
    public boolean readOnlySessions() {
        return applicable.stream().anyMatch(CompiledPolicy::readOnly);
    }

    /**
     * Server settings every session of this identity starts with: search_path pinned to the default schema (policy
     * table rules resolve unqualified names there), read-only transactions when a policy asks, and the statement and
     * idle-in-transaction timeouts policies set (the shortest). One unmodifiable
     * map per engine, so a session's start settings compare with the current ones by identity first.
     */
    public java.util.Map<String, String> sessionSettings() {
        return sessionSettings;
    }

    private java.util.Map<String, String> computeSessionSettings() {
        if (applicable.isEmpty()) {
            return java.util.Map.of();
        }
        java.util.Map<String, String> settings = new java.util.LinkedHashMap<>();
        settings.put("search_path", applicable.get(0).defaultSchema());
        if (readOnlySessions()) {
            settings.put("default_transaction_read_only", "on");
        }
        long timeout = shortest(CompiledPolicy::statementTimeoutMillis);
        if (timeout > 0) {
            settings.put("statement_timeout", Long.toString(timeout)); // milliseconds
        }
        long idle = shortest(CompiledPolicy::idleInTransactionTimeoutMillis);
        if (idle > 0) {
            settings.put("idle_in_transaction_session_timeout", Long.toString(idle));
        }
        return java.util.Collections.unmodifiableMap(settings);
    }

    /** A refusal when {@code changed} may be {@code setting} and policy {@code p} sets that limit; else null. */
    private static Verdict pinnedTimeout(CompiledPolicy p, String changed, String setting, long millis, String what,
                                         String field) {
        if (millis <= 0 || !(setting.equals(changed) || StatementAnalysis.ANY_SETTING.equals(changed))) {
            return null;
        }
        return PolicyDecision.builtIn(p, "pinned-timeouts", "changing " + setting + " is not allowed",
                "Policy " + p.name() + " limits " + what + " to " + millis + " ms (" + field + "); RESET " + setting
                        + " returns to that limit.");
    }

    /** {@link #decide(StatementAnalysis, Ancestry)} by the names statements use alone (offline checks). */
    public Verdict decide(StatementAnalysis analysis) {
        return decide(analysis, Ancestry.NONE);
    }

    /**
     * Whether some rule of an applicable policy names tables: then decisions depend on which relations show the rows
     * of which (partitions, inheritance children, views: {@link Ancestry}).
     */
    public boolean tableRules() {
        return tableRules;
    }

    /**
     * Whether some rule that blocks (deny, requireApproval) of an enforcing policy names tables: without the graph
     * of partitions and children, a statement on a table could escape it (allow rules only ever match fewer
     * statements without it; audit rules and audit-mode policies only flag).
     */
    public boolean blockingTableRules() {
        return blockingTableRules;
    }

    /** The tables the statement names (under each schema they could resolve to) that the graph did not know. */
    public List<StatementAnalysis.QualifiedName> unknownTables(StatementAnalysis a, Ancestry ancestry) {
        return ancestry.unknown(a.tables(), applicable.stream().map(CompiledPolicy::defaultSchema).toList());
    }

    /**
     * Decides a statement. {@code ancestry} tells which relations show the rows of which: restricting rules about a
     * table also cover its partitions, children, parents and the views that read it, allow rules its partitions.
     */
    public Verdict decide(StatementAnalysis analysis, Ancestry ancestry) {
        if (applicable.isEmpty()) {
            return Verdict.deny(null, null, "no policy applies to identity " + identity,
                    PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: no DatabaseAccessPolicy applies to "
                            + "identity \"" + identity + "\"", null, "Add this identity to the subjects of a "
                            + "DatabaseAccessPolicy; until then every statement is denied."));
        }
        Verdict result = null;
        long limit = 0;
        for (CompiledPolicy p : applicable) {
            Verdict v = decide(p, analysis, ancestry);
            if (v.maxRows() > 0) {
                limit = limit == 0 ? v.maxRows() : Math.min(limit, v.maxRows()); // every policy's limit holds
            }
            if (result == null || rank(v) > rank(result)) {
                result = v;
            }
        }
        if (result.forwards() && limit > 0 && analysis.rowsUncounted()) {
            // the limit is enforced on the rows the command tag reports; these statements change rows it does not
            String limiting = result.policy();
            CompiledPolicy p = applicable.stream().filter(x -> x.name().equals(limiting)).findFirst()
                    .orElse(applicable.get(0));
            return PolicyDecision.builtIn(p, "uncounted-rows", "a row-limited " + String.join("/",
                            analysis.kinds().stream().map(Enum::name).sorted().toList())
                            + " inside EXPLAIN ANALYZE or WITH is not allowed",
                    "A rule limits the rows this statement may change (maxAffectedRows), and the proxy counts them from "
                            + "the statement's own result; run the UPDATE or DELETE as a statement of its own.");
        }
        if (result.forwards() && limit > 0 && result.maxRows() != limit) {
            result = new Verdict(result.decision(), result.policy(), result.rule(), result.reason(), null, limit,
                    result.runs());
        }
        return result;
    }

    private static int rank(Verdict v) {
        return switch (v.decision()) {
            case ALLOW -> 0;
            case AUDIT -> 1;
            case REQUIRE_APPROVAL -> 2;
            case DENY -> 3;
        };
    }

    static Verdict decide(CompiledPolicy p, StatementAnalysis a, Ancestry ancestry) {
        if (!a.classified() && !p.allowUnparsedStatements()) {
            return PolicyDecision.builtIn(p, "unclassified-statement", "statement could not be classified ("
                    + a.problem() + ")", "The proxy only forwards statements it understands. Rewrite the statement, "
                    + "or set spec.allowUnparsedStatements in the policy to let rules decide it as OTHER.");
        }
        if (p.readOnly() && a.changesReadOnly()) {
            return PolicyDecision.builtIn(p, "read-only", "switching the session or transaction to read-write is "
                    + "not allowed", "Policy sessions are read-only (spec.readOnly); run writes through an identity "
                    + "whose policy allows them.");
        }
        String lock = p.readOnly() ? advisoryLock(a) : null;
        if (lock != null) {
            return PolicyDecision.builtIn(p, "read-only", "taking advisory locks (" + lock + ") is not allowed in a "
                    + "read-only session", "Advisory locks coordinate writers (migrations, job queues): a read-only "
                    + "session that holds one can stall them for as long as it stays connected. Policy " + p.name()
                    + " makes sessions read-only (spec.readOnly).");
        }
        if (a.changesSearchPath()) {
            return PolicyDecision.builtIn(p, "pinned-search-path", "changing search_path is not allowed",
                    "The proxy pins search_path to the policy's default schema (\"" + p.defaultSchema()
                            + "\") so that table rules mean what they say; qualify names with their schema instead.");
        }
        String role = a.roleChange();
        if (role != null && !role.isEmpty() && !p.allowedRoles().contains(role)) {
            String allowed = p.allowedRoles().isEmpty() ? "none" : String.join(", ", new java.util.TreeSet<>(
                    p.allowedRoles()));
            return PolicyDecision.builtIn(p, "pinned-role", "changing the database role is not allowed"
                    + (role.equals(StatementAnalysis.ANY_ROLE) ? "" : " (to \"" + role + "\")"),
                    "The session runs as the role the proxy logs in with; SET ROLE and SET SESSION AUTHORIZATION "
                            + "change the privileges of every later statement. Roles this policy allows with a plain "
                            + "SET ROLE name (spec.allowedRoles): " + allowed + ".");
        }
        Verdict timeout = pinnedTimeout(p, a.changedSetting(), "statement_timeout", p.statementTimeoutMillis(),
                "every statement", "spec.statementTimeout");
        if (timeout == null) {
            timeout = pinnedTimeout(p, a.changedSetting(), "idle_in_transaction_session_timeout",
                    p.idleInTransactionTimeoutMillis(), "idle time inside a transaction",
                    "spec.idleInTransactionTimeout");
        }
        if (timeout != null) {
            return timeout;
        }
        if (a.protectedSetting() != null) {
            return PolicyDecision.builtIn(p, "pinned-settings", "changing " + a.protectedSetting() + " is not allowed",
                    a.protectedSetting() + " switches off what the database server enforces or records (triggers and "
                            + "foreign keys, its logs and audit extensions, checks of system catalogs, activity "
                            + "tracking, code loading); it is not a session setting for applications. Configure it on "
                            + "the server or for the role, outside the proxy.");
        }
        Verdict byRules = byRules(p, a, ancestry);
        // renaming a table a deny rule names would let every later statement past the rule: such an ALTER is also
        // decided by each restricting rule that would lose the table, and the most restrictive outcome holds
        for (Relocation moved : a.relocations()) {
            for (CompiledRule r : p.rules()) {
                String uncovered = r.uncoveredBy(moved, p.defaultSchema(), ancestry);
                if (uncovered != null) {
                    Verdict v = PolicyDecision.of(p, r, r.action(), a, ancestry, uncovered + ": rules name tables, "
                            + "so renaming, moving or detaching one is decided by the rules that would lose it.");
                    if (rank(v) > rank(byRules)) {
                        byRules = v;
                    }
                }
            }
        }
        return byRules;
    }

    /** The first matching rule's decision (or the default's), with the server-side guards. */
    private static Verdict byRules(CompiledPolicy p, StatementAnalysis a, Ancestry ancestry) {
        for (CompiledRule r : p.rules()) {
            if (r.matches(a, p.defaultSchema(), ancestry)) {
                Verdict guarded = serverSideGuard(p, r, r.action(), a);
                return guarded != null ? guarded : PolicyDecision.of(p, r, r.action(), a, ancestry);
            }
        }
        Verdict guarded = serverSideGuard(p, null, p.defaultAction(), a);
        return guarded != null ? guarded : PolicyDecision.of(p, null, p.defaultAction(), a, ancestry);
    }

    /**
     * The advisory-lock function the statement calls ({@code pg_advisory_lock}, {@code pg_try_advisory_xact_lock},
     * ...; in any schema, like the server functions), or null; releasing them ({@code pg_advisory_unlock*}) is fine.
     */
    private static String advisoryLock(StatementAnalysis a) {
        for (StatementAnalysis.QualifiedName f : a.functions()) {
            String n = f.name();
            if ((n.startsWith("pg_advisory_") || n.startsWith("pg_try_advisory_"))
                    && !n.startsWith("pg_advisory_unlock")) {
                return n;
            }
        }
        return null;
    }

    /**
     * Guards for statements a rule (or the default) would forward (allow, audit) but that act on the database server
     * rather than on the rows of the tables they name; approval and deny decisions are left as they are.
     * <p>
     * {@code server-side-copy}: COPY to or from a server file is never forwarded, COPY ... PROGRAM only when the
     * deciding rule says {@code copyProgram: true}.
     * <p>
     * {@code server-functions}: a call of a function that signals or watches other sessions, reads server files,
     * connects elsewhere or drives replication or backups is denied unless the deciding rule names that function in
     * {@code match.functions}. Table and statement rules say nothing about such calls, so an allow rule for
     * {@code SELECT} on {@code public.*} must not let {@code SELECT pg_terminate_backend(g) FROM
     * generate_series(1, 100000) g} end every session of the proxy's database role.
     */
    private static Verdict serverSideGuard(CompiledPolicy p, CompiledRule rule, Action action, StatementAnalysis a) {
        if (action != Action.ALLOW && action != Action.AUDIT) {
            return null;
        }
        if (a.copyServerFile()) {
            return PolicyDecision.builtIn(p, "server-side-copy", "COPY to or from a file on the database server is "
                    + "not allowed", "COPY ... FROM 'file' and TO 'file' read and write the database server's files. "
                    + "Send the data through the connection instead: COPY ... FROM STDIN / TO STDOUT (psql's \\copy, "
                    + "pgjdbc's CopyManager).");
        }
        if (a.copyProgram() && (rule == null || !rule.copyProgram())) {
            return PolicyDecision.builtIn(p, "server-side-copy", "COPY ... PROGRAM is not allowed",
                    "COPY ... PROGRAM runs a shell command on the database server; a rule allowing COPY does not "
                            + "cover it. Only a rule with match.copyProgram: true can allow it.");
        }
        java.util.Set<String> unnamed = new java.util.TreeSet<>();
        for (StatementAnalysis.QualifiedName f : a.functions()) {
            if (ServerFunctions.isServerFunction(f.name()) && (rule == null || !rule.namesFunction(f))) {
                unnamed.add(f.name());
            }
        }
        if (unnamed.isEmpty()) {
            return null;
        }
        String names = String.join(", ", unnamed);
        return PolicyDecision.builtIn(p, "server-functions", "calling " + names + " is not allowed",
                names + (unnamed.size() == 1 ? " acts" : " act") + " outside the rows of the tables a statement names "
                        + "(other sessions, server files, replication, remote servers), so rules about statements and "
                        + "tables do not cover it. To allow it, name it in the match.functions of the rule that "
                        + "allows the statement.");
    }

    /** A short description of the decision for the CLI. */
    public static String summary(Verdict v) {
        String decision = switch (v.decision()) {
            case ALLOW -> "ALLOW";
            case AUDIT -> "AUDIT";
            case DENY -> "DENY";
            case REQUIRE_APPROVAL -> "REQUIRE_APPROVAL";
        };
        return decision + " policy=" + (v.policy() == null ? "-" : v.policy()) + " rule="
                + (v.rule() == null ? (v.policy() == null ? "-" : "(default)") : v.rule());
    }
}
