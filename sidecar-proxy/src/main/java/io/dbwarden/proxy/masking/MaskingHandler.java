package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.postgres.DataRows;
import io.dbwarden.proxy.postgres.RowDescription;
import io.dbwarden.proxy.sql.SqlToken;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Masks one statement's rows. On RowDescription it works out, per column, which rule applies (source column by
 * table OID + attnum, view lineage, expression lineage) and whether detectors run; DataRows are then rewritten
 * only where a column needs it. Values are masked in a form valid for their type: text types get the masked text
 * (text and binary formats are the same bytes), any other type becomes NULL and is counted as such.
 */
final class MaskingHandler implements ResultHandler {
    /** text, varchar, bpchar, name, json, jsonb, xml, unknown */
    private static final Set<Integer> TEXT_TYPES = Set.of(25, 1043, 1042, 19, 114, 3802, 142, 705);
    private static final int JSON = 114;
    private static final int XML = 142;
    private static final int JSONB = 3802;
    private static final int RECORD = 2249;

    private sealed interface Plan {
        record Pass() implements Plan {
        }

        /**
         * @param rowAsJson the table when the column is its rows as JSON objects keyed by column name
         *                  ({@link ExpressionLineage#rowAsJson}): then only the masked columns' members are masked
         * @param wholeRow  the table when the server names the column as that table's whole row (SELECT c FROM
         *                  customers c): then each field is masked by its column's rule
         */
        record Rule(MaskingRules.ColumnRule rule, String column, boolean textual, QualifiedName rowAsJson,
                    QualifiedName wholeRow) implements Plan {
            Rule(MaskingRules.ColumnRule rule, String column, boolean textual) {
                this(rule, column, textual, null, null);
            }
        }

        /** Detectors over a value of a text type, inside json, jsonb and xml documents value by value. */
        record Detect(int typeOid) implements Plan {
        }

        /**
         * Detectors over a value whose text sits inside array or record syntax ({@link MaskingHandler#carriesText}):
         * arrays of text types and documents element by element ({@link TextArrays}), records field by field
         * ({@link Records}); any other value they find something in becomes NULL, valid for any type, as a
         * replacement could break its syntax.
         */
        record DetectWhole(int typeOid) implements Plan {
        }

        /** The column's source could not be resolved: mask it whole (fail closed). */
        record Unresolved(boolean textual) implements Plan {
        }
    }

    private static final Plan PASS = new Plan.Pass();
    /**
     * Besides {@link TextArrays#TYPES}, json[], jsonb[], xml[], record and record[]: values that carry text inside
     * array or record syntax.
     */
    private static final Set<Integer> TEXT_CARRYING = Set.of(199, 3807, 143, 2249, 2287);

    private final MaskingRules rules;
    private final Catalog catalog;
    private final StatementContext context;
    private Plan[] plan;
    private boolean active;
    private int[] typeOids;
    private final Map<String, Long> counts = new LinkedHashMap<>();

    /** The tables the full SQL parser found in the statement that runs (empty when it has none). */
    private final List<QualifiedName> parsedTables;

    MaskingHandler(MaskingRules rules, Catalog catalog, StatementContext context, List<QualifiedName> parsedTables) {
        this.rules = rules;
        this.catalog = catalog;
        this.context = context;
        this.parsedTables = parsedTables;
    }

    private List<SqlToken> tablesRead;
    private List<QualifiedName> tablesOfRead;

    /**
     * What {@code tokens} (the statement that runs, or its COPY query) read: see {@link MaskingFilter#tablesOf};
     * classified once per token list (the graph check and the lineage of the same result both ask).
     */
    private List<QualifiedName> tables(List<SqlToken> tokens) {
        if (tokens != tablesRead) {
            tablesOfRead = MaskingFilter.tablesOf(tokens, parsedTables);
            tablesRead = tokens;
        }
        return tablesOfRead;
    }

    @Override
    public CompletionStage<Void> onRowDescription(ByteBuf frame) {
        RowDescription d = RowDescription.decode(frame);
        if (rules.columns().isEmpty()) {
            Set<Integer> userTypes = new HashSet<>();
            for (RowDescription.Field f : d.fields()) {
                if (f.typeOid() >= Catalog.FIRST_USER_OID) {
                    userTypes.add(f.typeOid()); // an extension's string type (citext) is masked as text
                }
            }
            // detectors only: they look at the text columns, which this message's types tell (user-defined ones once
            // looked up); which table a column comes from matters to column rules alone, so no catalog lookup (nor
            // its failure) stands in the way of the others
            CompletionStage<Void> rows = then(userTypes.isEmpty() ? null : catalog.ensureTypes(userTypes),
                    () -> reloadRows(d, false));
            if (rows == null) {
                plan(d, false);
                return null;
            }
            return rows.handle((v, err) -> {
                // a type not looked up is not text: detectors look at it whole; a row type not reloaded is read by
                // the fields' types as last seen, checked against their values (detectField)
                plan(d, false);
                return null;
            });
        }
        List<SqlToken> tokens = context.runs().tokens();
        CompletionStage<Void> loading = lookups(d, tokens, !explains() && !readsUnknownNamedQuery());
        if (loading == null) {
            plan(d, false);
            return null;
        }
        return loading.handle((v, err) -> {
            plan(d, err != null);
            return null;
        });
    }

    /**
     * What planning a result's columns under column rules needs from the catalog: the relations its columns come
     * from, whole rows, user-defined types, the graph of partitions and views (reloaded for views made since it
     * was loaded); null stage when all is at hand.
     *
     * @param tokens     the statement whose text tells what computed columns are made of
     * @param byText     whether computed columns are ruled by that text (not for EXPLAIN, FETCH, EXECUTE)
     */
    private CompletionStage<Void> lookups(RowDescription d, List<SqlToken> tokens, boolean byText) {
        Set<Integer> oids = new HashSet<>();
        Set<Integer> userTypes = new HashSet<>();
        Set<Integer> wholeRows = new HashSet<>();
        boolean computed = false;
        for (RowDescription.Field f : d.fields()) {
            if (f.tableOid() != 0 && f.attnum() == 0 && f.typeOid() >= Catalog.FIRST_USER_OID) {
                wholeRows.add(f.tableOid()); // masked field by field: by positions, so by the columns as they are now
            } else if (f.tableOid() != 0) {
                oids.add(f.tableOid());
            }
            if (f.typeOid() >= Catalog.FIRST_USER_OID) {
                // an extension's string type (citext) is masked as text; a computed column's may be a table's row
                // type: SELECT f FROM f() f, f() returning rows
                userTypes.add(f.typeOid());
            }
            computed |= f.tableOid() == 0;
        }
        boolean readsText = computed && byText;
        return then(then(all(catalog.ensure(oids), catalog.reload(wholeRows),
                userTypes.isEmpty() ? null : catalog.ensureTypes(userTypes), catalog.ensureInheritance()),
                () -> reloadRows(d, true)), () -> viewsTheGraphMisses(d, readsText ? tokens : null));
    }

