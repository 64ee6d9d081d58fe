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
}
