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
 * @param once     the verdict lets the statement run one time only (an approval's use): a prepared statement's
 *                 next Execute is judged again
 */
public record Verdict(Decision decision, String policy, String rule, String reason, PgError error, long maxRows,
                      boolean once) {
    private static final Verdict ALLOW = new Verdict(Decision.ALLOW, null, null, null, null);
    private static final CompletableFuture<Verdict> ALLOW_NOW = CompletableFuture.completedFuture(ALLOW);

    public Verdict(Decision decision, String policy, String rule, String reason, PgError error) {
        this(decision, policy, rule, reason, error, 0);
    }

    public Verdict(Decision decision, String policy, String rule, String reason, PgError error, long maxRows) {
        this(decision, policy, rule, reason, error, maxRows, false);
    }

    public Verdict {
        if (once && !decision.forwards()) {
            throw new IllegalArgumentException("only a forwarding verdict can be for one run");
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
        return new Verdict(Decision.ALLOW, policy, rule, reason, null, 0, true);
    }

    public static Verdict deny(String policy, String rule, String reason, PgError error) {
        return new Verdict(Decision.DENY, policy, rule, reason, error);
    }

    public boolean forwards() {
        return decision.forwards();
    }
}
