package io.dbwarden.proxy.sql;

import java.util.concurrent.CompletionStage;

/** Which relations show the rows of which (partitions, inheritance children, views), as the proxy loads it. */
public interface TableGraph {
    /** The graph as last loaded; null before the first load (and after DDL until the next). */
    Ancestry current();

    /** The version of a graph {@link #current} returned: it changes only when a load finds other edges. */
    long version(Ancestry graph);

    /** Null when a graph is loaded (one past its time stays in use while a fresh one loads), else its load. */
    CompletionStage<Void> ensureLoaded();

    /**
     * For names the current graph does not know: null when its load started at {@code sinceNanos} or later, else a
     * load that does; such loads start at most once per {@code minIntervalNanos} (null in between).
     */
    CompletionStage<Void> ensureLoadedSince(long sinceNanos, long minIntervalNanos);
}
