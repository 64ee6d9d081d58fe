package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Fail-closed auditing (--audit-fail-closed): refuses every statement while the audit log cannot record events
 * (writer failed, queue or spool full), so nothing runs unaudited. First in the filter chain.
 */
public final class AuditGate implements StatementFilter {
    private static final CompletionStage<Verdict> REFUSED = CompletableFuture.completedFuture(Verdict.deny(null,
            null, "audit log unavailable (fail-closed)", PgError.error("58030",
                    "dbwarden: the audit log cannot record events right now, so statements are refused "
                            + "(audit fail-closed)", null,
                    "Retry later; operators: check the audit sink and the spool volume of this proxy.")));

    private final AuditLog log;

    public AuditGate(AuditLog log) {
        this.log = log;
    }

    @Override
    public CompletionStage<Verdict> onStatement(StatementContext context) {
        return log.healthy() ? Verdict.allowNow() : REFUSED;
    }

    /** While the log cannot record events no earlier verdict holds: a prepared statement's Execute is refused too. */
    @Override
    public long version() {
        return log.healthy() ? 0 : -1;
    }
}
