package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.ColumnMaskRule;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DetectorRule;
import io.dbwarden.api.v1alpha1.DetectorType;
import io.dbwarden.api.v1alpha1.MaskingSpec;
import io.dbwarden.api.validation.ColumnGlob;
import io.dbwarden.api.validation.Subjects;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.Function;

/**
 * The masking rules that apply to one identity, compiled from every applicable policy (rules of earlier policies
 * first). Empty when no policy masks, or every masking policy exempts the identity.
 */
public final class MaskingRules {
    record ColumnRule(String name, List<ColumnGlob> globs, Masker masker) {
        boolean matches(String schema, String table, String column) {
            return globs.stream().anyMatch(g -> g.matches(schema, table, column));
        }

        boolean matchesTable(String schema, String table) {
            return globs.stream().anyMatch(g -> g.matchesTable(schema, table));
        }

        boolean matchesColumnName(String column) {
            return globs.stream().anyMatch(g -> g.matchesColumnName(column));
        }

        /**
         * Whether a whole row of this table may carry a column of this rule. The system catalogs' columns are the
         * server's own: a wildcard schema ({@code *.*.ssn}) does not reach them, only a glob naming the schema does.
         */
        boolean mayBeInRowOf(String schema, String table) {
            boolean system = schema.equals("pg_catalog") || schema.equals("information_schema");
            return globs.stream().anyMatch(g -> g.matchesTable(schema, table) && (!system || g.namesSchema(schema)));
        }
    }

    record Detector(DetectorType type, Masker masker) {
    }

    private final List<ColumnRule> columns;
    private final List<Detector> detectors;
    private final String defaultSchema;

    private MaskingRules(List<ColumnRule> columns, List<Detector> detectors, String defaultSchema) {
        this.columns = List.copyOf(columns);
        this.detectors = List.copyOf(detectors);
        this.defaultSchema = defaultSchema;
    }

    public static MaskingRules none() {
        return new MaskingRules(List.of(), List.of(), "public");
    }

    /**
     * @param applicable policies that apply to the identity, in evaluation order
     * @param hashKey    key for the hash strategy, null when none is configured (then hash rules fail to compile)
     */
    public static MaskingRules compile(List<DatabaseAccessPolicy> applicable, String identity, byte[] hashKey) {
        List<ColumnRule> columns = new ArrayList<>();
        List<Detector> detectors = new ArrayList<>();
        String defaultSchema = applicable.isEmpty() ? "public" : applicable.get(0).getSpec().getDefaultSchema();
        for (DatabaseAccessPolicy p : applicable) {
            MaskingSpec m = p.getSpec().getMasking();
            if (m == null || exempt(m, identity, p.getMetadata().getNamespace())) {
                continue;
            }
            for (ColumnMaskRule r : m.getColumns()) {
                columns.add(new ColumnRule(p.getMetadata().getName() + "/" + r.getName(),
                        r.getColumns().stream().map(ColumnGlob::parse).toList(), Masker.of(r, null, hashKey)));
            }
            for (DetectorRule d : m.getDetectors()) {
                if (detectors.stream().noneMatch(x -> x.type() == d.getType())) {
                    detectors.add(new Detector(d.getType(), Masker.of(d, d.getType(), hashKey)));
                }
            }
        }
        return new MaskingRules(columns, detectors, defaultSchema);
    }

    private static boolean exempt(MaskingSpec m, String identity, String namespace) {
        return Subjects.matches(m.getExemptSubjects(), namespace, identity);
    }

    public boolean isEmpty() {
        return columns.isEmpty() && detectors.isEmpty();
    }

    /** These rules' detectors alone: what masks results without the database's catalog. */
    public MaskingRules detectorsOnly() {
        return columns.isEmpty() ? this : new MaskingRules(List.of(), detectors, defaultSchema);
    }

    List<ColumnRule> columns() {
        return columns;
    }

