package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.TableGraph;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Table OID + attribute number to schema.table.column, and for views the base columns they read (transitively),
 * looked up on the proxy's side connection and cached. Entries expire after a while and are dropped when a DDL
 * statement runs through the proxy, so renamed or re-created columns are picked up.
 */
public final class Catalog implements TableGraph {
    /** A column of a base table. */
    public record Column(String schema, String table, String name) {
    }

    /** A relation with its columns by attnum; for views, the base columns they use. */
    public record Relation(int oid, String schema, String name, char kind, Map<Integer, String> columns,
                           Map<Integer, Integer> types, Set<Column> viewSources, long loadedAtNanos) {
        boolean isView() {
            return kind == 'v' || kind == 'm';
        }
    }

    private final Function<String, CompletionStage<List<List<String>>>> query;
    private final long ttlNanos;
    private final Map<Integer, Relation> byOid = new ConcurrentHashMap<>();
    /** Type OID to the relation whose rows it is (also for arrays of them), 0 for any other type; load time. */
    private final Map<Integer, long[]> rowTypes = new ConcurrentHashMap<>();

    /**
     * The pg_inherits graph as loaded: every partition's and inheritance child's ancestors (nearest first) and which
     * of them are partitions, by "schema\0name", and the names of all relations (information_schema's views aside),
     * so that a name made since the load is told from one without ancestors.
     */
    private record Inheritance(Map<String, List<QualifiedName>> byChild, Set<String> partitions, Set<String> known,
                               long startedAtNanos, long loadedAtNanos, long version) implements Ancestry {
        @Override
        public List<QualifiedName> ancestors(String schema, String table) {
            return byChild.getOrDefault(schema + "\0" + table, List.of());
        }

        @Override
        public boolean partition(String schema, String table) {
            return partitions.contains(schema + "\0" + table);
        }

        @Override
        public boolean knows(String schema, String table) {
            return "information_schema".equals(schema) || schema.startsWith("pg_toast")
                    || known.contains(schema + "\0" + table);
        }

        boolean sameGraph(Inheritance other) {
            return other != null && byChild.equals(other.byChild) && partitions.equals(other.partitions);
        }
    }

    /** A load of the graph under way, and when it started. */
    private record Loading(CompletionStage<Void> stage, long startedAtNanos) {
    }

    private volatile Inheritance inheritance;
    private volatile Loading inheritanceLoading;
    /** The last graph loaded (kept across {@link #invalidate}): a reload with the same content keeps its version. */
    private Inheritance lastLoaded;
    /** When a statement naming a relation the graph did not know last had the graph reloaded. */
    private long lastUnknownNameLoadNanos = System.nanoTime() - Long.MAX_VALUE / 2;
    /** When the graph was last dropped: loads that started before then are not installed. */
    private long invalidatedAtNanos = System.nanoTime();

    /** The first OID of objects made after initdb: types below it are built in, none is a row of a user table. */
    static final int FIRST_USER_OID = 16384;

    public Catalog(Function<String, CompletionStage<List<List<String>>>> query, long ttlMillis) {
        this.query = query;
        this.ttlNanos = ttlMillis * 1_000_000L;
    }

    public Relation get(int oid) {
        Relation r = byOid.get(oid);
        return r != null && System.nanoTime() - r.loadedAtNanos() < ttlNanos ? r : null;
    }

    /** Completes when every OID is cached (null stage: already all cached). */
    public CompletionStage<Void> ensure(Set<Integer> oids) {
        Set<Integer> missing = new HashSet<>();
        for (int oid : oids) {
            if (oid != 0 && get(oid) == null) {
                missing.add(oid);
            }
        }
        if (missing.isEmpty()) {
            return null;
        }
        return load(missing, 0);
    }

    /**
     * The tables {@code schema.table} is a partition or inheritance child of, nearest first (empty for others and
     * while the graph was never loaded): a masking rule for a table covers its partitions and children, whose rows
     * are the same data under another name.
     */
    public List<QualifiedName> ancestors(String schema, String table) {
        Inheritance i = inheritance;
        return i == null ? List.of() : i.ancestors(schema, table);
    }

    /**
     * The graph of partitions and inheritance children as last loaded, or null before the first load (and after
     * {@link #invalidate} until the next). Its {@link #graphVersion} changes whenever a load finds other edges.
     */
    @Override
    public Ancestry inheritance() {
        return inheritance;
    }

