package io.dbwarden.proxy.policy;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.StatementAnalysis;

import java.util.List;
import java.util.stream.Collectors;

/** Turns a matched rule (or a policy default) into a verdict with an error that says what happened and what next. */
final class PolicyDecision {
    private PolicyDecision() {
    }

    static Verdict of(CompiledPolicy policy, CompiledRule rule, Action action, StatementAnalysis a, Ancestry ancestry) {
        return of(policy, rule, action, a, ancestry, null);
    }

    /** @param why the error's detail when the rule applies for a reason other than matching (null: the usual) */
    static Verdict of(CompiledPolicy policy, CompiledRule rule, Action action, StatementAnalysis a, Ancestry ancestry,
                      String why) {
        String ruleName = rule == null ? null : rule.name();
        String what = describe(a);
        String by = rule == null ? "the default action of policy \"" + policy.name() + "\""
                : "rule \"" + rule.name() + "\" of policy \"" + policy.name() + "\"";
        String userMessage = rule != null && rule.message() != null ? rule.message() : null;
        if (rule != null && rule.matchedOnlyForUnknownTables(a, policy.defaultSchema(), ancestry)) {
            // the rule's own message speaks of its tables, which this statement may not use at all
            userMessage = "the proxy could not list every table this statement uses, and the rule applies to tables "
                    + "it might use";
        }
        String detail = a.classified() && !a.tablesComplete()
                ? "The proxy could not list every table this statement uses (its SQL parser does not understand the "
                + "statement, it reads a cursor or prepared statement the proxy did not see defined, or it acts on "
                + "every table of a schema, role or tablespace), so rules "
                + "that name tables treat it as possibly using any table: allow rules do not match it, deny rules do."
                : null;
        CompiledRule.Via via = rule == null ? null : rule.matchedThrough(a, policy.defaultSchema(), ancestry);
        if (via != null) {
            detail = via + ", which the rule names: rules about a table also cover its partitions, inheritance "
                    + "children and the views that read it.";
        }
        if (why != null) {
            detail = why;
        }
        Verdict verdict = switch (action) {
            case ALLOW -> rule == null || rule.maxAffectedRows() == 0 ? Verdict.allow(policy.name(), ruleName)
                    : new Verdict(Decision.ALLOW, policy.name(), ruleName, null, null, rule.maxAffectedRows());
            case AUDIT -> new Verdict(Decision.AUDIT, policy.name(), ruleName, "flagged by " + by, null,
                    rule == null ? 0 : rule.maxAffectedRows());
            case DENY -> Verdict.deny(policy.name(), ruleName, what + " denied by " + by,
                    PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: " + what + " denied by " + by + (userMessage == null ? "" : ": " + userMessage),
                            detail, rule == null
                                    ? "No rule of policy \"" + policy.name() + "\" allows this statement. Ask its owners "
                                    + "to add a rule, or use a statement the policy allows."
                                    : "Ask the owners of policy \"" + policy.name() + "\" if you need an exception to "
                                    + "rule \"" + rule.name() + "\"; test policies with 'dbwarden-proxy check'."));
            case REQUIRE_APPROVAL -> new Verdict(Decision.REQUIRE_APPROVAL, policy.name(), ruleName,
                    what + " requires approval by " + by,
                    PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: " + what + " requires approval by " + by
                                    + (userMessage == null ? "" : ": " + userMessage),
                            detail, "An approver must approve a ChangeApproval for this exact statement before it "
                                    + "can run; this proxy has no approval service configured, so it cannot run here."));
        };
        if (policy.mode() == io.dbwarden.api.v1alpha1.PolicyMode.AUDIT && !verdict.forwards()) {
            return new Verdict(Decision.AUDIT, policy.name(), ruleName,
                    "audit mode, would block: " + verdict.reason(), null);
        }
        return verdict;
    }

    /** Built-in denials that no rule can lift (unclassifiable statements, read-only escapes). */
    static Verdict builtIn(CompiledPolicy policy, String check, String message, String hint) {
        Verdict deny = Verdict.deny(policy.name(), check, message,
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + message + " (policy \"" + policy.name()
                        + "\")", null, hint));
        if (policy.mode() == io.dbwarden.api.v1alpha1.PolicyMode.AUDIT) {
            return new Verdict(Decision.AUDIT, policy.name(), check, "audit mode, would block: " + message, null);
        }
        return deny;
    }

    private static String describe(StatementAnalysis a) {
        List<String> kinds = a.kinds().stream().map(Enum::name).sorted().toList();
        String k = String.join("/", kinds);
        if (a.withoutWhere()) {
            k += " without WHERE";
        }
        if (a.copyProgram()) {
            k = "COPY ... PROGRAM";
        }
        if (!a.tables().isEmpty() && a.tables().size() <= 3) {
            k += " on " + a.tables().stream().map(Object::toString).collect(Collectors.joining(", "));
            if (!a.tablesComplete()) {
                k += " (and possibly others)";
            }
        }
        return k;
    }
}
