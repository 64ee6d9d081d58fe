package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.Relocation.Kind;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class RelocationTest {
    private static List<Relocation> of(String sql) {
        return Relocation.of(SqlText.lazyTokens(sql, true));
    }

    @Test
    void renamesAndMoves() {
        assertThat(of("ALTER TABLE customers RENAME TO clients")).containsExactly(new Relocation(Kind.RENAME,
                new QualifiedName(null, "customers"), new QualifiedName(null, "clients"), null, null));
        assertThat(of("alter table if exists only Shop.\"Customers\" * rename to c2")).containsExactly(
                new Relocation(Kind.RENAME, new QualifiedName("shop", "Customers"), new QualifiedName("shop", "c2"),
                        null, null));
        assertThat(of("ALTER MATERIALIZED VIEW public.mv SET SCHEMA archive")).containsExactly(
                new Relocation(Kind.SET_SCHEMA, new QualifiedName("public", "mv"), new QualifiedName("archive", "mv"),
                        null, null));
        assertThat(of("ALTER VIEW v RENAME COLUMN a TO b")).containsExactly(new Relocation(Kind.RENAME_COLUMN,
                new QualifiedName(null, "v"), new QualifiedName(null, "v"), "a", "b"));
        assertThat(of("ALTER FOREIGN TABLE f RENAME x TO \"Y\"")).extracting(Relocation::newColumn)
                .containsExactly("Y");
    }

    @Test
    void partitionsAndChildrenLeavingTheirParents() {
        assertThat(of("ALTER TABLE orders DETACH PARTITION orders_2024 CONCURRENTLY")).containsExactly(
                new Relocation(Kind.DETACH_PARTITION, new QualifiedName(null, "orders_2024"),
                        new QualifiedName(null, "orders"), null, null));
        assertThat(of("ALTER TABLE child ADD COLUMN x int, NO INHERIT s.parent")).containsExactly(
                new Relocation(Kind.NO_INHERIT, new QualifiedName(null, "child"), new QualifiedName("s", "parent"),
                        null, null));
    }

    @Test
    void otherStatementsRelocateNothing() {
        for (String sql : List.of("ALTER TABLE t ADD COLUMN c int", "ALTER TABLE t RENAME CONSTRAINT a TO b",
                "ALTER INDEX i RENAME TO j", "ALTER SEQUENCE s RENAME TO t", "SELECT 1",
                "ALTER TABLE t ATTACH PARTITION p FOR VALUES IN (1)", "ALTER ROLE r RENAME TO q")) {
            assertThat(of(sql)).as(sql).isEmpty();
        }
    }
}
