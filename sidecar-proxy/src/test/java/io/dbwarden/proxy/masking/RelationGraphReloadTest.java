package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The relation graph is reloaded when its time is up, but loaded in full only when the catalogs it is made of changed
 * since (their fingerprint, taken in the same snapshot as the load): with thousands of views a full load costs the
 * database most of a second, the fingerprint a few milliseconds. Every kind of change the graph holds is told.
 */
class RelationGraphReloadTest {
    static Connection direct;
    final AtomicInteger full = new AtomicInteger();
    final AtomicInteger fingerprints = new AtomicInteger();

    @BeforeAll
    static void setUp() throws Exception {
        direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
        EmbeddedPg.execute("DROP VIEW IF EXISTS rg_v, rg_v2", "DROP TABLE IF EXISTS rg_parent, rg_child, rg_base",
                "CREATE TABLE rg_base (id int, email text, name text)",
                "CREATE VIEW rg_v AS SELECT id, email AS contact FROM rg_base",
                "CREATE TABLE rg_parent (id int, v text) PARTITION BY RANGE (id)",
                "CREATE TABLE rg_child (id int, v text)");
    }

    @AfterAll
    static void tearDown() throws Exception {
        EmbeddedPg.execute("DROP VIEW IF EXISTS rg_v, rg_v2", "DROP TABLE IF EXISTS rg_parent, rg_child, rg_base");
        direct.close();
    }

    private Function<String, CompletionStage<List<List<String>>>> query() {
        return io.dbwarden.proxy.testing.CatalogQueries.over(direct, sql -> {
            if (sql.startsWith("WITH RECURSIVE")) {
                full.incrementAndGet();
            } else if (sql.startsWith("SELECT " + RelationGraph.FINGERPRINT)) {
                fingerprints.incrementAndGet();
            }
        });
    }

    /**
     * Waits until the catalogs stand still (a session another test closed may still be dropping its temporary
     * tables), so that what a reload finds is this test's doing.
     */
    private static void quiesce() throws Exception {
        String last = null;
        for (int i = 0; i < 50; i++) {
            String now;
            synchronized (direct) {
                try (Statement s = direct.createStatement();
                     ResultSet rs = s.executeQuery("SELECT " + RelationGraph.FINGERPRINT)) {
                    rs.next();
                    now = rs.getString(1);
                }
            }
            if (now.equals(last)) {
                return;
            }
            last = now;
            Thread.sleep(200);
        }
        throw new AssertionError("the catalogs keep changing");
    }

    /** A load that starts now (the graph's time is up, or a statement names a relation it does not know). */
    private static Ancestry reload(RelationGraph graph) throws Exception {
        CompletionStage<Void> loading = graph.ensureLoadedSince(System.nanoTime());
        if (loading != null) {
            loading.toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        return graph.current();
    }

    /** Asserts that {@code change} (run directly, not through the proxy) makes the next reload a full one. */
    private Ancestry afterChange(RelationGraph graph, String... change) throws Exception {
        int before = full.get();
        EmbeddedPg.execute(change);
        Ancestry a = reload(graph);
        assertThat(full.get()).as(String.join("; ", change)).isEqualTo(before + 1);
        return a;
    }

    @Test
    void anUnchangedCatalogIsNotLoadedAgainAChangedOneIs() throws Exception {
        quiesce();
        RelationGraph graph = new RelationGraph(query(), 60_000);
        Ancestry first = reload(graph);
        assertThat(full).hasValue(1);
        assertThat(fingerprints).hasValue(0);
        assertThat(first.viewColumns("public", "rg_v").columns()).containsExactly("id", "contact");

        Ancestry kept = reload(graph);
        assertThat(full).as("nothing changed: the graph is kept").hasValue(1);
        assertThat(fingerprints).hasValue(1);
        assertThat(graph.version(kept)).isEqualTo(graph.version(first));
        assertThat(kept.viewColumns("public", "rg_v")).isEqualTo(first.viewColumns("public", "rg_v"));

        // statistics are written in place; a DDL rolled back leaves nothing
        EmbeddedPg.execute("ANALYZE rg_base", "VACUUM rg_base");
        try (Statement s = direct.createStatement()) {
            synchronized (direct) {
                direct.setAutoCommit(false);
                s.execute("CREATE VIEW rg_v2 AS SELECT name FROM rg_base");
                direct.rollback();
                direct.setAutoCommit(true);
            }
        }
        quiesce();
        reload(graph);
        assertThat(full).as("ANALYZE, VACUUM, a rolled back CREATE VIEW").hasValue(1);

        Ancestry a = afterChange(graph, "CREATE VIEW rg_v2 AS SELECT name FROM rg_base");
        assertThat(a.knows("public", "rg_v2")).isTrue();
        assertThat(graph.version(a)).isGreaterThan(graph.version(first));
        a = afterChange(graph, "CREATE OR REPLACE VIEW rg_v2 AS SELECT email AS name FROM rg_base");
        assertThat(a.viewColumns("public", "rg_v2").definition()).contains("email");
        a = afterChange(graph, "ALTER TABLE rg_base RENAME COLUMN name TO full_name");
        assertThat(a.viewColumns("public", "rg_v2").sources()).extracting(s -> s.column()).containsExactly("email");
        a = afterChange(graph, "ALTER VIEW rg_v RENAME COLUMN contact TO reach");
        assertThat(a.viewColumns("public", "rg_v").columns()).containsExactly("id", "reach");
        a = afterChange(graph, "ALTER TABLE rg_parent ATTACH PARTITION rg_child FOR VALUES FROM (0) TO (10)");
        assertThat(a.partition("public", "rg_child")).isTrue();
        a = afterChange(graph, "ALTER TABLE rg_parent DETACH PARTITION rg_child");
        assertThat(a.partition("public", "rg_child")).isFalse();
        a = afterChange(graph, "CREATE SCHEMA rg_s", "ALTER TABLE rg_child SET SCHEMA rg_s");
        assertThat(a.knows("rg_s", "rg_child")).isTrue();
        a = afterChange(graph, "ALTER SCHEMA rg_s RENAME TO rg_t");
        assertThat(a.knows("rg_t", "rg_child")).isTrue();
        afterChange(graph, "ALTER TABLE rg_t.rg_child SET SCHEMA public", "DROP SCHEMA rg_t");

        reload(graph);
        assertThat(full).as("unchanged again").hasValue(10);
    }

    @Test
    void aGraphDroppedForDdlIsKeptWhenTheCatalogDidNotChange() throws Exception {
        quiesce();
        RelationGraph graph = new RelationGraph(query(), 60_000);
        Ancestry first = reload(graph);
        graph.invalidate(); // e.g. a statement through the proxy that looked like DDL and failed
        assertThat(graph.current()).isNull();
        CompletionStage<Void> loading = graph.ensureLoaded();
        assertThat(loading).isNotNull();
        loading.toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(full).hasValue(1);
        assertThat(graph.version(graph.current())).isEqualTo(graph.version(first));
    }
}
