package io.dbwarden.proxy.masking;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.sql.SqlLexer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Lineage decisions that need no database: the shapes of statements alone. */
class ExpressionLineageTest {
    private static MaskingRules rules(Path dir) throws Exception {
        Path policy = MaskingPolicies.write(dir, """
                      - name: emails
                        columns: ["public.customers.email"]
                        strategy: partial
                """);
        return MaskingRules.compile(PolicyLoader.load(policy), "test/x", null);
    }

    private static MaskingRules.ColumnRule rule(MaskingRules rules, String sql, int column, int columns) {
        return ExpressionLineage.of(SqlLexer.tokenize(sql, true), (schema, table) -> List.of())
                .ruleFor(column, columns, rules);
    }

    @Test
    void manyDerivedRowsAreJudgedByTheWholeStatement(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        MaskingRules rules = rules(dir);
        StringBuilder sql = new StringBuilder("SELECT d0.v || ''");
        StringBuilder from = new StringBuilder(" FROM (SELECT email AS v FROM customers) d0");
        for (int i = 1; i <= ExpressionLineage.MAX_DERIVED; i++) {
            from.append(", (SELECT ").append(i).append(" AS v) d").append(i);
        }
        assertThat(rule(rules, sql + from.toString(), 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT d1.v || '' FROM (SELECT 1 AS v) d1, (SELECT 2 AS v) d2", 0, 1)).isNull();
    }

    @Test
    void countsLabelsAndProductsAreNotRowsOfTheTablesTheyName(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        MaskingRules rules = rules(dir);
        assertThat(rule(rules, "SELECT count(c.*) FROM customers c", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT count(count(email)) OVER () FROM customers", 0, 1)).isNull();
        assertThat(rule(rules, "SELECT count(email) || email FROM customers", 0, 1)).isNotNull();
        assertThat(rule(rules, "SELECT o.id * 2, 1 AS customers FROM orders o", 0, 2)).isNull();
        assertThat(rule(rules, "SELECT o.id * 2, 1 AS customers FROM orders o", 1, 2)).isNull();
        assertThat(rule(rules, "SELECT to_json(c) FROM customers c", 0, 1)).isNotNull();
    }
}
