package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestFilters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The real psql binary through the proxy (skipped where psql is not installed). */
@ExtendWith(LeakDetection.class)
class PsqlClientTest {
    static RunningProxy proxy;
    static String psql;

    @BeforeAll
    static void start() throws Exception {
        psql = findPsql();
        Assumptions.assumeTrue(psql != null, "psql is not installed");
        proxy = RunningProxy.start(List.of(TestFilters.denyMentioning("forbidden")));
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS psql_items");
            s.execute("CREATE TABLE psql_items (id int, label text)");
        }
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private static String findPsql() {
        for (String p : List.of("/usr/bin/psql", "/usr/local/bin/psql")) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        return null;
    }

    record Run(int exit, String out, String err) {
    }

    private static Run psql(String... extra) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                String.valueOf(proxy.port()), "-U", "app", "-d", EmbeddedPg.DATABASE, "-At"));
        cmd.addAll(List.of(extra));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("PGSSLMODE", "disable");
        pb.environment().put("PGCONNECT_TIMEOUT", "10");
        pb.environment().remove("PGPASSWORD");
        Process p = pb.start();
        p.getOutputStream().close();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("psql did not finish");
        }
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    @Test
    void queriesCopyAndMultiStatements() throws Exception {
        Run r = psql("-c", "SELECT current_user, 40 + 2");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().trim()).isEqualTo(EmbeddedPg.SCRAM_USER + "|42");

        Path csv = Files.createTempFile("psql-copy", ".csv");
        Files.writeString(csv, "1,one\n2,two\n3,three\n");
        r = psql("-c", "\\copy psql_items FROM '" + csv + "' WITH (FORMAT csv)");
        assertThat(r.exit()).as(r.err()).isZero();
        r = psql("-c", "\\copy (SELECT * FROM psql_items ORDER BY id) TO STDOUT WITH (FORMAT csv)");
        assertThat(r.out()).isEqualTo("1,one\n2,two\n3,three\n");

        r = psql("-c", "SELECT 1; SELECT 2");
        assertThat(r.out().trim()).isEqualTo("1\n2");
    }

    @Test
    void blockedStatementShowsTheReasonAndPsqlContinues() throws Exception {
        Run r = psql("-v", "ON_ERROR_STOP=0", "-c", "DELETE FROM forbidden_table", "-c", "SELECT 'still here'");
        assertThat(r.err()).contains("ERROR:  dbwarden: statement blocked by rule \"no-forbidden\"")
                .contains("HINT:  Ask the platform team.");
        assertThat(r.out().trim()).isEqualTo("still here");
    }

    @Test
    void interactiveStyleTransactionScript() throws Exception {
        Path script = Files.createTempFile("psql-script", ".sql");
        Files.writeString(script, """
                BEGIN;
                INSERT INTO psql_items VALUES (10, 'ten');
                SELECT count(*) FROM psql_items WHERE id = 10;
                ROLLBACK;
                SELECT count(*) FROM psql_items WHERE id = 10;
                """);
        Run r = psql("-f", script.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("1\n").endsWith("0\n");
    }
}
