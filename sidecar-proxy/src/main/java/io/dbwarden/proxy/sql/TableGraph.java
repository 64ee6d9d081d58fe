package io.dbwarden.proxy.sql;

import java.util.concurrent.CompletionStage;

/** The database's graph of partitions and inheritance children as the proxy loads and caches it. */
public interface TableGraph {
    /** The graph as last loaded; null before the first load (and after DDL until the next). */
    Ancestry inheritance();

    /** The version of a graph {@link #inheritance} returned: it changes only when a load finds other edges. */
    long graphVersion(Ancestry graph);

    /** Null when a graph is loaded (one past its time stays in use while a fresh one loads), else its load. */
    CompletionStage<Void> ensureInheritance();

    /**
     * For names the current graph does not know: null when its load started at {@code sinceNanos} or later, else a
     * load that does; such loads start at most once per {@code minIntervalNanos} (null in between).
     */
    CompletionStage<Void> ensureInheritanceSince(long sinceNanos, long minIntervalNanos);
}
