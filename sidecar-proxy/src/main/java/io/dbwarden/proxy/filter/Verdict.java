package io.dbwarden.proxy.filter;

import io.dbwarden.proxy.postgres.PgError;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A filter's answer for one statement.
 *
 * @param decision what happens to the statement
 * @param policy   name of the policy that decided, null when none did
 * @param rule     name of the rule that decided, null for a policy default or when none did
 * @param reason   short explanation for the audit log (never contains statement literals)
 * @param error    what the client is told when the statement is blocked; null when it is forwarded
 * @param maxRows  blast-radius limit: the statement is rolled back with an error if it affects more rows (0: none)
 * @param runs     how many runs of a prepared statement a forwarding verdict covers: any (until the filters
 *                 change), one (an approval's use: the statement's next run is judged again) or none (it may be
 *                 prepared, and each run is judged with the values bound for it)
 */
public record Verdict(Decision decision, String policy, String rule, String reason, PgError error, long maxRows,
                      Runs runs) {
    /** Runs of a prepared statement a verdict covers. */
    public enum Runs {
        /** None: the statement may be prepared, each Bind is judged with its values (an approval of those). */
        NONE,
        /** One run, the approval's use. */
        ONE,
        /** Every run until the filters change. */
        ANY;

        /** The fewer of the two. */
        public Runs min(Runs other) {
            return compareTo(other) <= 0 ? this : other;
        }
    }

    private static final Verdict ALLOW = new Verdict(Decision.ALLOW, null, null, null, null);
    private static final CompletableFuture<Verdict> ALLOW_NOW = CompletableFuture.completedFuture(ALLOW);

    public Verdict(Decision decision, String policy, String rule, String reason, PgError error) {
        this(decision, policy, rule, reason, error, 0);
    }

    public Verdict(Decision decision, String policy, String rule, String reason, PgError error, long maxRows) {
        this(decision, policy, rule, reason, error, maxRows, Runs.ANY);
    }

    public Verdict {
        java.util.Objects.requireNonNull(runs, "runs");
        if (runs != Runs.ANY && !decision.forwards()) {
            throw new IllegalArgumentException("only a forwarding verdict can cover fewer runs than any");
        }
        if (maxRows < 0 || (maxRows > 0 && !decision.forwards())) {
            throw new IllegalArgumentException("only a forwarding verdict can carry a row limit");
        }
        if (decision.forwards() != (error == null)) {
            throw new IllegalArgumentException("a blocking verdict needs an error, a forwarding one must not have one");
        }
    }

    /** Allowed without any rule saying so (no filter objects). */
    public static Verdict allow() {
        return ALLOW;
    }

    /** An already completed stage holding {@link #allow()}: the allocation-free answer of a filter with no objection. */
    public static CompletionStage<Verdict> allowNow() {
        return ALLOW_NOW;
    }

    public static Verdict allow(String policy, String rule) {
        return new Verdict(Decision.ALLOW, policy, rule, null, null);
    }

    /** Allowed by an approval, for one run of the statement (the approval's use). */
    public static Verdict approved(String policy, String rule, String reason) {
        return new Verdict(Decision.ALLOW, policy, rule, reason, null, 0, Runs.ONE);
    }

    /**
     * A statement with bind parameters that needs an approval, at its Parse: it may be prepared, and each Bind asks
     * for an approval of the statement with the values bound ({@link Runs#NONE}).
     */
    public static Verdict approvalPerBind(String policy, String rule, String reason) {
        return new Verdict(Decision.ALLOW, policy, rule, reason, null, 0, Runs.NONE);
    }

    /** The verdict lets the statement run one time only (an approval's use). */
    public boolean once() {
        return runs == Runs.ONE;
    }

    public static Verdict deny(String policy, String rule, String reason, PgError error) {
        return new Verdict(Decision.DENY, policy, rule, reason, error);
    }

    public boolean forwards() {
        return decision.forwards();
    }
}