    @Override
    public long graphVersion(Ancestry graph) {
        return graph instanceof Inheritance i ? i.version() : 0;
    }

    /**
     * Completes when the inheritance graph is loaded (null stage: it is). A graph past its time stays in use while a
     * fresh one loads; after DDL through the proxy ({@link #invalidate}) the next caller waits for the new one.
     */
    @Override
    public CompletionStage<Void> ensureInheritance() {
        Inheritance i = inheritance;
        if (i != null && System.nanoTime() - i.loadedAtNanos() < ttlNanos) {
            return null;
        }
        CompletionStage<Void> loading = startLoading(false, 0);
        return i != null ? null : loading;
    }

    /**
     * Completes when a graph is loaded whose load started at {@code sinceNanos} or later (null stage: the current
     * graph is one), for names the current graph does not know: relations made after it was loaded are in the next.
     * Such loads start at most once per {@code minIntervalNanos} (null stage in between): names that are no relation
     * the catalog connection can see (typos, the asking session's temporary tables) must not reload the graph for
     * every statement.
     */
    @Override
    public CompletionStage<Void> ensureInheritanceSince(long sinceNanos, long minIntervalNanos) {
        Inheritance i = inheritance;
        if (i != null && i.startedAtNanos() - sinceNanos >= 0) {
            return null;
        }
        synchronized (this) {
            Loading loading = inheritanceLoading;
            if (loading != null && loading.startedAtNanos() - sinceNanos >= 0) {
                return loading.stage();
            }
            if (i != null && sinceNanos - lastUnknownNameLoadNanos < minIntervalNanos) {
                return null;
            }
            lastUnknownNameLoadNanos = sinceNanos;
            return startLoading(true, sinceNanos);
        }
    }

