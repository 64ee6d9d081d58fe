package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.Ancestry.ViewColumns;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import io.dbwarden.proxy.sql.TableGraph;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Which relations show the rows of which, loaded on the proxy's catalog connection and cached: partitions and
 * inheritance children (pg_inherits) and the relations user views read (pg_rewrite dependencies). Masking rules
 * follow partitions and children; policy rules follow them and views ({@link TableGraph}). A loaded graph is used
 * until its time is up (while a fresh one loads), dropped by {@link #invalidate} after DDL through the proxy, and
 * reloaded early for a statement that names a relation it does not know.
 */
public final class RelationGraph implements TableGraph {
    /**
     * The graph as loaded, by "schema\0name": every partition's and inheritance child's ancestors (nearest first),
     * every table's descendants, which tables are partitions, the relations each user view reads (through views over
     * views), and the names of all relations (information_schema and TOAST aside), so that a relation made since the
     * load is told from one that has no ancestors.
     */
    private record Graph(Map<String, List<QualifiedName>> byChild, Map<String, List<QualifiedName>> byParent,
                         Set<String> partitions, Map<String, List<QualifiedName>> byView,
                         Map<String, ViewColumns> viewColumns, Set<String> known,
                         Map<String, List<String>> tempViews,
                         long startedAtNanos, long loadedAtNanos, long version, String fingerprint,
                         long fullAtNanos) implements Ancestry {
        @Override
        public List<String> temporaryViewSchemas(String view) {
            return tempViews.getOrDefault(view, List.of());
        }

        @Override
        public List<QualifiedName> ancestors(String schema, String table) {
            return byChild.getOrDefault(schema + "\0" + table, List.of());
        }

        @Override
        public List<QualifiedName> descendants(String schema, String table) {
            return byParent.getOrDefault(schema + "\0" + table, List.of());
        }

        @Override
        public boolean partition(String schema, String table) {
            return partitions.contains(schema + "\0" + table);
        }

        @Override
        public List<QualifiedName> viewSources(String schema, String view) {
            return byView.getOrDefault(schema + "\0" + view, List.of());
        }

        @Override
        public ViewColumns viewColumns(String schema, String view) {
            return viewColumns.get(schema + "\0" + view);
        }

        @Override
        public boolean knows(String schema, String table) {
            return "information_schema".equals(schema) || schema.startsWith("pg_toast")
                    || known.contains(schema + "\0" + table);
        }

        boolean sameEdges(Graph other) {
            return other != null && byChild.equals(other.byChild) && partitions.equals(other.partitions)
                    && byView.equals(other.byView) && viewColumns.equals(other.viewColumns);
        }
    }

    /** A load under way, and when it started. */
    private record Loading(CompletionStage<Void> stage, long startedAtNanos) {
    }

    private final Function<String, CompletionStage<List<List<String>>>> query;
    private final long ttlNanos;
    private volatile Graph graph;
    private volatile Loading loading;
    /** The last graph loaded (kept across {@link #invalidate}): a reload with the same edges keeps its version. */
    private Graph lastLoaded;
    /** When the graph was last dropped: loads that started before then are not installed. */
    private long invalidatedAtNanos = System.nanoTime();
    /** The last failed load and when it ended: callers without a graph fail at once for a while after it. */
    private volatile Throwable lastFailure;
    private volatile long lastFailureNanos;
    /** How long after a failed load callers without a graph get its failure instead of waiting for another. */
    static final long FAILURE_BACKOFF_NANOS = 1_000_000_000L;

    public RelationGraph(Function<String, CompletionStage<List<List<String>>>> query, long ttlMillis) {
        this.query = query;
        this.ttlNanos = ttlMillis * 1_000_000L;
    }

    @Override
    public Ancestry current() {
        return graph;
    }

    @Override
    public long version(Ancestry current) {
        return current instanceof Graph g ? g.version() : 0;
    }

    /**
     * Completes when the graph is loaded (null stage: it is). A graph past its time stays in use while a fresh one
     * loads; after {@link #invalidate} the next caller waits for the new one.
     */
    @Override
    public CompletionStage<Void> ensureLoaded() {
        Graph g = graph;
        if (g != null && System.nanoTime() - g.loadedAtNanos() < ttlNanos) {
            return null;
        }
        CompletionStage<Void> started = startLoading(false, 0);
        return g != null ? null : started;
    }

    /**
     * Completes when a graph is loaded whose load started at {@code sinceNanos} or later (null stage: the current
     * graph is one): relations made after the current graph was loaded are in the next.
     */
    @Override
    public CompletionStage<Void> ensureLoadedSince(long sinceNanos) {
        Graph g = graph;
        if (g != null && g.startedAtNanos() - sinceNanos >= 0) {
            return null;
        }
        return startLoading(true, sinceNanos);
    }

    @Override
    public CompletionStage<Boolean> anyExists(Collection<QualifiedName> names) {
        StringBuilder sql = new StringBuilder("SELECT false");
        for (QualifiedName n : names) {
            String regclass = Catalog.regclass(n.schema(), n.name());
            if (regclass == null) {
                return CompletableFuture.completedFuture(true); // not put into SQL: taken as existing
            }
            sql.append(" OR ").append(regclass).append(" IS NOT NULL");
        }
        return query.apply(sql.toString()).thenApply(rows -> !rows.isEmpty() && "t".equals(rows.get(0).get(0)));
    }

    /** Whether no graph is loaded or loading (then DDL has nothing to drop). */
    boolean empty() {
        return graph == null && loading == null;
    }

    /** Drops the graph (DDL ran): the next caller waits for one loaded after this. */
    public synchronized void invalidate() {
        graph = null;
        loading = null; // not a load that started before the DDL
        invalidatedAtNanos = System.nanoTime();
    }

    /**
     * The load under way (when {@code recent}, only one that started at {@code notBeforeNanos} or later), else a new
     * one. A load whose graph is not installed (DDL ran meanwhile) is followed by another, so a waiter never goes on
     * without a graph.
     */
    private synchronized CompletionStage<Void> startLoading(boolean recent, long notBeforeNanos) {
        Loading l = loading;
        if (l != null && (!recent || l.startedAtNanos() - notBeforeNanos >= 0)) {
            return l.stage();
        }
        Throwable failed = lastFailure;
        if (failed != null && System.nanoTime() - lastFailureNanos < FAILURE_BACKOFF_NANOS) {
            return CompletableFuture.failedFuture(failed); // the catalog connection is failing: do not queue more
        }
        long started = System.nanoTime();
        CompletableFuture<Void> done = new CompletableFuture<>();
        Loading next = new Loading(done, started);
        loading = next;
        load(started).whenComplete((installed, err) -> {
            synchronized (this) {
                if (loading == next) {
                    loading = null;
                }
            }
            if (err != null) {
                lastFailureNanos = System.nanoTime();
                lastFailure = err;
                done.completeExceptionally(err);
            } else if (!installed && graph == null) {
                startLoading(true, started).whenComplete((v, again) -> {
                    if (again != null) {
                        done.completeExceptionally(again);
                    } else {
                        done.complete(null);
                    }
                });
            } else {
                done.complete(null);
            }
        });
        return done;
    }

    /**
     * What the graph is loaded from, in one value: per catalog its row count and the sum of a hash of each row's xmin
     * (an inserted, deleted or updated row changes it: an update's new row version has a newer xmin). The statistics
     * VACUUM and ANALYZE write into pg_class are updated in place and leave it alone. Cheap next to the load (tens of
     * milliseconds against most of a second with thousands of views).
     */
    static final String FINGERPRINT = "pg_catalog.concat_ws(' '"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_class)"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_namespace)"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_inherits)"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_rewrite)"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_attribute)"
            + ", (SELECT count(*) || '/' || coalesce(sum(pg_catalog.hashint8(xmin::text::int8)), 0)"
            + " FROM pg_catalog.pg_depend WHERE classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass))";

    /**
     * However often the catalogs' fingerprint stays the same, the graph is loaded in full at least this often (view
     * definitions as the server prints them also name functions and types, whose catalogs it does not cover).
     */
    static final long FULL_LOAD_NANOS = 600_000_000_000L;

    /**
     * Loads the graph; completes with whether it was installed. When a graph was loaded before and the catalogs'
     * {@link #FINGERPRINT} is the same as at its load, nothing it holds can have changed: it is kept (as loaded now)
     * instead of loaded again, which with many views costs the database most of a second each time.
     */
    private CompletionStage<Boolean> load(long started) {
        Graph last;
        synchronized (this) {
            last = lastLoaded;
        }
        if (last == null || last.fingerprint() == null || started - last.fullAtNanos() >= FULL_LOAD_NANOS) {
            return fullLoad(started);
        }
        return query.apply("SELECT " + FINGERPRINT).thenCompose(rows -> {
            String now = rows.isEmpty() || rows.get(0).isEmpty() ? null : rows.get(0).get(0);
            if (last.fingerprint().equals(now)) {
                return CompletableFuture.completedFuture(keep(last, started));
            }
            return fullLoad(started);
        });
    }

    /** Installs {@code last} again as loaded by the load that started at {@code started} (see {@link #install}). */
    private synchronized boolean keep(Graph last, long started) {
        Graph current = graph;
        if ((current != null && current.startedAtNanos() - started > 0) || invalidatedAtNanos - started > 0
                || lastLoaded != last) {
            return false;
        }
        Graph kept = new Graph(last.byChild(), last.byParent(), last.partitions(), last.byView(), last.viewColumns(),
                last.known(), last.tempViews(), started, System.nanoTime(), last.version(), last.fingerprint(),
                last.fullAtNanos());
        lastLoaded = kept;
        graph = kept;
        lastFailure = null;
        return true;
    }

    /** Loads the whole graph, with the catalogs' fingerprint in the same snapshot. */
    private CompletionStage<Boolean> fullLoad(long started) {
        return query.apply("WITH RECURSIVE anc(child, parent, depth) AS ("
                        + " SELECT inhrelid, inhparent, 1 FROM pg_catalog.pg_inherits"
                        + " UNION ALL SELECT a.child, i.inhparent, a.depth + 1 FROM anc a"
                        + " JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.parent WHERE a.depth < 64)"
                        + " SELECT 'a', cn.nspname, c.relname, pn.nspname, p.relname, c.relispartition::text,"
                        + " a.child::pg_catalog.int8, a.depth FROM anc a"
                        + " JOIN pg_catalog.pg_class c ON c.oid = a.child"
                        + " JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace"
                        + " JOIN pg_catalog.pg_class p ON p.oid = a.parent"
                        + " JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace"
                        + " WHERE c.relkind NOT IN ('i', 'I')"
                        // what user views read (system views are the server's own interface, with its own checks)
                        + " UNION ALL SELECT DISTINCT 'v', vn.nspname, v.relname, bn.nspname, b.relname, NULL, 0, 0"
                        + " FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class v ON v.oid = r.ev_class"
                        + " JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace"
                        + " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
                        + " AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
                        + " JOIN pg_catalog.pg_class b ON b.oid = d.refobjid"
                        + " JOIN pg_catalog.pg_namespace bn ON bn.oid = b.relnamespace"
                        + " WHERE v.relkind IN ('v', 'm') AND d.refobjid <> r.ev_class"
                        + " AND b.relkind IN ('r', 'p', 'v', 'm', 'f')"
                        + " AND vn.nspname NOT IN ('pg_catalog', 'information_schema')"
                        // the table columns each user view reads, and its own columns
                        + " UNION ALL SELECT DISTINCT 'c', vn.nspname, v.relname, bn.nspname, b.relname,"
                        + " ba.attname::text, 0, 0"
                        + " FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class v ON v.oid = r.ev_class"
                        + " JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace"
                        + " JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
                        + " AND d.objid = r.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
                        + " AND d.refobjsubid > 0"
                        + " JOIN pg_catalog.pg_class b ON b.oid = d.refobjid"
                        + " JOIN pg_catalog.pg_namespace bn ON bn.oid = b.relnamespace"
                        + " JOIN pg_catalog.pg_attribute ba ON ba.attrelid = b.oid AND ba.attnum = d.refobjsubid"
                        + " WHERE v.relkind IN ('v', 'm') AND d.refobjid <> r.ev_class"
                        + " AND b.relkind IN ('r', 'p', 'f')"
                        + " AND vn.nspname NOT IN ('pg_catalog', 'information_schema')"
                        + " UNION ALL SELECT 'w', vn.nspname, v.relname, NULL, NULL, a.attname::text,"
                        + " a.attnum::pg_catalog.int8, 0"
                        + " FROM pg_catalog.pg_class v JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace"
                        + " JOIN pg_catalog.pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0"
                        + " AND NOT a.attisdropped"
                        + " WHERE v.relkind IN ('v', 'm') AND vn.nspname NOT IN ('pg_catalog', 'information_schema')"
                        + " UNION ALL SELECT 'd', vn.nspname, v.relname, NULL, NULL, pg_catalog.pg_get_viewdef(v.oid),"
                        + " 0, 0 FROM pg_catalog.pg_class v JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace"
                        + " WHERE v.relkind IN ('v', 'm') AND vn.nspname NOT IN ('pg_catalog', 'information_schema')"
                        + " UNION ALL SELECT 'r', n.nspname, c.relname, NULL, NULL, NULL, 0, 0"
                        + " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                        + " WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_toast%'"
                        + " UNION ALL SELECT 'f', NULL, NULL, NULL, NULL, " + FINGERPRINT + ", 0, 0"
                        + " ORDER BY 1, 7, 8")
                .thenApply(rows -> {
                    Map<String, List<QualifiedName>> ancestors = new HashMap<>();
                    Set<String> partitions = new HashSet<>();
                    Map<String, List<QualifiedName>> reads = new HashMap<>();
                    Map<String, List<ViewColumns.Source>> readsColumns = new HashMap<>();
                    Map<String, List<String>> viewNames = new HashMap<>();
                    Map<String, String> definitions = new HashMap<>();
                    Set<String> known = new HashSet<>();
                    String fingerprint = null;
                    for (List<String> row : rows) {
                        String key = row.get(1) + "\0" + row.get(2);
                        switch (row.get(0)) {
                            case "r" -> known.add(key);
                            case "f" -> fingerprint = row.get(5);
                            case "v" -> reads.computeIfAbsent(key, k -> new ArrayList<>())
                                    .add(new QualifiedName(row.get(3), row.get(4)));
                            case "c" -> readsColumns.computeIfAbsent(key, k -> new ArrayList<>())
                                    .add(new ViewColumns.Source(new QualifiedName(row.get(3), row.get(4)),
                                            row.get(5)));
                            case "w" -> viewNames.computeIfAbsent(key, k -> new ArrayList<>()).add(row.get(5));
                            case "d" -> definitions.put(key, row.get(5));
                            default -> {
                                ancestors.computeIfAbsent(key, k -> new ArrayList<>())
                                        .add(new QualifiedName(row.get(3), row.get(4)));
                                if ("true".equals(row.get(5))) {
                                    partitions.add(key);
                                }
                            }
                        }
                    }
                    ancestors.replaceAll((k, v) -> List.copyOf(v));
                    Map<String, List<QualifiedName>> views = closure(reads);
                    return install(Map.copyOf(ancestors), Set.copyOf(partitions), views,
                            viewColumns(viewNames, readsColumns, definitions, views), Set.copyOf(known), started,
                            fingerprint);
                });
    }

    /** Every relation each view reads, through views over views (each name once, nearest first). */
    private static Map<String, List<QualifiedName>> closure(Map<String, List<QualifiedName>> reads) {
        Map<String, List<QualifiedName>> all = new HashMap<>();
        for (String view : reads.keySet()) {
            Set<QualifiedName> seen = new LinkedHashSet<>();
            Deque<QualifiedName> todo = new ArrayDeque<>(reads.get(view));
            while (!todo.isEmpty()) {
                QualifiedName next = todo.poll();
                if (seen.add(next)) {
                    todo.addAll(reads.getOrDefault(next.schema() + "\0" + next.name(), List.of()));
                }
            }
            all.put(view, List.copyOf(seen));
        }
        return Map.copyOf(all);
    }

    /**
     * Each view's columns (in their order), the table columns it reads: its own, and those of every view it reads
     * (through views over views; the server records which columns of an inner view the outer one reads, not what
     * they are made of), and its definition.
     */
    private static Map<String, ViewColumns> viewColumns(Map<String, List<String>> names,
                                                        Map<String, List<ViewColumns.Source>> reads,
                                                        Map<String, String> definitions,
                                                        Map<String, List<QualifiedName>> views) {
        Map<String, ViewColumns> all = new HashMap<>();
        names.forEach((view, columns) -> {
            Set<ViewColumns.Source> sources = new LinkedHashSet<>(reads.getOrDefault(view, List.of()));
            for (QualifiedName inner : views.getOrDefault(view, List.of())) {
                sources.addAll(reads.getOrDefault(inner.schema() + "\0" + inner.name(), List.of()));
            }
            all.put(view, new ViewColumns(columns, List.copyOf(sources), definitions.get(view)));
        });
        return Map.copyOf(all);
    }

    /** Every table's partitions and children at every level, from each one's ancestors. */
    private static Map<String, List<QualifiedName>> descendants(Map<String, List<QualifiedName>> ancestors) {
        Map<String, List<QualifiedName>> below = new HashMap<>();
        ancestors.forEach((child, line) -> {
            int cut = child.indexOf('\0');
            QualifiedName name = new QualifiedName(child.substring(0, cut), child.substring(cut + 1));
            for (QualifiedName parent : line) {
                below.computeIfAbsent(parent.schema() + "\0" + parent.name(), k -> new ArrayList<>()).add(name);
            }
        });
        below.replaceAll((k, v) -> List.copyOf(v));
        return Map.copyOf(below);
    }

    private synchronized boolean install(Map<String, List<QualifiedName>> ancestors, Set<String> partitions,
                                         Map<String, List<QualifiedName>> views, Map<String, ViewColumns> columns,
                                         Set<String> known, long started, String fingerprint) {
        Graph current = graph;
        if ((current != null && current.startedAtNanos() - started > 0) || invalidatedAtNanos - started > 0) {
            return false; // a later load finished first, or DDL ran after this one started
        }
        long now = System.nanoTime();
        Map<String, List<QualifiedName>> descendants = descendants(ancestors);
        Map<String, List<String>> temp = new HashMap<>();
        for (String key : columns.keySet()) {
            int cut = key.indexOf('\0');
            if (Ancestry.temporarySchema(key.substring(0, cut))) { // one per backend: pg_temp_3
                temp.computeIfAbsent(key.substring(cut + 1), k -> new ArrayList<>()).add(key.substring(0, cut));
            }
        }
        temp.replaceAll((k, v) -> List.copyOf(v));
        Map<String, List<String>> tempViews = Map.copyOf(temp);
        Graph loaded = new Graph(ancestors, descendants, partitions, views, columns, known, tempViews, started, now,
                0, fingerprint, started);
        Graph last = lastLoaded;
        long version = last == null ? 1 : loaded.sameEdges(last) ? last.version() : last.version() + 1;
        loaded = new Graph(ancestors, descendants, partitions, views, columns, known, tempViews, started, now,
                version, fingerprint, started);
        lastLoaded = loaded;
        graph = loaded;
        lastFailure = null;
        return true;
    }
}