    /**
     * Reloads the relations whose rows (or arrays of rows) this result's values are, once their types are known:
     * their fields are told apart by position and read by the types the catalog has for them, which a column
     * dropped, added or changed outside the proxy since the last load would shift; null stage when there are none.
     *
     * @param columnRules under column rules only arrays of a table's or view's rows (array_agg(c), masked field by
     *                    field; a whole row the server names is reloaded with the other lookups, and other row
     *                    values are masked whole); with detectors alone the rows of tables and views, searched
     *                    field by field (not values of composite types, as common in columns as whole rows are
     *                    rare: their fields are checked against the types last seen, see detectField)
     */
    private CompletionStage<Void> reloadRows(RowDescription d, boolean columnRules) {
        Set<Integer> relations = new HashSet<>();
        for (RowDescription.Field f : d.fields()) {
            if (f.typeOid() >= Catalog.FIRST_USER_OID && (!columnRules
                    || (f.tableOid() == 0 && catalog.elementType(f.typeOid()) != 0))) {
                Catalog.Relation rel = catalog.rowsOfType(f.typeOid());
                if (rel != null && rel.kind() != 'c') {
                    relations.add(rel.oid());
                }
            }
        }
        return catalog.reload(relations);
    }

    private void plan(RowDescription d, boolean catalogFailed) {
        int[] types = new int[d.fields().size()];
        Plan[] p = planFields(d, catalogFailed, context.runs().tokens(), explains(), readsUnknownNamedQuery(), types);
        this.typeOids = types;
        this.plan = p;
        boolean any = false;
        for (Plan x : p) {
            any |= x != PASS;
        }
        this.active = any;
    }

    /**
     * How each column of a result is masked.
     *
     * @param tokens       the statement whose text tells what computed columns are made of
     * @param explains     the result is a query plan (EXPLAIN), not rows
     * @param unknownNamed the statement runs a named query the proxy did not see defined (FETCH, EXECUTE)
     * @param types        receives each column's type as it is masked ({@link Catalog#maskedAs})
     */
    private Plan[] planFields(RowDescription d, boolean catalogFailed, List<SqlToken> tokens, boolean explains,
                              boolean unknownNamed, int[] types) {
        List<RowDescription.Field> fields = d.fields();
        Plan[] p = new Plan[fields.size()];
        ExpressionLineage lineage = null;
        for (int i = 0; i < fields.size(); i++) {
            RowDescription.Field f = fields.get(i);
            int type = catalog.maskedAs(f.typeOid());
            types[i] = type;
            boolean textual = TEXT_TYPES.contains(type);
            Plan plan;
            Plan byType = f.tableOid() == 0 && f.typeOid() >= Catalog.FIRST_USER_OID && !rules.columns().isEmpty()
                    ? rowTypePlan(f, textual, catalogFailed) : null;
            if (rules.columns().isEmpty()) {
                plan = PASS; // detectors only (see onRowDescription): they decide below
            } else if (f.tableOid() != 0) {
                Catalog.Relation rel = catalogFailed ? null : catalog.get(f.tableOid());
                plan = rel == null ? new Plan.Unresolved(textual) : sourcePlan(rel, f, textual);
            } else if (byType != null) {
                plan = byType;
                if (byType instanceof Plan.Rule r && catalog.elementType(f.typeOid()) != 0 && !explains) {
                    // array_agg(c): the table's own rows (the server tells their type, the statement that they are
                    // c's whole rows, not rows built from other values), masked field by field like SELECT c
                    if (lineage == null) {
                        lineage = ExpressionLineage.of(tokens, tables(tokens), catalog.ancestry());
                    }
                    QualifiedName rows = lineage.rowsAsArray(i, fields.size());
                    Catalog.Relation rel = catalog.rowsOfType(f.typeOid());
                    if (rows != null && rel != null && fieldsKnown(rel) && rows.name().equals(rel.name())
                            && (rows.schema() == null || rows.schema().equals(rel.schema()))) {
                        plan = new Plan.Rule(r.rule(), r.column(), textual, null,
                                new QualifiedName(rel.schema(), rel.name()));
                    }
                }
            } else if (explains) {
                // a query plan names tables, columns and the statement's own constants, never stored values (ANALYZE
                // adds counts and timings): masking it by the columns the explained query reads (EXPLAIN SELECT *
                // over a table with a masked column) would only garble the plan; detectors still look at it
                plan = PASS;
            } else if (unknownNamed) {
                // FETCH from a cursor / EXECUTE of a statement the proxy did not see defined: what the computed
                // column is made of is unknown, so it is treated like a column the catalog cannot resolve
                plan = new Plan.Unresolved(textual);
            } else if (catalogFailed) {
                // which tables are partitions or children of masked ones is unknown: lower(secret) FROM a partition
                // would pass under its own name, so computed columns go like columns the catalog cannot resolve
                plan = new Plan.Unresolved(textual);
            } else {
                if (lineage == null) {
                    lineage = ExpressionLineage.of(tokens, tables(tokens), catalog.ancestry());
                }
                MaskingRules.ColumnRule rule = lineage.ruleFor(i, fields.size(), rules);
                QualifiedName rowAsJson = rule != null ? lineage.rowAsJson(i, fields.size()) : null;
                if (rule == null) {
                    // a computed column named like a masked column: typically a function returning rows of a masked
                    // table (SELECT * FROM customers_of(...)), whose columns carry no table of origin
                    rule = rules.columns().stream().filter(r -> r.matchesColumnName(f.name())).findFirst()
                            .orElse(null);
                }
                plan = rule != null ? new Plan.Rule(rule, "(expression " + f.name() + ")", textual, rowAsJson, null)
                        : PASS;
            }
            if (plan == PASS && !rules.detectors().isEmpty()) {
                plan = textual ? new Plan.Detect(type) : carriesText(type) ? new Plan.DetectWhole(type) : PASS;
            }
            p[i] = plan;
        }
        return p;
    }

