package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;

import java.util.Arrays;

/**
 * A statement the client prepared with Parse (portals bound to it share it), with the verdict it got and the filter
 * chain's {@link io.dbwarden.proxy.filter.FilterChain#version() version} read before that verdict was asked for: a
 * Bind or Execute under another version (a policy reloaded, the audit log unable to record) judges it again, and
 * so does every Bind and Execute after the one run a verdict for {@link Verdict.Runs#ONE one run} (an approval)
 * allowed. A verdict for {@linkplain Verdict.Runs#NONE no run} (a statement that needs an approval of the values
 * bound to its parameters) is judged again at each Bind, with the values, and the verdict that gives holds for those
 * values only. Confined to the session's event loop.
 */
final class Prepared {
    private final StatementInfo statement;
    private final Verdict verdict;
    private final long chainVersion;
    /**
     * The parameter types its Parse declared, as sent
     * ({@link io.dbwarden.proxy.postgres.PgMessages#parseParameterTypes}): part of what bound values mean.
     */
    private final byte[] parameterTypes;
    /** The digest of the bound values the verdict was given for; null: it does not depend on them. */
    private final byte[] values;
    private boolean spent;

    Prepared(StatementInfo statement, Verdict verdict, long chainVersion, byte[] parameterTypes) {
        this(statement, verdict, chainVersion, parameterTypes, null);
    }

    Prepared(StatementInfo statement, Verdict verdict, long chainVersion, byte[] parameterTypes, byte[] values) {
        this.statement = statement;
        this.verdict = verdict;
        this.chainVersion = chainVersion;
        this.parameterTypes = parameterTypes;
        this.values = values;
    }

    byte[] parameterTypes() {
        return parameterTypes;
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

    /** Whether a Bind's values must be known to tell whether the verdict holds for it ({@link #holdsForBind}). */
    boolean dependsOnValues() {
        return values != null || verdict.runs() == Verdict.Runs.NONE;
    }

    /**
     * Whether the verdict holds for a Bind under chain version {@code version} that binds values with this digest
     * (null when they do not matter: {@link #dependsOnValues()} is false).
     */
    boolean holdsForBind(long version, byte[] boundValues) {
        return holdsUnder(version, false) && (values == null || Arrays.equals(values, boundValues));
    }

    /**
     * Whether the verdict holds for an Execute under chain version {@code version}; {@code continuing}: the Execute
     * continues a suspended portal's run, which a verdict for one run still covers.
     */
    boolean holdsUnder(long version, boolean continuing) {
        return version >= 0 && version == chainVersion && verdict.runs() != Verdict.Runs.NONE
                && (continuing || !spent);
    }

    /** Called as an Execute runs with the verdict: a verdict for one run is used up by it. */
    void ran() {
        if (verdict.once()) {
            spent = true;
        }
    }
}
