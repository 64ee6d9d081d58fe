package io.dbwarden.proxy.filter;

import java.util.concurrent.CompletionStage;

/**
 * Looks at every statement before it goes upstream: each statement of a multi-statement simple query and the
 * text of every Parse. Filters run in chain order; the first verdict that blocks wins, and an AUDIT verdict is
 * kept unless a later filter blocks.
 *
 * <p>Called on the connection's event loop: never block. Slow work (an approval call, a lookup) returns an
 * incomplete stage; the proxy pauses reading from the client until it completes, then resumes on the event loop.
 * A stage that completes exceptionally blocks the statement (fail closed).
 */
public interface StatementFilter {
    CompletionStage<Verdict> onStatement(StatementContext context);

    /**
     * What the filter's verdicts depend on besides the statement (its rules, the catalog it consults), as a number
     * that never decreases and grows whenever a verdict given earlier may no longer hold; negative while no verdict
     * may be reused at all (it depends on a state that comes and goes, such as the audit log's health). A verdict
     * given with the same version still holds: the proxy re-judges a prepared statement at Bind and Execute only
     * when the chain's {@link FilterChain#version()} moved since its Parse. Default: verdicts depend on the
     * statement alone.
     */
    default long version() {
        return 0;
    }
}