    /**
     * For a computed column of a user-defined type: when the type is the row type of a table with masked columns
     * (rows a function returns, a whole row under another name), its rule; when the type could not be looked up,
     * unresolved (fail closed); else null (an enum, a domain, an extension's type: decided as any computed column).
     */
    private Plan rowTypePlan(RowDescription.Field f, boolean textual, boolean catalogFailed) {
        if (catalogFailed || !catalog.typeKnown(f.typeOid())) {
            return new Plan.Unresolved(textual);
        }
        Catalog.Relation rel = catalog.rowsOfType(f.typeOid());
        // a value of a table's row type may be built from anything (ROW(other.secret, ...)::customers): masked whole
        return rel == null ? null : rowPlan(rel, textual, false);
    }

    /**
     * Whole rows of a relation: the rule of a masked column among them, null when none of its columns is masked.
     *
     * @param ownRows whether the values are the relation's own rows, as the server says of a column that is its
     *                whole row: then a table's are masked field by field ({@link Plan.Rule#wholeRow}), else whole
     */
    private Plan.Rule rowPlan(Catalog.Relation rel, boolean textual, boolean ownRows) {
        List<QualifiedName> line = ExpressionLineage.lineOf(new QualifiedName(rel.schema(), rel.name()),
                rules.defaultSchema(), catalog.ancestry());
        for (MaskingRules.ColumnRule r : rules.columns()) {
            for (QualifiedName t : line) {
                // a table's row holds its own columns; a view's may be computed from masked ones under other names
                if (r.mayBeInRowOf(t.schema(), t.name()) && (rel.isView()
                        || rel.columns().values().stream().anyMatch(c -> r.matches(t.schema(), t.name(), c)))) {
                    return new Plan.Rule(r, "(rows of " + rel.schema() + "." + rel.name() + ")", textual, null,
                            ownRows && fieldsKnown(rel) ? new QualifiedName(rel.schema(), rel.name()) : null);
                }
            }
        }
        // a view's row holds the base columns it reads under its own names (a rule naming only the base column does
        // not reach the view by its name): masked whole when one of them is masked
        MaskingRules.ColumnRule r = rel.isView() ? viewRule(rel, null) : null;
        return r == null ? null : new Plan.Rule(r, "(rows of " + rel.schema() + "." + rel.name() + ")", textual, null,
                ownRows && fieldsKnown(rel) ? new QualifiedName(rel.schema(), rel.name()) : null);
    }

    /**
     * Whether each field of the relation's rows has a rule of its own: a table's columns, a view's by what its
     * definition computes them from ({@link #viewRule}); a view whose definition is not known is masked whole (its
     * fields may be computed from anything).
     */
    private boolean fieldsKnown(Catalog.Relation rel) {
        if (!rel.isView()) {
            return true;
        }
        io.dbwarden.proxy.sql.Ancestry.ViewColumns v = catalog.ancestry().viewColumns(rel.schema(), rel.name());
        return v != null && v.definition() != null;
    }

    /**
     * The rule of a view's column by what the view's definition computes it from
     * ({@link ExpressionLineage#viewDefinitionRule}); without the definition, and for its whole row (null column),
     * {@link MaskingRules#viewColumnRule} by the base columns it reads.
     */
    private MaskingRules.ColumnRule viewRule(Catalog.Relation view, String column) {
        io.dbwarden.proxy.sql.Ancestry ancestry = catalog.ancestry();
        io.dbwarden.proxy.sql.Ancestry.ViewColumns defined = column == null ? null
                : ancestry.viewColumns(view.schema(), view.name());
        if (defined != null && defined.definition() != null) {
            return ExpressionLineage.viewDefinitionRule(defined, column, rules, ancestry);
        }
        return MaskingRules.viewColumnRule(column, Catalog.copy(view.viewSources()), Catalog.Column::name,
                src -> rules.ruleFor(src.schema(), src.table(), src.name(), catalog.lineage(src.schema(),
                        src.table())));
    }

    /** {@code first}, then the stage {@code next} makes (null stages are done already); null when both are null. */
    private static CompletionStage<Void> then(CompletionStage<Void> first,
                                              java.util.function.Supplier<CompletionStage<Void>> next) {
        if (first == null) {
            return next.get();
        }
        return first.thenCompose(v -> {
            CompletionStage<Void> second = next.get();
            return second != null ? second : CompletableFuture.completedFuture(null);
        });
    }

    /**
     * Reloads the graph of relations when a view this result's columns come from is not in it (made outside the
     * proxy since the graph was loaded): what the view's columns are computed from is read from its definition
     * there ({@link #viewRule}); null stage when the graph knows them all.
     */
    private CompletionStage<Void> viewsTheGraphMisses(RowDescription d, List<SqlToken> computedFrom) {
        io.dbwarden.proxy.sql.Ancestry graph = catalog.ancestry();
        for (RowDescription.Field f : d.fields()) {
            Catalog.Relation rel = f.tableOid() == 0 ? null : catalog.get(f.tableOid());
            if (rel != null && rel.isView() && !graph.knows(rel.schema(), rel.name())) {
                return catalog.graph().ensureLoadedSince(System.nanoTime());
            }
        }
        return computedFrom != null ? relationsTheGraphMisses(computedFrom) : null;
    }

    /**
     * Reloads the graph of relations when the statement reads a relation it does not know and that exists: a view
     * made outside the proxy since the graph was loaded, whose columns a computed column ({@code lower(contact)}) or
     * a COPY of a query may read; what the view computes them from is in the next graph. Names of no relation (the
     * session's temporary tables, typos) are looked up again after a few seconds ({@link Catalog#anyExists}); null
     * stage when the graph knows every relation the statement names.
     */
    private CompletionStage<Void> relationsTheGraphMisses(List<SqlToken> tokens) {
        List<QualifiedName> unknown = catalog.ancestry().unknown(tables(tokens), List.of(rules.defaultSchema()));
        if (unknown.isEmpty()) {
            return null;
        }
        long since = System.nanoTime();
        return catalog.anyExists(unknown).thenCompose(exists -> {
            CompletionStage<Void> newer = exists ? catalog.graph().ensureLoadedSince(since) : null;
            return newer != null ? newer : CompletableFuture.<Void>completedFuture(null);
        });
    }

    /** Completes when every given stage has (null stages are done already); null when all are null. */
    private static CompletionStage<Void> all(CompletionStage<?>... stages) {
        CompletableFuture<?>[] pending = java.util.Arrays.stream(stages).filter(java.util.Objects::nonNull)
                .map(CompletionStage::toCompletableFuture).toArray(CompletableFuture[]::new);
        return pending.length == 0 ? null : CompletableFuture.allOf(pending);
    }

    /** EXPLAIN: the result is the plan of the statement, not its rows. */
    private boolean explains() {
        return context.runs().normalized().startsWith("explain");
    }

