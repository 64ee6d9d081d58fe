package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;

/**
 * A statement the client prepared with Parse (portals bound to it share it), with the verdict it got and the filter
 * chain's {@link io.dbwarden.proxy.filter.FilterChain#version() version} read before that verdict was asked for: a
 * Bind or Execute under another version (a policy reloaded, the audit log unable to record) judges it again, and
 * so does every Execute after the one run a verdict for {@link Verdict#once() one run} (an approval) allowed.
 * Confined to the session's event loop.
 */
final class Prepared {
    private final StatementInfo statement;
    private final Verdict verdict;
    private final long chainVersion;
    private boolean spent;

    Prepared(StatementInfo statement, Verdict verdict, long chainVersion) {
        this.statement = statement;
        this.verdict = verdict;
        this.chainVersion = chainVersion;
    }

    StatementInfo statement() {
        return statement;
    }

    Verdict verdict() {
        return verdict;
    }

    long chainVersion() {
        return chainVersion;
    }

    /**
     * Whether the verdict holds for an Execute under chain version {@code version}; {@code continuing}: the Execute
     * continues a suspended portal's run, which a verdict for one run still covers.
     */
    boolean holdsUnder(long version, boolean continuing) {
        return version >= 0 && version == chainVersion && (continuing || !spent);
    }

    /** Called as an Execute runs with the verdict: a verdict for one run is used up by it. */
    void ran() {
        if (verdict.once()) {
            spent = true;
        }
    }
}
