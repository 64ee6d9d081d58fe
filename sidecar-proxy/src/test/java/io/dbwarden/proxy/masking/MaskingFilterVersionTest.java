package io.dbwarden.proxy.masking;

import io.dbwarden.api.validation.PolicyLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The masking filter's version, by which prepared statements are judged again at Execute: it moves when the rules are
 * replaced and, with column rules, when the graph of partitions its copy and DDL checks consult is dropped or reloaded
 * with other edges (-1 while none is loaded).
 */
class MaskingFilterVersionTest {
    @TempDir
    Path dir;

    @Test
    void theVersionMovesWithTheRulesAndTheGraph() throws Exception {
        MaskingRules rules = MaskingRules.compile(PolicyLoader.load(MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.customers.email"]
                        strategy: partial
                """)), "test/x", null);
        AtomicInteger loads = new AtomicInteger();
        // a database without partitions, children or views: every catalog query answers no rows
        Catalog catalog = new Catalog(sql -> {
            loads.incrementAndGet();
            return CompletableFuture.completedFuture(List.<List<String>>of());
        }, 60_000);
        MaskingFilter f = new MaskingFilter(rules, catalog);
        assertThat(f.version()).as("column rules, no graph loaded yet").isEqualTo(-1);
        load(catalog);
        long loaded = f.version();
        assertThat(loaded).isNotNegative();
        assertThat(loads).hasPositiveValue();

        catalog.invalidate(); // DDL through the proxy
        assertThat(f.version()).isEqualTo(-1);
        load(catalog);
        assertThat(f.version()).as("the same (empty) edges again").isEqualTo(loaded);

        f.update(rules);
        assertThat(f.version()).as("the rules replaced drop the graph too").isEqualTo(-1);
        load(catalog);
        assertThat(f.version()).isGreaterThan(loaded);

        MaskingFilter none = new MaskingFilter(MaskingRules.none(), catalog);
        catalog.invalidate();
        assertThat(none.version()).as("without column rules the graph does not matter").isZero();
        none.update(MaskingRules.none());
        assertThat(none.version()).isPositive();
    }

    private static void load(Catalog catalog) throws Exception {
        CompletionStage<Void> loading = catalog.ensureInheritance();
        if (loading != null) {
            loading.toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * What a statement reads is the union of the quick classifier's tables and the full parser's: a table only the
     * parser found (a shape the classifier does not know) still makes a copy of its masked column one.
     */
    @Test
    void aCopyIsJudgedByTheTablesEitherReaderFinds() throws Exception {
        MaskingRules rules = MaskingRules.compile(PolicyLoader.load(MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.customers.email"]
                        strategy: partial
                """)), "test/x", null);
        io.dbwarden.proxy.filter.StatementInfo insert = io.dbwarden.proxy.filter.StatementInfo.of(
                io.dbwarden.proxy.sql.SqlText.split("INSERT INTO archive SELECT email FROM src", true).getFirst());
        assertThat(MaskingFilter.copiesMaskedValues(insert, rules, io.dbwarden.proxy.sql.Ancestry.NONE, List.of()))
                .isNull();
        var customers = new io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName("public", "customers");
        assertThat(MaskingFilter.copiesMaskedValues(insert, rules, io.dbwarden.proxy.sql.Ancestry.NONE,
                List.of(customers))).isNotNull();
        assertThat(MaskingFilter.tablesOf(insert.tokens(), List.of(customers))).extracting(t -> t.name())
                .containsExactly("archive", "src", "customers");
    }
}