    /** The statement runs a named query (cursor, prepared statement) the session did not define through the proxy. */
    private boolean readsUnknownNamedQuery() {
        String n = context.runs().normalized(); // starts with the lower-cased first keyword
        return n.startsWith("fetch") || n.startsWith("move") || n.startsWith("execute");
    }

    private Plan sourcePlan(Catalog.Relation rel, RowDescription.Field f, boolean textual) {
        if (f.attnum() == 0 && f.typeOid() >= Catalog.FIRST_USER_OID) {
            // the server names the relation whose whole row this is (SELECT c FROM customers c)
            Plan.Rule row = rowPlan(rel, textual, true);
            return row != null ? row : PASS;
        }
        String column = rel.columns().get(f.attnum());
        if (column == null) {
            return new Plan.Unresolved(textual);
        }
        MaskingRules.ColumnRule direct = rules.ruleFor(rel.schema(), rel.name(), column,
                catalog.lineage(rel.schema(), rel.name()));
        String label = rel.schema() + "." + rel.name() + "." + column;
        if (direct != null) {
            return new Plan.Rule(direct, label, textual);
        }
        if (rel.isView()) {
            // a view column is masked when it is (or may be computed from) a masked base column the view reads
            MaskingRules.ColumnRule r = viewRule(rel, column);
            if (r != null) {
                return new Plan.Rule(r, label, textual);
            }
        }
        return PASS;
    }

    @Override
    public ByteBuf onDataRow(ByteBuf row) {
        if (plan == null) {
            return withoutDescription(row);
        }
        if (!active) {
            return row;
        }
        int[] offsets = DataRows.columnOffsets(row);
        byte[][] replacements = null;
        for (int c = 0; c < offsets.length && c < plan.length; c++) {
            Plan p = plan[c];
            if (p == PASS) {
                continue;
            }
            int len = row.getInt(offsets[c]);
            if (len < 0) {
                continue; // NULL stays NULL
            }
            byte[] r = switch (p) {
                case Plan.Rule rule -> rule.wholeRow() != null
                        ? maskRow(row, offsets[c] + 4, len, c, rule)
                        : maskWhole(row, offsets[c] + 4, len, c, rule.textual(), rule.rule().masker(),
                        rule.rowAsJson(), "column " + rule.column() + " " + rule.rule().name() + ":"
                                + rule.rule().masker().label());
                case Plan.Unresolved u -> maskWhole(row, offsets[c] + 4, len, c, u.textual(), null, null,
                        "unresolved column " + c + ":redact");
                case Plan.Detect ignored -> detect(row, offsets[c] + 4, len, c);
                case Plan.DetectWhole w -> {
                    byte[] value = new byte[len];
                    row.getBytes(offsets[c] + 4, value);
                    byte[] masked = detectWhole(value, w.typeOid());
                    yield masked == value ? null : masked == null ? DataRows.NULL : masked;
                }
                default -> null;
            };
            if (r != null) {
                if (replacements == null) {
                    replacements = new byte[offsets.length][];
                }
                replacements[c] = r;
            }
        }
        if (replacements == null) {
            return row;
        }
        ByteBuf out = DataRows.rebuild(row.alloc(), row, offsets, replacements);
        row.release();
        return out;
    }

    /**
     * Rows whose columns the proxy never saw described (a statement reused in a way it could not follow): nothing
     * is known about them, so every value goes (NULL is valid for every type).
     */
    private ByteBuf withoutDescription(ByteBuf row) {
        int[] offsets = DataRows.columnOffsets(row);
        byte[][] replacements = new byte[offsets.length][];
        for (int c = 0; c < offsets.length; c++) {
            if (row.getInt(offsets[c]) >= 0) {
                replacements[c] = DataRows.NULL;
                count("undescribed result:null");
            }
        }
        ByteBuf out = DataRows.rebuild(row.alloc(), row, offsets, replacements);
        row.release();
        return out;
    }

    private byte[] maskWhole(ByteBuf row, int at, int len, int column, boolean textual, Masker masker,
                             QualifiedName rowAsJson, String label) {
        if (!textual || (masker != null && masker.nulls() && rowAsJson == null)) {
            count(textual ? label : "nullified (type " + typeOids[column] + ") " + label);
            return DataRows.NULL;
        }
        String value = text(row, at, len, column);
        count(label);
        if (rowAsJson != null) {
            return encode(rowJsonMasked(value, rowAsJson), row, at, len, column, true);
        }
        return encode(maskedText(value, typeOids[column], masker), row, at, len, column, json(column));
    }

    /**
     * Rows of a relation as JSON objects ({@code row_to_json(c)}): keys are its column names, so the members of its
     * masked columns are masked, each by its own rule, the others looked at by the detectors.
     */
    private String rowJsonMasked(String value, QualifiedName rowAsJson) {
        String schema = rowAsJson.schema() != null ? rowAsJson.schema() : rules.defaultSchema();
        io.dbwarden.proxy.sql.Ancestry ancestry = catalog.ancestry();
        io.dbwarden.proxy.sql.Ancestry.ViewColumns view = ancestry.viewColumns(schema, rowAsJson.name());
        // a name without a schema may be a session's temporary view: its keys are masked as any of them masks them
        List<io.dbwarden.proxy.sql.Ancestry.ViewColumns> temporary = new java.util.ArrayList<>();
        if (rowAsJson.schema() == null) {
            for (String temp : ancestry.temporaryViewSchemas(rowAsJson.name())) {
                io.dbwarden.proxy.sql.Ancestry.ViewColumns v = ancestry.viewColumns(temp, rowAsJson.name());
                if (v != null) {
                    temporary.add(v);
                }
            }
        }
        return JsonMasking.members(value, key -> {
            // a view's keys are its columns' names, which may differ from the masked table columns they show
            MaskingRules.ColumnRule r = view != null ? ExpressionLineage.viewColumnRule(view, key, rules, ancestry)
                    : rules.ruleInRowOf(schema, rowAsJson.name(), key, catalog.lineage(schema, rowAsJson.name()));
            for (int i = 0; r == null && i < temporary.size(); i++) {
                r = ExpressionLineage.viewColumnRule(temporary.get(i), key, rules, ancestry);
            }
            return r == null ? null : r.masker();
        }, v -> rules.detectors().isEmpty() ? v : applyDetectors(v), this::spelledOut);
    }