    /** These rules without {@code excluded} ones, made once per set (views' worked-out rules are kept per rules). */
    private final java.util.Map<java.util.Set<ColumnRule>, MaskingRules> without =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * These column rules but {@code excluded} (no detectors): what a value written into a column masked by the
     * excluded rules must not carry.
     */
    MaskingRules without(java.util.Set<ColumnRule> excluded) {
        if (excluded.isEmpty()) {
            return this;
        }
        return without.computeIfAbsent(java.util.Set.copyOf(excluded), ex -> new MaskingRules(
                columns.stream().filter(r -> !ex.contains(r)).toList(), List.of(), defaultSchema));
    }

    List<Detector> detectors() {
        return detectors;
    }

    /**
     * {@code value} with every part a detector finds masked by its strategy: the same instance when nothing was
     * found; null when a detector with the null strategy found something and {@code nullsAsText} is false (a result
     * value then becomes NULL); with {@code nullsAsText} (message texts) such parts become {@code ?}.
     */
    String detect(String value, java.util.function.Consumer<Detector> found, boolean nullsAsText) {
        String result = value;
        for (Detector d : detectors) {
            List<int[]> spans = Detectors.find(d.type(), result);
            if (spans.isEmpty()) {
                continue;
            }
            found.accept(d);
            if (d.masker().nulls() && !nullsAsText) {
                return null;
            }
            result = Detectors.replaced(result, spans, d.masker().nulls() ? hit -> "?" : d.masker()::mask);
        }
        return result;
    }

    /** Whether any detector finds something in {@code value}. */
    boolean found(String value) {
        for (Detector d : detectors) {
            if (!Detectors.find(d.type(), value).isEmpty()) {
                return true;
            }
        }
        return false;
    }

    String defaultSchema() {
        return defaultSchema;
    }

    /**
     * The rule for a column of a whole row of this table (see {@link ColumnRule#mayBeInRowOf}), or of a table it is a
     * partition or child of, or of one of its own partitions or children ({@code lineage}, see Catalog#lineage: the
     * same column under their rules), or null.
     */
    ColumnRule ruleInRowOf(String schema, String table, String column, List<QualifiedName> lineage) {
        for (ColumnRule r : columns) {
            if (r.matches(schema, table, column) && r.mayBeInRowOf(schema, table)) {
                return r;
            }
        }
        for (QualifiedName a : lineage) {
            ColumnRule r = ruleInRowOf(a.schema(), a.name(), column, List.of());
            if (r != null) {
                return r;
            }
        }
        return null;
    }

    /** As {@link #ruleFor(String, String, String)}, with the rules of the table's lineage ({@link #ruleInRowOf}). */
    ColumnRule ruleFor(String schema, String table, String column, List<QualifiedName> lineage) {
        ColumnRule r = ruleFor(schema, table, column);
        for (int i = 0; r == null && i < lineage.size(); i++) {
            r = ruleFor(lineage.get(i).schema(), lineage.get(i).name(), column);
        }
        return r;
    }

    /**
     * The rule for column {@code column} of a view, told from the table columns it reads (the server does not record
     * which of them each view column is computed from): a same-named source's rule when one is masked; when a source
     * has its name but none of those is masked, none (the column is such a source under its own name); when no
     * source has its name (renamed, or computed), the first masked source's rule, else none.
     *
     * @param column  the view's column; null for the view's whole row (the first masked source's rule)
     * @param ruleOf  a source's rule (with its table's lineage), or null
     */
    static <S> ColumnRule viewColumnRule(String column, Collection<S> sources, Function<S, String> nameOf,
                                         Function<S, ColumnRule> ruleOf) {
        ColumnRule firstMasked = null;
        boolean sameName = false;
        for (S src : sources) {
            ColumnRule r = ruleOf.apply(src);
            if (nameOf.apply(src).equals(column)) {
                sameName = true;
                if (r != null) {
                    return r;
                }
            }
            if (r != null && firstMasked == null) {
                firstMasked = r;
            }
        }
        return sameName ? null : firstMasked;
    }

    ColumnRule ruleFor(String schema, String table, String column) {
        for (ColumnRule r : columns) {
            if (r.matches(schema, table, column)) {
                return r;
            }
        }
        return null;
    }
}
