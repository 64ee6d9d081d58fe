package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.List;
import java.util.Set;

/**
 * What tables are partitions or inheritance children of (the database's pg_inherits graph, as the proxy last loaded
 * it), and what views read: the rows of a partition or child are rows of its ancestors under another name, so rules
 * about the ancestors concern them too. Schemas are resolved (no null schema).
 */
@FunctionalInterface
public interface Ancestry {
    /** The tables {@code schema.table} is a partition or inheritance child of, nearest first; empty for others. */
    List<QualifiedName> ancestors(String schema, String table);

    /**
     * The partitions and inheritance children of {@code schema.table} at every level (its rows include theirs);
     * empty for others.
     */
    default List<QualifiedName> descendants(String schema, String table) {
        return List.of();
    }

    /**
     * Whether {@code schema.table} is a partition (of a partitioned table): unlike an inheritance child, which may add
     * columns of its own, a partition has exactly its parent's columns and holds a subset of its rows.
     */
    default boolean partition(String schema, String table) {
        return false;
    }

    /**
     * The relations a user view (or materialized view) reads, through views over views; empty for other relations
     * and for system views. Rows a view shows are rows of these.
     */
    default List<QualifiedName> viewSources(String schema, String view) {
        return List.of();
    }

    /**
     * A user view's (or materialized view's) own column names and the table columns it reads, through views over
     * views (an outer view reads all that the views it reads do); null for other relations. The server does not
     * record which of its columns each column is computed from.
     */
    default ViewColumns viewColumns(String schema, String view) {
        return null;
    }

    /**
     * @param names   the view's columns
     * @param sources the table columns it reads
     */
    record ViewColumns(Set<String> names, List<Source> sources) {
        /** A column of a table (not a view) that a view reads. */
        public record Source(QualifiedName table, String column) {
        }
    }

    /**
     * Whether the graph knew the relation when it was loaded: for a name it did not know (made since, or none at
     * all) its empty ancestry says nothing.
     */
    default boolean knows(String schema, String table) {
        return true;
    }

    /**
     * {@code table} (schema resolved) followed by what it is a partition or inheritance child of, nearest first (a
     * new, modifiable list).
     */
    default List<QualifiedName> withAncestors(QualifiedName table) {
        List<QualifiedName> up = ancestors(table.schema(), table.name());
        List<QualifiedName> line = new java.util.ArrayList<>(1 + up.size());
        line.add(table);
        line.addAll(up);
        return line;
    }

    /** No table has ancestors (offline decisions, and decisions that do not look at tables). */
    Ancestry NONE = (schema, table) -> List.of();
}