    /**
     * The load under way (when {@code recent}, only one that started at {@code notBeforeNanos} or later), else a new
     * one. A load whose graph is not installed (DDL ran meanwhile) is followed by another, so a waiter never goes on
     * without a graph.
     */
    private synchronized CompletionStage<Void> startLoading(boolean recent, long notBeforeNanos) {
        Loading loading = inheritanceLoading;
        if (loading != null && (!recent || loading.startedAtNanos() - notBeforeNanos >= 0)) {
            return loading.stage();
        }
        long started = System.nanoTime();
        CompletableFuture<Void> done = new CompletableFuture<>();
        Loading next = new Loading(done, started);
        inheritanceLoading = next;
        loadInheritance(started).whenComplete((installed, err) -> {
            synchronized (this) {
                if (inheritanceLoading == next) {
                    inheritanceLoading = null;
                }
            }
            if (err != null) {
                done.completeExceptionally(err);
            } else if (!installed && inheritance == null) {
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

    /** Loads the graph; completes with whether it was installed. */
    private CompletionStage<Boolean> loadInheritance(long started) {
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
                        + " UNION ALL SELECT 'r', n.nspname, c.relname, NULL, NULL, NULL, 0, 0"
                        + " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                        + " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                        + " AND n.nspname <> 'information_schema'"
                        + " ORDER BY 1, 7, 8")
                .thenApply(rows -> {
                    Map<String, List<QualifiedName>> ancestors = new HashMap<>();
                    Set<String> partitions = new HashSet<>();
                    Set<String> known = new HashSet<>();
                    for (List<String> row : rows) {
                        String key = row.get(1) + "\0" + row.get(2);
                        if ("r".equals(row.get(0))) {
                            known.add(key);
                            continue;
                        }
                        ancestors.computeIfAbsent(key, k -> new ArrayList<>())
                                .add(new QualifiedName(row.get(3), row.get(4)));
                        if ("true".equals(row.get(5))) {
                            partitions.add(key);
                        }
                    }
                    ancestors.replaceAll((k, v) -> List.copyOf(v));
                    return installInheritance(Map.copyOf(ancestors), Set.copyOf(partitions), Set.copyOf(known),
                            started);
                });
    }

    private synchronized boolean installInheritance(Map<String, List<QualifiedName>> ancestors, Set<String> partitions,
                                                 Set<String> known, long started) {
        Inheritance current = inheritance;
        if ((current != null && current.startedAtNanos() - started > 0) || invalidatedAtNanos - started > 0) {
            return false; // a later load finished first, or DDL ran after this one started
        }
        Inheritance last = lastLoaded;
        Inheritance loaded = new Inheritance(ancestors, partitions, known, started, System.nanoTime(), 0);
        long version = last == null ? 1 : loaded.sameGraph(last) ? last.version() : last.version() + 1;
        loaded = new Inheritance(ancestors, partitions, known, started, loaded.loadedAtNanos(), version);
        lastLoaded = loaded;
        inheritance = loaded;
        return true;
    }

    /**
     * The relation whose rows values of this type are (a table's row type, or an array of them), when it is loaded:
     * null for other types and for types not looked up with {@link #ensureRowTypes}.
     */
    public Relation rowsOfType(int typeOid) {
        long[] entry = rowTypes.get(typeOid);
        if (entry == null || entry[0] == 0 || System.nanoTime() - entry[1] >= ttlNanos) {
            return null;
        }
        return get((int) entry[0]);
    }

    /** Whether the type was looked up (and has not expired): then {@link #rowsOfType} is the answer. */
    public boolean rowTypeKnown(int typeOid) {
        long[] entry = rowTypes.get(typeOid);
        return entry != null && System.nanoTime() - entry[1] < ttlNanos
                && (entry[0] == 0 || get((int) entry[0]) != null);
    }

    /**
     * Completes when every user-defined type among {@code typeOids} is known to be a row type of a relation (which is
     * then loaded too) or not (null stage: nothing to look up).
     */
    public CompletionStage<Void> ensureRowTypes(Set<Integer> typeOids) {
        Set<Integer> missing = new HashSet<>();
        for (int oid : typeOids) {
            if (oid >= FIRST_USER_OID && !rowTypeKnown(oid)) {
                missing.add(oid);
            }
        }
        if (missing.isEmpty()) {
            return null;
        }
        String list = missing.stream().map(String::valueOf).collect(Collectors.joining(","));
        return query.apply("SELECT t.oid, COALESCE(NULLIF(t.typrelid, 0), e.typrelid, 0) FROM pg_catalog.pg_type t"
                        + " LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typelem <> 0"
                        + " WHERE t.oid IN (" + list + ")")
                .thenCompose(rows -> {
                    long now = System.nanoTime();
                    Set<Integer> relations = new HashSet<>();
                    for (int oid : missing) {
                        rowTypes.put(oid, new long[] {0, now}); // unknown to the server: no relation's rows
                    }
                    for (List<String> row : rows) {
                        int rel = Integer.parseInt(row.get(1));
                        rowTypes.put(Integer.parseInt(row.get(0)), new long[] {rel, now});
                        if (rel != 0) {
                            relations.add(rel);
                        }
                    }
                    CompletionStage<Void> loading = ensure(relations);
                    return loading != null ? loading : CompletableFuture.completedFuture(null);
                });
    }

    /**
     * The relation a (schema-qualified) name resolves to, or null when there is none. Names are passed to the
     * server as quoted literals and resolved with format('%I.%I') + to_regclass, never spliced into SQL.
     */
    public CompletionStage<Relation> byName(String schema, String name) {
        if (schema.indexOf('\\') >= 0 || name.indexOf('\\') >= 0) {
            return CompletableFuture.completedFuture(null);
        }
        String sql = "SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', " + literal(schema) + ", "
                + literal(name) + "))::pg_catalog.oid";
        return query.apply(sql).thenCompose(rows -> {
            if (rows.isEmpty() || rows.get(0).get(0) == null) {
                return CompletableFuture.completedFuture(null);
            }
            int oid = Integer.parseInt(rows.get(0).get(0));
            CompletionStage<Void> loading = ensure(Set.of(oid));
            return loading == null ? CompletableFuture.completedFuture(get(oid))
                    : loading.thenApply(v -> get(oid));
        });
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    public void invalidate() {
        byOid.clear();
        rowTypes.clear();
        synchronized (this) {
            inheritance = null; // CREATE TABLE ... PARTITION OF, ATTACH PARTITION, INHERIT
            inheritanceLoading = null; // and not a load that started before them
            invalidatedAtNanos = System.nanoTime();
        }
    }

    private CompletionStage<Void> load(Set<Integer> oids, int depth) {
        return load(oids, depth, false);
    }

    /** @param graphReloaded the inheritance graph was just reloaded for these relations: do not reload it again */
    private CompletionStage<Void> load(Set<Integer> oids, int depth, boolean graphReloaded) {
        String list = oids.stream().map(String::valueOf).collect(Collectors.joining(","));
        return query.apply("SELECT c.oid, n.nspname, c.relname, c.relkind, a.attnum, a.attname, a.atttypid,"
                        + " EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)"
                        + " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                        + " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                        + " AND NOT a.attisdropped WHERE c.oid IN (" + list + ")")
                .thenCompose(rows -> {
                    Map<Integer, Relation> loaded = new HashMap<>();
                    long now = System.nanoTime();
                    boolean unknownChild = false;
                    for (List<String> row : rows) {
                        int oid = Integer.parseInt(row.get(0));
                        Relation r = loaded.computeIfAbsent(oid, o -> new Relation(o, row.get(1), row.get(2),
                                row.get(3).charAt(0), new HashMap<>(), new HashMap<>(), new LinkedHashSet<>(), now));
                        r.columns().put(Integer.parseInt(row.get(4)), row.get(5));
                        r.types().put(Integer.parseInt(row.get(4)), Integer.parseInt(row.get(6)));
                        unknownChild |= "t".equals(row.get(7)) && ancestors(row.get(1), row.get(2)).isEmpty();
                    }
                    if (unknownChild && !graphReloaded) {
                        // a partition or child made since the graph was loaded (outside the proxy): its parents'
                        // rules must apply before its columns are judged
                        synchronized (this) {
                            inheritance = null;
                            inheritanceLoading = null; // a load under way may have started before the child existed
                            invalidatedAtNanos = System.nanoTime();
                        }
                        CompletionStage<Void> graph = ensureInheritance();
                        if (graph != null) {
                            return graph.thenCompose(v -> load(oids, depth, true));
                        }
                    }
                    List<Integer> views = loaded.values().stream().filter(Relation::isView).map(Relation::oid).toList();
                    if (views.isEmpty() || depth > 4) {
                        loaded.values().forEach(this::store);
                        return CompletableFuture.completedFuture(null);
                    }
                    return loadViewSources(loaded, views, depth);
                });
    }

    private CompletionStage<Void> loadViewSources(Map<Integer, Relation> loaded, List<Integer> views, int depth) {
        String list = views.stream().map(String::valueOf).collect(Collectors.joining(","));
        return query.apply("SELECT DISTINCT r.ev_class, bc.oid, bn.nspname, bc.relname, bc.relkind, ba.attname"
                        + " FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d"
                        + " ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid"
                        + " AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0"
                        + " JOIN pg_catalog.pg_class bc ON bc.oid = d.refobjid"
                        + " JOIN pg_catalog.pg_namespace bn ON bn.oid = bc.relnamespace"
                        + " JOIN pg_catalog.pg_attribute ba ON ba.attrelid = bc.oid AND ba.attnum = d.refobjsubid"
                        + " WHERE r.ev_class IN (" + list + ") AND d.refobjid <> r.ev_class")
                .thenCompose(rows -> {
                    Map<Integer, Set<Integer>> nestedViews = new HashMap<>();
                    for (List<String> row : rows) {
                        Relation view = loaded.get(Integer.parseInt(row.get(0)));
                        char kind = row.get(4).charAt(0);
                        if (kind == 'v' || kind == 'm') {
                            nestedViews.computeIfAbsent(view.oid(), v -> new HashSet<>()).add(Integer.parseInt(row.get(1)));
                        } else {
                            view.viewSources().add(new Column(row.get(2), row.get(3), row.get(5)));
                        }
                    }
                    Set<Integer> nested = new HashSet<>();
                    nestedViews.values().forEach(nested::addAll);
                    loaded.values().forEach(this::store);
                    if (nested.isEmpty()) {
                        return CompletableFuture.completedFuture(null);
                    }
                    // views over views: load the inner ones, then give the outer ones their base columns too
                    return load(nested, depth + 1).thenRun(() -> nestedViews.forEach((outer, inners) -> {
                        Relation o = byOid.get(outer);
                        for (int inner : inners) {
                            Relation i = byOid.get(inner);
                            if (o != null && i != null) {
                                o.viewSources().addAll(i.viewSources());
                            }
                        }
                    }));
                });
    }

    private void store(Relation r) {
        byOid.put(r.oid(), new Relation(r.oid(), r.schema(), r.name(), r.kind(), Map.copyOf(r.columns()),
                Map.copyOf(r.types()), java.util.Collections.synchronizedSet(new LinkedHashSet<>(r.viewSources())), r.loadedAtNanos()));
    }

    static List<Column> copy(Set<Column> s) {
        synchronized (s) {
            return new ArrayList<>(s);
        }
    }
}
