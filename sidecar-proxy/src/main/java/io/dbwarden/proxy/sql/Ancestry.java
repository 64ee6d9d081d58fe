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
     * A user view's (or materialized view's) own columns, the table columns it reads, through views over views (an
     * outer view reads all that the views it reads do), and its definition; null for other relations. The server
     * does not record which of its columns each column is computed from: that is in the definition alone.
     */
    default ViewColumns viewColumns(String schema, String view) {
        return null;
    }

    /**
     * The sessions' temporary schemas ({@code pg_temp_3}) that hold a view of this name: an unqualified name is looked
     * up in the session's own temporary schema first, which may be any of them as far as a name alone tells.
     */
    default List<String> temporaryViewSchemas(String view) {
        return List.of();
    }

    /** Whether {@code schema} is a session's temporary schema ({@code pg_temp_3}); false for null. */
    static boolean temporarySchema(String schema) {
        return schema != null && schema.startsWith("pg_temp_");
    }

    /**
     * The relations among {@code tables} this graph does not know, each named without a schema resolved in every one
     * of {@code defaultSchemas} (a name starting with pg_ that pg_catalog has is that one: the server looks there
     * first), without repeats: relations made since the graph was loaded, or names of none.
     */
    default List<QualifiedName> unknown(List<QualifiedName> tables, java.util.Collection<String> defaultSchemas) {
        List<QualifiedName> unknown = new java.util.ArrayList<>();
        for (QualifiedName t : tables) {
            if (t.schema() != null) {
                if (!knows(t.schema(), t.name()) && !unknown.contains(t)) {
                    unknown.add(t);
                }
                continue;
            }
            if (t.name().startsWith("pg_") && knows("pg_catalog", t.name())) {
                continue;
            }
            for (String schema : defaultSchemas) {
                QualifiedName resolved = t.inSchema(schema);
                if (!knows(resolved.schema(), resolved.name()) && !unknown.contains(resolved)) {
                    unknown.add(resolved);
                }
            }
        }
        return unknown;
    }

    /**
     * A view as the graph loaded it. Equal when its columns, sources and definition are (a reload that finds the
     * same views changes nothing); {@link #memo} holds what is worked out from it once per use.
     */
    final class ViewColumns {
        /** A column of a table (not a view) that a view reads. */
        public record Source(QualifiedName table, String column) {
        }

        private final List<String> columns;
        private final Set<String> names;
        private final List<Source> sources;
        private final String definition;
        private final java.util.concurrent.ConcurrentHashMap<Object, Object> memo =
                new java.util.concurrent.ConcurrentHashMap<>();

        /**
         * @param columns    the view's columns in their order
         * @param sources    the table columns it reads
         * @param definition its query as the server prints it (pg_get_viewdef), or null when unknown
         */
        public ViewColumns(List<String> columns, List<Source> sources, String definition) {
            this.columns = List.copyOf(columns);
            this.names = Set.copyOf(columns);
            this.sources = List.copyOf(sources);
            this.definition = definition;
        }

        public List<String> columns() {
            return columns;
        }

        public Set<String> names() {
            return names;
        }

        public List<Source> sources() {
            return sources;
        }

        public String definition() {
            return definition;
        }

        /**
         * What {@code compute} makes of this view for {@code key}, kept once made (per graph load). Made outside any
         * lock: {@code compute} may ask other views for theirs (two threads may both make it; one is kept).
         */
        @SuppressWarnings("unchecked")
        public <T> T memo(Object key, java.util.function.Function<ViewColumns, T> compute) {
            Object made = memo.get(key);
            if (made == null) {
                made = compute.apply(this);
                Object earlier = memo.putIfAbsent(key, made);
                if (earlier != null) {
                    made = earlier;
                }
            }
            return (T) made;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof ViewColumns v && columns.equals(v.columns) && sources.equals(v.sources)
                    && java.util.Objects.equals(definition, v.definition);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(columns, sources, definition);
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
