package io.dbwarden.proxy.filter;

/** The outcome of evaluating a statement. */
public enum Decision {
    /** Forwarded. */
    ALLOW,
    /** Forwarded, but a rule would have blocked it (policy in audit / dry-run mode). */
    AUDIT,
    /** Blocked before reaching the database. */
    DENY,
    /** Blocked until a ChangeApproval allows it. */
    REQUIRE_APPROVAL;

    /** Whether the statement goes to the database. */
    public boolean forwards() {
        return this == ALLOW || this == AUDIT;
    }

    /** Lower-case name used in audit events and metrics. */
    public String label() {
        return switch (this) {
            case ALLOW -> "allow";
            case AUDIT -> "audit";
            case DENY -> "deny";
            case REQUIRE_APPROVAL -> "require_approval";
        };
    }
}