    /**
     * A COPY value of a column under a rule (null: NULL): a text type's value masked as in a result
     * ({@link #maskedText(String, int, Masker)}, rows as JSON member by member); any other, or a nulling rule, NULL.
     */
    private String copyMasked(String value, Plan.Rule r, int typeOid) {
        if (!r.textual()) {
            return null;
        }
        if (r.rowAsJson() != null) {
            return rowJsonMasked(value, r.rowAsJson());
        }
        return r.rule().masker().nulls() ? null : maskedText(value, typeOid, r.rule().masker());
    }

    /** {@link #maskedText(String, int, Masker)} of a value's bytes, in either format (binary jsonb: a version byte). */
    private byte[] maskedText(byte[] value, int typeOid, Masker masker) {
        boolean versioned = typeOid == JSONB && value.length > 0 && value[0] == 1; // binary jsonb
        String text = new String(value, versioned ? 1 : 0, value.length - (versioned ? 1 : 0), StandardCharsets.UTF_8);
        return ((versioned ? "\u0001" : "") + maskedText(text, typeOid, masker)).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A value of a text type masked whole by {@code masker} (null: redacted): json and jsonb value by value, xml with
     * its markup kept, other text as the masker makes it.
     */
    private String maskedText(String value, int typeOid, Masker masker) {
        if (typeOid == JSON || typeOid == JSONB) {
            return JsonMasking.everything(value, masker, this::spelledOut);
        }
        if (typeOid == XML && masker != null) {
            String xml = XmlMasking.masked(value, masker); // markup kept, values masked
            return xml != null ? xml : Masker.REDACTED;
        }
        return masker == null ? Masker.REDACTED : masker.mask(value);
    }

    /**
     * A table's whole row ({@code SELECT c FROM customers c}), or an array of them ({@code array_agg(c)}, element by
     * element), masked field by field: each field by its column's rule (NULL for a field not of a text type, or a
     * nulling rule), the other fields through the detectors, so the row stays one its type reads. Only when the
     * value's type is that table's row type (or an array of it), whose fields the catalog knows; else, or when the
     * value cannot be read, it is masked whole by the rule.
     */
    private byte[] maskRow(ByteBuf row, int at, int len, int column, Plan.Rule rule) {
        String label = "column " + rule.column() + " " + rule.rule().name() + ":" + rule.rule().masker().label();
        int type = typeOids[column];
        int element = catalog.elementType(type); // array_agg(c): an array of the table's rows
        int rowType = element != 0 ? element : type;
        Catalog.Relation rel = catalog.rowsOfType(rowType);
        int[] fieldTypes = catalog.fieldTypes(rowType);
        QualifiedName table = rule.wholeRow();
        if (rel != null && fieldTypes != null && fieldsKnown(rel) && rel.schema().equals(table.schema())
                && rel.name().equals(table.name())) {
            List<String> columns = List.copyOf(new java.util.TreeMap<>(rel.columns()).values());
            List<QualifiedName> lineage = catalog.lineage(rel.schema(), rel.name());
            byte[] value = new byte[len];
            row.getBytes(at, value);
            try {
                Records.FieldMasker byColumn = (field, fieldType, index) -> {
                    MaskingRules.ColumnRule r = index < columns.size()
                            ? rules.ruleInRowOf(rel.schema(), rel.name(), columns.get(index), lineage) : null;
                    if (r == null && rel.isView() && index < columns.size()) {
                        r = viewRule(rel, columns.get(index)); // by what the view computes the field from
                    }
                    if (r == null) {
                        return rules.detectors().isEmpty() ? field : detectField(field, fieldType);
                    }
                    int as = catalog.maskedAs(fieldType);
                    String fieldLabel = "column " + rel.schema() + "." + rel.name() + "." + columns.get(index)
                            + " (in its row) " + r.name() + ":" + r.masker().label();
                    if (r.masker().nulls() || !TEXT_TYPES.contains(as)) {
                        count(r.masker().nulls() ? fieldLabel : "nullified (type " + fieldType + ") " + fieldLabel);
                        return null;
                    }
                    count(fieldLabel);
                    return maskedText(field, as, r.masker());
                };
                byte[] masked = element != 0
                        ? TextArrays.maskElements(value, e -> Records.mask(e, fieldTypes, byColumn))
                        : Records.mask(value, fieldTypes, byColumn);
                return masked == value ? null : masked;
            } catch (TextArrays.Unreadable e) {
                // masked whole below
            }
        }
        return maskWhole(row, at, len, column, rule.textual(), rule.rule().masker(), rule.rowAsJson(), label);
    }

    private boolean json(int column) {
        return typeOids[column] == JSON || typeOids[column] == JSONB;
    }

    private Set<String> spelledOut;

    /**
     * Whether a JSON key is spelled out in the statement (a name or a plain string literal in it, as in
     * {@code json_build_object('total', ...)}): such a key is the statement's, not data, and stays readable.
     */
    private boolean spelledOut(String key) {
        if (spelledOut == null) {
            Set<String> words = new HashSet<>();
            String text = context.runs().text();
            for (SqlToken t : context.runs().tokens()) {
                if (t.isName()) {
                    words.add(t.text());
                } else if (t.kind() == SqlToken.Kind.STRING && text.charAt(t.start()) == '\'') {
                    words.add(text.substring(t.start() + 1, t.end() - 1).replace("''", "'"));
                }
            }
            spelledOut = words;
        }
        return spelledOut.contains(key);
    }

    private byte[] detect(ByteBuf row, int at, int len, int column) {
        String value = text(row, at, len, column);
        String result = detectIn(value, typeOids[column]);
        if (result == null) {
            return DataRows.NULL;
        }
        return result == value ? null : encode(result, row, at, len, column, json(column));
    }

    /**
     * What detectors find masked in a value of type {@code typeOid} (a jsonb one may start with its binary format's
     * version byte): in json, jsonb and xml string by string ({@link JsonMasking#detected}, {@link XmlMasking}), so a
     * replacement is escaped and the document stays one, and what an escape hides is seen; the same instance when
     * nothing was found, null for NULL.
     */
    private String detectIn(String value, int typeOid) {
        if (typeOid == JSON || typeOid == JSONB) {
            int from = typeOid == JSONB && !value.isEmpty() && value.charAt(0) == 1 ? 1 : 0;
            String json = value.substring(from);
            if (json.indexOf('\\') < 0 && !rules.found(json)) {
                return value; // without escapes, each string and number is a stretch of the text as it is
            }
            String masked = JsonMasking.detected(json, this::applyDetectors);
            return masked == json ? value : from == 0 ? masked : value.charAt(0) + masked;
        }
        if (typeOid == XML) {
            if (value.indexOf('&') < 0 && !rules.found(value)) {
                return value;
            }
            String masked = XmlMasking.masked(value, this::applyDetectors);
            if (masked == null) {
                count("detector:redact (unreadable xml)");
                return Masker.REDACTED; // a document type declaration: its entities could hide anything
            }
            return masked;
        }
        return applyDetectors(value);
    }

    /**
     * json[], jsonb[] and xml[]: arrays whose elements are documents in text (a jsonb element in binary format after
     * its version byte), which detectors mask in place as they do a json, jsonb or xml column.
     */
    private static final Set<Integer> DOCUMENT_ARRAYS = Set.of(199, 3807, 143);

    /**
     * A {@linkplain #carriesText text-carrying} value (a result in either format, or a COPY value) with what detectors
     * find masked: arrays of text types and of documents element by element, records field by field
     * ({@link #detectField}); anything else, or what cannot be read so, NULL as a whole when they find something. The
     * same instance when it stays as it is, null for NULL.
     */
    private byte[] detectWhole(byte[] value, int typeOid) {
        try {
            return detectField(value, typeOid);
        } catch (TextArrays.Unreadable e) {
            return detectsSomething(new String(value, StandardCharsets.UTF_8), typeOid) ? null : value;
        }
    }

    /**
     * A value (or an array element, or a record's field) of type {@code typeOid} with what detectors find masked, so
     * that it stays a value of its type: text types in place ({@link #detectIn}), arrays of text types, documents and
     * rows element by element ({@link TextArrays}), records (anonymous ones and row types of tables and composite
     * types) field by field ({@link Records}), other types untouched, as they are in their own columns. A field of a
     * record in text format has no type (0): it is searched as text, and when it is structured (an array, a record,
     * a document) and something is found in it, the whole value is given up on.
     *
     * @return the same instance when nothing was found, null for NULL
     * @throws TextArrays.Unreadable when the value cannot be masked in place: a text-carrying type it cannot read, or
     *                               in which something was found that it cannot mask in place
     */
    private byte[] detectField(byte[] value, int typeOid) throws TextArrays.Unreadable {
        return detectField(value, typeOid, false);
    }

    /**
     * @param typeFromCatalog whether {@code typeOid} is the catalog's last look at a text-format row's field rather
     *                        than the value's own (binary rows carry their fields' types). A value of a type that
     *                        carries no text is left untouched, so it must then read as that type: a column changed
     *                        outside the proxy since (another type, the same number of fields) would otherwise let
     *                        text through unsearched until the catalog is read again. Numbers, booleans and UUIDs
     *                        must have their shape; a value of another such type (a date, an interval, an address)
     *                        must hold nothing a detector finds; else Unreadable, and the whole row is searched
     */
    private byte[] detectField(byte[] value, int typeOid, boolean typeFromCatalog) throws TextArrays.Unreadable {
        int type = catalog.maskedAs(typeOid);
        if (type == 0 || TEXT_TYPES.contains(type)) {
            String text = new String(value, StandardCharsets.UTF_8);
            String masked = type == 0 ? applyDetectors(text) : detectIn(text, type);
            if (masked == text) {
                return value;
            }
            if (type == 0 && masked != null && !text.isEmpty() && "({[<".indexOf(text.charAt(0)) >= 0) {
                throw new TextArrays.Unreadable("a structured field of an unknown type");
            }
            return masked == null ? null : masked.getBytes(StandardCharsets.UTF_8);
        }
        int element = TextArrays.TYPES.contains(type) ? 25 : switch (type) {
            case 199 -> JSON;
            case 3807 -> JSONB;
            case 143 -> XML;
            case 2287 -> RECORD;
            default -> catalog.elementType(type); // an array of a table's or composite type's rows
        };
        if (element != 0) {
            return TextArrays.maskElements(value, e -> detectField(e, element));
        }
        int[] fields = type == RECORD ? null : catalog.fieldTypes(type);
        if (type == RECORD || fields != null) {
            // in text format the fields' types are the catalog's, which may be older than the row type
            boolean typesFromCatalog = fields != null && value.length > 0 && value[0] == '(';
            return Records.mask(value, fields,
                    (field, fieldType, index) -> detectField(field, fieldType, typesFromCatalog));
        }
        if (carriesText(type)) {
            if (rules.found(new String(value, StandardCharsets.UTF_8))) {
                throw new TextArrays.Unreadable("type " + typeOid + " carries what a detector found");
            }
            return value;
        }
        if (typeFromCatalog) {
            String text = new String(value, StandardCharsets.UTF_8);
            Boolean shaped = FieldShapes.fits(type, text);
            if (shaped != null ? !shaped : rules.found(text)) {
                throw new TextArrays.Unreadable("a field that does not read as its type " + typeOid);
            }
        }
        return value;
    }

    /**
     * Whether a detector finds something in the text of a value of a {@linkplain #carriesText text-carrying} type
     * (counted). In binary format too: there arrays and records hold their text elements as they are, between
     * lengths and type OIDs.
     */
    private boolean detectsSomething(String value, int typeOid) {
        boolean[] found = {false};
        rules.detect(value, d -> {
            if (!found[0]) {
                found[0] = true;
                count("detector " + d.type().yamlName() + ":null (type " + typeOid + ")");
            }
        }, true);
        return found[0];
    }

    /**
     * Arrays of text types, records and user-defined types (a table's row type above all: {@code SELECT c FROM
     * customers c}): their values carry text that detectors look at as a whole.
     */
    static boolean carriesText(int typeOid) {
        return TextArrays.TYPES.contains(typeOid) || TEXT_CARRYING.contains(typeOid)
                || typeOid >= Catalog.FIRST_USER_OID;
    }

    /** The value with every detected part masked (the same instance when nothing was found), or null for NULL. */
    private String applyDetectors(String value) {
        return rules.detect(value, d -> count("detector " + d.type().yamlName() + ":" + d.masker().label()), false);
    }

    /** Text of a value; jsonb in binary format carries a version byte before the JSON text. */
    private String text(ByteBuf row, int at, int len, int column) {
        if (typeOids[column] == JSONB && len > 0 && row.getByte(at) == 1) {
            return row.toString(at + 1, len - 1, StandardCharsets.UTF_8);
        }
        return row.toString(at, len, StandardCharsets.UTF_8);
    }

    /** @param json whether {@code masked} is a JSON document already (else text that replaced the value) */
    private byte[] encode(String masked, ByteBuf row, int at, int len, int column, boolean json) {
        byte[] b = masked.getBytes(StandardCharsets.UTF_8);
        if (typeOids[column] == JSONB && len > 0 && row.getByte(at) == 1) {
            byte[] withVersion = new byte[b.length + 1];
            withVersion[0] = 1;
            System.arraycopy(b, 0, withVersion, 1, b.length);
            return withVersion;
        }
        if (!json && json(column)) {
            // a whole json value replaced by text must still be json: quote it
            if (!masked.startsWith("{") && !masked.startsWith("[") && !masked.startsWith("\"")) {
                return ("\"" + masked.replace("\\", "\\\\").replace("\"", "\\\"") + "\"")
                        .getBytes(StandardCharsets.UTF_8);
            }
        }
        return b;
    }

    // ------------------------------------------------------------------ COPY ... TO STDOUT

    private CopyFormat copy;
    private Plan[] copyPlan;
    private boolean copyHeaderPending;
    /**
     * The column types of a table's COPY or of a described COPY (query) (0 where unknown); null for a COPY (query)
     * ruled by its text alone.
     */
    private int[] copyTypes;
    private BinaryCopy binaryCopy;

    @Override
    public CompletionStage<Void> onCopyOut(ByteBuf response) {
        int columns = response.getUnsignedShort(response.readerIndex() + 6);
        copy = CopyFormat.parse(context.statement());
        if (copy == null || response.getByte(response.readerIndex() + 5) != (copy.binary ? 1 : 0)) {
            copy = null;
            copyPlan = unresolved(columns); // the statement filter refuses these; never pass them unmasked
            return null;
        }
        copyHeaderPending = copy.header && !copy.binary;
        if (copy.binary) {
            binaryCopy = new BinaryCopy(columns, this::maskBinaryCopyField);
        }
        CompletionStage<Void> inheritance = catalog.ensureInheritance();
        if (inheritance != null) {
            // which tables are partitions of masked ones is needed for both kinds of COPY
            return inheritance.handle((v, err) -> err).thenCompose(err -> {
                if (err != null) {
                    copyPlan = unresolved(columns);
                    return CompletableFuture.completedFuture(null);
                }
                CompletionStage<Void> planned = planCopy(columns);
                return planned != null ? planned : CompletableFuture.completedFuture(null);
            });
        }
        return planCopy(columns);
    }

    private CompletionStage<Void> planCopy(int columns) {
        if (copy.table == null) {
            if (rules.columns().isEmpty() || copy.queryText == null) {
                planCopyQuery(columns); // detectors only: they look at every value
                return null;
            }
            // the server describes the query's columns (parsed, not run, on the proxy's own connection): each is
            // masked as the same query's result would be, by the table and column it comes from and its type
            List<QualifiedName> read = tables(copy.queryTokens);
            if (ExpressionLineage.withTemporaryViews(read, catalog.ancestry()).stream()
                    .anyMatch(t -> io.dbwarden.proxy.sql.Ancestry.temporarySchema(t.schema()))) {
                // a session's temporary view, which the proxy's own connection cannot see (and would read a table
                // of the same name instead): the query's text rules
                return planCopyQueryByText(columns);
            }
            Set<String> unqualified = new HashSet<>();
            read.stream().filter(t -> t.schema() == null).forEach(t -> unqualified.add(t.name()));
            // likewise a temporary table of a name the query reads unqualified (the session's own would hide a table
            // of that name, which the proxy's connection would describe); a failed look-up counts as one
            return catalog.temporaryRelationNamed(unqualified).handle((temporary, err) -> err != null || temporary)
                    .thenCompose(temporary -> temporary ? planCopyQueryByText(columns)
                            : catalog.describe(rules.defaultSchema(), copy.queryText)
                            .handle((d, err) -> err != null || d == null || d.fields().size() != columns ? null : d)
                            .thenCompose(d -> d != null ? planDescribedCopy(d, columns)
                                    : planCopyQueryByText(columns)));
        }
        String schema = copy.schema != null ? copy.schema : rules.defaultSchema();
        return catalog.byName(schema, copy.table).thenCompose(rel -> {
            if (rel == null) {
                return CompletableFuture.completedFuture(rel);
            }
            // string types of extensions and domains are masked as text (citext); columns of row types are looked
            // at by the detectors field by field, by their fields' types
            Set<Integer> userTypes = new HashSet<>();
            rel.types().values().stream().filter(t -> t >= Catalog.FIRST_USER_OID).forEach(userTypes::add);
            CompletionStage<Void> types = catalog.ensureTypes(userTypes);
            return types == null ? CompletableFuture.completedFuture(rel) : types.thenApply(v -> rel);
        }).handle((rel, err) -> {
            copyPlan = rel == null || err != null ? unresolved(columns) : copyTablePlan(rel, columns);
            return null;
        });
    }

    private CompletionStage<Void> planDescribedCopy(RowDescription d, int columns) {
        CompletionStage<Void> loading = lookups(d, copy.queryTokens, true);
        CompletionStage<Throwable> looked = loading == null ? CompletableFuture.completedFuture(null)
                : loading.handle((v, err) -> err);
        return looked.thenAccept(err -> {
            int[] types = new int[columns];
            copyPlan = planFields(d, err != null, copy.queryTokens, false, false, types);
            copyTypes = types;
        });
    }

    /**
     * A COPY (query) the server could not describe here (it reads the session's temporary tables): its columns are
     * ruled by the query's text alone, their types unknown.
     */
    private CompletionStage<Void> planCopyQueryByText(int columns) {
        CompletionStage<Void> graph = relationsTheGraphMisses(copy.queryTokens);
        if (graph == null) {
            planCopyQuery(columns);
            return CompletableFuture.completedFuture(null);
        }
        return graph.handle((v, err) -> {
            if (err != null) {
                copyPlan = unresolved(columns); // the views the query reads are unknown: fail closed
            } else {
                planCopyQuery(columns);
            }
            return null;
        });
    }

    private void planCopyQuery(int columns) {
        ExpressionLineage lineage = ExpressionLineage.of(copy.queryTokens, tables(copy.queryTokens),
                catalog.ancestry());
        Plan[] p = new Plan[columns];
        for (int i = 0; i < columns; i++) {
            MaskingRules.ColumnRule rule = lineage.ruleFor(i, columns, rules);
            // the query's column types are unknown here: masked values become NULL, valid for any type
            p[i] = rule != null ? new Plan.Rule(rule, "(copy query column " + (i + 1) + ")", false)
                    : rules.detectors().isEmpty() ? PASS : new Plan.Detect(0);
        }
        copyPlan = p;
    }

    private static Plan[] unresolved(int columns) {
        Plan[] p = new Plan[columns];
        java.util.Arrays.fill(p, new Plan.Unresolved(false));
        return p;
    }

    private Plan[] copyTablePlan(Catalog.Relation rel, int columns) {
        List<Integer> attnums = new java.util.ArrayList<>();
        if (copy.columns.isEmpty()) {
            rel.columns().keySet().stream().sorted().forEach(attnums::add);
        } else {
            for (String name : copy.columns) {
                rel.columns().entrySet().stream().filter(e -> e.getValue().equals(name)).findFirst()
                        .ifPresentOrElse(e -> attnums.add(e.getKey()), () -> attnums.add(-1));
            }
        }
        if (attnums.size() != columns) {
            return unresolved(columns);
        }
        copyTypes = new int[columns];
        Plan[] p = new Plan[columns];
        for (int i = 0; i < columns; i++) {
            int attnum = attnums.get(i);
            String column = rel.columns().get(attnum);
            int type = catalog.maskedAs(rel.types().getOrDefault(attnum, 0));
            copyTypes[i] = type;
            boolean textual = TEXT_TYPES.contains(type);
            if (column == null) {
                p[i] = new Plan.Unresolved(false);
                continue;
            }
            // a materialized view (COPY reads them as tables) by what its definition computes the column from
            MaskingRules.ColumnRule rule = rel.isView() ? viewRule(rel, column) : rules.ruleFor(rel.schema(),
                    rel.name(), column, catalog.lineage(rel.schema(), rel.name()));
            p[i] = rule != null ? new Plan.Rule(rule, rel.schema() + "." + rel.name() + "." + column, textual)
                    : rules.detectors().isEmpty() ? PASS : textual ? new Plan.Detect(type)
                    : carriesText(type) ? new Plan.DetectWhole(type) : PASS;
        }
        return p;
    }

    @Override
    public ByteBuf onCopyData(ByteBuf data) {
        if (copyPlan == null) {
            return data;
        }
        if (copyHeaderPending) {
            copyHeaderPending = false;
            return data;
        }
        if (binaryCopy != null) {
            if (java.util.Arrays.stream(copyPlan).allMatch(p -> p == PASS)) {
                return data; // no column to mask: the stream as it is
            }
            byte[] in = new byte[data.readableBytes() - 5];
            data.getBytes(data.readerIndex() + 5, in);
            boolean readable = !binaryCopy.broken();
            byte[] out = binaryCopy.feed(in);
            if (readable && binaryCopy.broken()) {
                count("unreadable binary copy stream:cut off");
            }
            return copyData(data, out);
        }
        int start = data.readerIndex() + 5;
        int len = data.readableBytes() - 5;
        String row = data.toString(start, len, StandardCharsets.UTF_8);
        if (row.endsWith("\n")) {
            row = row.substring(0, row.length() - 1);
        }
        List<String> values = copy == null ? null : copy.split(row);
        if (values == null || values.size() != copyPlan.length) {
            count("unreadable copy row:null");
            return copyData(data, copy == null ? CopyFormat.textNulls(copyPlan.length)
                    : copy.join(java.util.Collections.nCopies(copyPlan.length, (String) null)));
        }
        boolean changed = false;
        for (int c = 0; c < values.size(); c++) {
            String v = values.get(c);
            Plan p = copyPlan[c];
            if (v == null || p == PASS) {
                continue;
            }
            String masked = switch (p) {
                case Plan.Rule r -> copyMasked(v, r, copyTypes == null ? 0 : copyTypes[c]);
                case Plan.Unresolved u -> null;
                case Plan.Detect d -> detectText(v, d.typeOid());
                case Plan.DetectWhole w -> {
                    byte[] value = v.getBytes(StandardCharsets.UTF_8);
                    byte[] out = detectWhole(value, w.typeOid());
                    yield out == value ? v : out == null ? null : new String(out, StandardCharsets.UTF_8);
                }
                default -> v;
            };
            if (p instanceof Plan.Rule r) {
                count((masked == null && !r.rule().masker().nulls() ? "nullified (type unknown or not text) " : "")
                        + "column " + r.column() + " " + r.rule().name() + ":" + r.rule().masker().label());
            } else if (p instanceof Plan.Unresolved) {
                count("unresolved copy column " + (c + 1) + ":null");
            }
            if (masked == null || !masked.equals(v)) {
                values.set(c, masked);
                changed = true;
            }
        }
        return changed ? copyData(data, copy.join(values)) : data;
    }

    /**
     * One field of a binary COPY row masked by its column's plan. A text type's binary form is its text (jsonb's
     * after a version byte), masked as in text format; a masked value of another type becomes NULL, valid for any
     * type; arrays and rows are masked element by element and field by field in their binary forms. In a COPY
     * (query) the types are unknown: what the detectors find something in becomes NULL.
     */
    private byte[] maskBinaryCopyField(int c, byte[] v) {
        Plan p = copyPlan[c];
        int type = copyTypes == null ? 0 : copyTypes[c];
        return switch (p) {
            case Plan.Rule r -> {
                count((r.textual() || r.rule().masker().nulls() ? "" : "nullified (type unknown or not text) ")
                        + "column " + r.column() + " " + r.rule().name() + ":" + r.rule().masker().label());
                boolean versioned = type == JSONB && v.length > 0 && v[0] == 1; // binary jsonb
                String masked = copyMasked(new String(v, versioned ? 1 : 0, v.length - (versioned ? 1 : 0),
                        StandardCharsets.UTF_8), r, type);
                yield masked == null ? null : ((versioned ? "\u0001" : "") + masked).getBytes(StandardCharsets.UTF_8);
            }
            case Plan.Unresolved u -> {
                count("unresolved copy column " + (c + 1) + ":null");
                yield null;
            }
            case Plan.Detect d when d.typeOid() == 0 -> {
                String text = new String(v, StandardCharsets.UTF_8);
                yield detectsSomething(text, 0) ? null : v;
            }
            case Plan.Detect d -> detectWhole(v, d.typeOid());
            case Plan.DetectWhole w -> detectWhole(v, w.typeOid());
            default -> v;
        };
    }

    /** Detectors over a COPY value; values that are only digits are left alone when the column type is unknown. */
    private String detectText(String value, int typeOid) {
        if (copyTypes == null && value.chars().allMatch(Character::isDigit)) {
            return value;
        }
        return detectIn(value, typeOid);
    }

    private static ByteBuf copyData(ByteBuf original, byte[] row) {
        ByteBuf out = original.alloc().buffer(5 + row.length);
        out.writeByte('d').writeInt(4 + row.length).writeBytes(row);
        original.release();
        return out;
    }

    private void count(String key) {
        counts.merge(key, 1L, Long::sum);
    }

    @Override
    public Map<String, Long> summary() {
        return counts;
    }
}
