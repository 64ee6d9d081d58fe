package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.postgres.RowDescription;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
import java.util.Collection;
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
public final class Catalog {
    /** A column of a base table. */
    public record Column(String schema, String table, String name) {
    }

    /**
     * A relation with its columns by attnum, the types their values are {@linkplain #maskedAs masked as}; for views,
     * the base columns they use.
     */
    public record Relation(int oid, String schema, String name, char kind, Map<Integer, String> columns,
                           Map<Integer, Integer> types, Set<Column> viewSources, long loadedAtNanos) {
        boolean isView() {
            return kind == 'v' || kind == 'm';
        }
    }

    private final Function<String, CompletionStage<List<List<String>>>> query;
    private final java.util.function.BiFunction<String, String, CompletionStage<RowDescription>> describe;
    private final long ttlNanos;
    private final Map<Integer, Relation> byOid = new ConcurrentHashMap<>();
    /**
     * User-defined type OID to: the relation whose rows it is (also for arrays of them), 0 for any other type; load
     * time; the type its values are masked as ({@link #maskedAs}); 1 when it is the row type itself (not an array);
     * the element type of an array type (else 0).
     */
    private final Map<Integer, long[]> userTypes = new ConcurrentHashMap<>();

    private final RelationGraph graph;

    /** The first OID of objects made after initdb: types below it are built in, none is a row of a user table. */
    static final int FIRST_USER_OID = 16384;

    public Catalog(Function<String, CompletionStage<List<List<String>>>> query, long ttlMillis) {
        this(query, (schema, sql) -> CompletableFuture.failedFuture(
                new UnsupportedOperationException("no statement is described here")), ttlMillis);
    }

    /**
     * @param describe the columns a statement would return, parsed (not run) with a schema as search_path (see
     *                 {@link io.dbwarden.proxy.internal.SideConnection#describe})
     */
    public Catalog(Function<String, CompletionStage<List<List<String>>>> query,
                   java.util.function.BiFunction<String, String, CompletionStage<RowDescription>> describe,
                   long ttlMillis) {
        this.query = query;
        this.describe = describe;
        this.ttlNanos = ttlMillis * 1_000_000L;
        this.graph = new RelationGraph(query, ttlMillis);
    }

