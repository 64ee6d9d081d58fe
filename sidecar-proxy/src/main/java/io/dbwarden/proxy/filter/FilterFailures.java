package io.dbwarden.proxy.filter;

import io.dbwarden.proxy.postgres.PgError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Fail-closed handling of filters that throw. */
final class FilterFailures {
    private static final Logger LOG = LoggerFactory.getLogger(FilterFailures.class);

    private FilterFailures() {
    }

    static Verdict blocked(Object filter, Throwable error) {
        LOG.error("statement filter failed, blocking the statement: filter={} error={}",
                filter.getClass().getSimpleName(), error == null ? "null verdict" : error.toString());
        return Verdict.deny(null, null, "filter " + filter.getClass().getSimpleName() + " failed",
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: statement blocked because a policy check failed",
                        null, "The proxy could not evaluate this statement; it was not executed. "
                                + "Retry, and contact the platform team if this persists."));
    }

    static void listenerFailed(Object listener, RuntimeException e) {
        LOG.error("execution listener failed: listener={} error={}", listener.getClass().getSimpleName(), e.toString());
    }
}
