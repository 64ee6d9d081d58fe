package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.Collection;
import java.util.concurrent.CompletionStage;

/** Which relations show the rows of which (partitions, inheritance children, views), as the proxy loads it. */
public interface TableGraph {
    /** The graph as last loaded; null before the first load (and after DDL until the next). */
    Ancestry current();

    /** The version of a graph {@link #current} returned: it changes only when a load finds other edges. */
    long version(Ancestry graph);

    /** Null when a graph is loaded (one past its time stays in use while a fresh one loads), else its load. */
    CompletionStage<Void> ensureLoaded();

    /** Null when the current graph's load started at {@code sinceNanos} or later, else a load that does. */
    CompletionStage<Void> ensureLoadedSince(long sinceNanos);

    /**
     * Whether some of these relations (schemas resolved) exists now: names the graph does not know are mostly no
     * relation at all (typos, the asking session's temporary tables, which the catalog connection cannot see), and
     * this one cheap lookup tells them from relations made since the graph was loaded.
     */
    CompletionStage<Boolean> anyExists(Collection<QualifiedName> names);
}