    /** The columns {@code sql} would return with {@code schema} as search_path (null: none), as the server says. */
    public CompletionStage<RowDescription> describe(String schema, String sql) {
        return describe.apply(schema, sql);
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
     * Completes when these relations are loaded afresh, whatever is cached (null stage: none given): for a result
     * whose values are whole rows, whose fields are told apart only by their positions, which a column dropped or
     * added outside the proxy since the last load would shift.
     */
    public CompletionStage<Void> reload(Set<Integer> oids) {
        return oids.isEmpty() ? null : load(oids, 0);
    }

    /**
     * The tables whose column rules also apply to the same columns of {@code schema.table}: those it is a partition or
     * inheritance child of (nearest first; its rows are theirs under another name), then its own partitions and
     * children (their rows are among its rows). Empty for other tables and while the graph was never loaded.
     */
    public List<QualifiedName> lineage(String schema, String table) {
        Ancestry g = graph.current();
        if (g == null) {
            return List.of();
        }
        List<QualifiedName> up = g.ancestors(schema, table);
        List<QualifiedName> down = g.descendants(schema, table);
        if (down.isEmpty()) {
            return up;
        }
        List<QualifiedName> all = new ArrayList<>(up.size() + down.size());
        all.addAll(up);
        all.addAll(down);
        return all;
    }

    /** The graph as loaded, or {@link Ancestry#NONE} while it never was. */
    public Ancestry ancestry() {
        Ancestry g = graph.current();
        return g == null ? Ancestry.NONE : g;
    }

    /** The graph of partitions, inheritance children and views this catalog keeps (policy decisions use it too). */
    public RelationGraph graph() {
        return graph;
    }

    /**
     * Names found to be of no relation, and when: statements that name them (the session's temporary tables) are
     * not looked up again for {@link #ABSENT_NANOS}.
     */
    private final Map<QualifiedName, Long> absent = new ConcurrentHashMap<>();
    static final long ABSENT_NANOS = 5_000_000_000L;

    /**
     * Whether any of these names is a relation the proxy's connection sees (see {@link RelationGraph#anyExists});
     * names found to be none within the last {@link #ABSENT_NANOS} are not asked about again.
     */
    public CompletionStage<Boolean> anyExists(List<QualifiedName> names) {
        long now = System.nanoTime();
        List<QualifiedName> ask = new ArrayList<>();
        for (QualifiedName n : names) {
            Long at = absent.get(n);
            if (at == null || now - at >= ABSENT_NANOS) {
                ask.add(n);
            }
        }
        if (ask.isEmpty()) {
            return CompletableFuture.completedFuture(false);
        }
        return graph.anyExists(ask).thenApply(exists -> {
            if (!exists) {
                if (absent.size() > 10_000) {
                    absent.clear(); // names that never become relations (typos, generated temporary names)
                }
                ask.forEach(n -> absent.put(n, now));
            }
            return exists;
        });
    }

    /**
     * Whether some session's temporary schema ({@code pg_temp_3}) holds a relation of one of these names, as the
     * catalog is now (not as the graph last loaded it): a session's own temporary table hides a table of the same name
     * from it, but not from the proxy's connection, which would describe the other table.
     */
    public CompletionStage<Boolean> temporaryRelationNamed(Collection<String> names) {
        if (names.isEmpty()) {
            return CompletableFuture.completedFuture(false);
        }
        StringBuilder in = new StringBuilder();
        for (String n : names) {
            if (n.indexOf('\\') >= 0) {
                return CompletableFuture.completedFuture(true); // not put into SQL: taken as one
            }
            in.append(in.isEmpty() ? "" : ", ").append(literal(n));
        }
        return query.apply("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
                + " ON n.oid = c.relnamespace WHERE n.nspname LIKE 'pg\\_temp\\_%' AND c.relname IN (" + in + "))")
                .thenApply(rows -> !rows.isEmpty() && "t".equals(rows.get(0).get(0)));
    }

    /** Completes when the graph is loaded (null stage: it is); see {@link RelationGraph#ensureLoaded}. */
    public CompletionStage<Void> ensureInheritance() {
        return graph.ensureLoaded();
    }

    /**
     * The relation whose rows values of this type are (a table's row type, or an array of them), when it is loaded:
     * null for other types and for types not looked up with {@link #ensureTypes}.
     */
    public Relation rowsOfType(int typeOid) {
        long[] entry = userTypes.get(typeOid);
        if (entry == null || entry[0] == 0 || System.nanoTime() - entry[1] >= ttlNanos) {
            return null;
        }
        return get((int) entry[0]);
    }

    /**
     * The types of the fields of this row type's values (a table's or a composite type's, not an array of them) in
     * their order, as {@link #maskedAs} gives them; null when it is no row type or not loaded.
     */
    public int[] fieldTypes(int typeOid) {
        long[] entry = userTypes.get(typeOid);
        Relation r = entry == null || entry[3] == 0 ? null : rowsOfType(typeOid);
        return r == null ? null : new java.util.TreeMap<>(r.types()).values().stream().mapToInt(Integer::intValue)
                .toArray();
    }

    /** The element type of this user-defined array type when it was looked up; else 0. */
    public int elementType(int typeOid) {
        long[] entry = userTypes.get(typeOid);
        return entry == null || System.nanoTime() - entry[1] >= ttlNanos ? 0 : (int) entry[4];
    }

    /** Whether the type was looked up (and has not expired): then {@link #rowsOfType} is the answer. */
    public boolean typeKnown(int typeOid) {
        long[] entry = userTypes.get(typeOid);
        return entry != null && System.nanoTime() - entry[1] < ttlNanos
                && (entry[0] == 0 || get((int) entry[0]) != null);
    }

    /**
     * The built-in type whose values masking treats this type's as: text (25) for a string type that an extension
     * or a domain makes ({@code citext}, a domain over text or citext: the same text in both formats as text),
     * text[] (1009) for arrays of those; else the type itself (built-in types, other or unknown user types).
     */
    public int maskedAs(int typeOid) {
        if (typeOid < FIRST_USER_OID) {
            return typeOid;
        }
        long[] entry = userTypes.get(typeOid);
        return entry == null || System.nanoTime() - entry[1] >= ttlNanos ? typeOid : (int) entry[2];
    }

    /** String types whose text and binary formats are both the plain string: their output and send functions. */
    private static final String STRING_OUT = "'textout', 'varcharout', 'bpcharout', 'citextout'";
    private static final String STRING_SEND = "'textsend', 'varcharsend', 'bpcharsend', 'citextsend'";

    /**
     * SQL for the type {@link #maskedAs} answers, given SQL for a type OID. A domain shares its base type's output and
     * send functions, so domains (over domains) of string types are string types here too; arrays are those sent
     * with array_send, element by element in the element type's format.
     */
    static String maskedAsSql(String type) {
        return "CASE WHEN " + type + " < " + FIRST_USER_OID + " THEN " + type + " WHEN " + stringTypeSql(type)
                + " THEN 25 WHEN " + stringTypeSql("(SELECT y.typelem FROM"
                + " pg_catalog.pg_type y WHERE y.oid = " + type + " AND y.typsend = 'pg_catalog.array_send'"
                + "::pg_catalog.regproc AND y.typoutput = 'pg_catalog.array_out'::pg_catalog.regproc)")
                + " THEN 1009 ELSE " + type + " END";
    }

    private static String stringTypeSql(String type) {
        return "EXISTS (SELECT 1 FROM pg_catalog.pg_type x JOIN pg_catalog.pg_proc o ON o.oid = x.typoutput"
                + " JOIN pg_catalog.pg_proc s ON s.oid = x.typsend WHERE x.oid = " + type + " AND o.proname IN ("
                + STRING_OUT + ") AND s.proname IN (" + STRING_SEND + "))";
    }

    /**
     * Completes when every user-defined type among {@code typeOids} is known: whether it is a row type of a relation
     * (which is then loaded too), and the type it is masked as (null stage: nothing to look up).
     */
    public CompletionStage<Void> ensureTypes(Set<Integer> typeOids) {
        return ensureTypes(typeOids, 0);
    }

    /** @param depth how deep in row types within row types this lookup is (the fields' own types are looked up too) */
    private CompletionStage<Void> ensureTypes(Set<Integer> typeOids, int depth) {
        Set<Integer> missing = new HashSet<>();
        for (int oid : typeOids) {
            if (oid >= FIRST_USER_OID && !typeKnown(oid)) {
                missing.add(oid);
            }
        }
        if (missing.isEmpty()) {
            return null;
        }
        String list = missing.stream().map(String::valueOf).collect(Collectors.joining(","));
        return query.apply("SELECT t.oid, COALESCE(NULLIF(t.typrelid, 0), e.typrelid, 0), " + maskedAsSql("t.oid")
                        + ", CASE WHEN t.typrelid <> 0 THEN 1 ELSE 0 END, CASE WHEN t.typlen = -1 THEN t.typelem"
                        + " ELSE 0 END FROM pg_catalog.pg_type t"
                        + " LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typelem <> 0"
                        + " WHERE t.oid IN (" + list + ")")
                .thenCompose(rows -> {
                    long now = System.nanoTime();
                    Set<Integer> relations = new HashSet<>();
                    for (int oid : missing) {
                        userTypes.put(oid, new long[] {0, now, oid, 0, 0}); // unknown to the server: no relation's rows
                    }
                    for (List<String> row : rows) {
                        int rel = Integer.parseInt(row.get(1));
                        userTypes.put(Integer.parseInt(row.get(0)),
                                new long[] {rel, now, Integer.parseInt(row.get(2)), Integer.parseInt(row.get(3)),
                                        Long.parseLong(row.get(4))});
                        if (rel != 0) {
                            relations.add(rel);
                        }
                    }
                    CompletionStage<Void> loading = ensure(relations);
                    CompletionStage<Void> loaded = loading != null ? loading : CompletableFuture.completedFuture(null);
                    if (relations.isEmpty() || depth >= MAX_NESTED_ROW_TYPES) {
                        return loaded;
                    }
                    // rows within rows, and arrays of rows: a field of a composite type is masked by its own fields'
                    // types, an element of an array of rows by the row type's
                    return loaded.thenCompose(v -> {
                        Set<Integer> fieldTypes = new HashSet<>();
                        for (List<String> row : rows) {
                            long element = Long.parseLong(row.get(4));
                            if (element >= FIRST_USER_OID) {
                                fieldTypes.add((int) element);
                            }
                        }
                        for (int rel : relations) {
                            Relation r = get(rel);
                            if (r != null) {
                                r.types().values().stream().filter(t -> t >= FIRST_USER_OID).forEach(fieldTypes::add);
                            }
                        }
                        CompletionStage<Void> nested = ensureTypes(fieldTypes, depth + 1);
                        return nested != null ? nested : CompletableFuture.completedFuture(null);
                    });
                });
    }

    /** How deep {@link #ensureTypes} follows row types within row types. */
    private static final int MAX_NESTED_ROW_TYPES = 4;

    /**
     * The relation a (schema-qualified) name resolves to, or null when there is none. Names are passed to the
     * server as quoted literals and resolved with format('%I.%I') + to_regclass, never spliced into SQL.
     */
    public CompletionStage<Relation> byName(String schema, String name) {
        String regclass = regclass(schema, name);
        if (regclass == null) {
            return CompletableFuture.completedFuture(null);
        }
        String sql = "SELECT " + regclass + "::pg_catalog.oid";
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

    /**
     * SQL resolving {@code schema.name} to its relation (NULL when there is none), the names passed as quoted
     * literals to format('%I.%I'), never spliced in as identifiers; null for a name holding a backslash, which is
     * not put into SQL at all.
     */
    static String regclass(String schema, String name) {
        if (schema.indexOf('\\') >= 0 || name.indexOf('\\') >= 0) {
            return null;
        }
        return "pg_catalog.to_regclass(pg_catalog.format('%I.%I', " + literal(schema) + ", " + literal(name) + "))";
    }

    private static String literal(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    /** Whether the catalog holds (or is loading) anything that DDL could make stale. */
    public boolean empty() {
        return byOid.isEmpty() && userTypes.isEmpty() && graph.empty();
    }

    public void invalidate() {
        byOid.clear();
        userTypes.clear();
        graph.invalidate(); // CREATE TABLE ... PARTITION OF, ATTACH PARTITION, INHERIT, CREATE VIEW
    }

    private CompletionStage<Void> load(Set<Integer> oids, int depth) {
        return load(oids, depth, false);
    }

    /** @param graphReloaded the inheritance graph was just reloaded for these relations: do not reload it again */
    private CompletionStage<Void> load(Set<Integer> oids, int depth, boolean graphReloaded) {
        String list = oids.stream().map(String::valueOf).collect(Collectors.joining(","));
        return query.apply("SELECT c.oid, n.nspname, c.relname, c.relkind, a.attnum, a.attname, "
                        + maskedAsSql("a.atttypid") + ","
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
                        unknownChild |= "t".equals(row.get(7))
                                && ancestry().ancestors(row.get(1), row.get(2)).isEmpty();
                    }
                    if (unknownChild && !graphReloaded) {
                        // a partition or child made since the graph was loaded (outside the proxy): its parents'
                        // rules must apply before its columns are judged
                        graph.invalidate(); // a load under way may have started before the child existed
                        CompletionStage<Void> reloaded = graph.ensureLoaded();
                        if (reloaded != null) {
                            return reloaded.thenCompose(v -> load(oids, depth, true));
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
