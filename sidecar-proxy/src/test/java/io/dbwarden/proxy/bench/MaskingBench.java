package io.dbwarden.proxy.bench;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.EmbeddedPg;
import picocli.CommandLine;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Throughput of a 1M-row SELECT: direct, through the proxy without masking, and through the proxy masking two of
 * its three text columns (partial e-mail, keyed hash) with the credit-card detector on the third. Prints rows/s
 * and MB/s of value bytes (median of the rounds). Run with bench/masking-bench.sh.
 */
public final class MaskingBench {
    private MaskingBench() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(System.getenv().getOrDefault("ROUNDS", "5"));
        EmbeddedPg pg = EmbeddedPg.get();
        try (Connection c = pg.direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS bench_mask");
            s.execute("CREATE TABLE bench_mask AS SELECT g AS id, 'user' || g || '@example.com' AS email, "
                    + "md5(g::text) AS ssn, 'order ' || g || ' paid with 4242 4242 4242 4242' AS note "
                    + "FROM generate_series(1, 1000000) g");
            s.execute("VACUUM ANALYZE bench_mask");
        }
        Path dir = Files.createTempDirectory("masking-bench");
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        Path key = dir.resolve("key");
        Files.writeString(key, "bench-key");
        Path plain = dir.resolve("plain.yaml");
        Files.writeString(plain, policy(""));
        Path masking = dir.resolve("masking.yaml");
        Files.writeString(masking, policy("""
                  masking:
                    columns:
                      - name: emails
                        columns: ["public.bench_mask.email"]
                        strategy: partial
                      - name: ids
                        columns: ["public.bench_mask.ssn"]
                        strategy: hash
                    detectors:
                      - type: creditCard
                        strategy: partial
                """));
        try (RunCommand.Running unmasked = start(plain, pw, key, dir.resolve("a1.jsonl"));
             RunCommand.Running masked = start(masking, pw, key, dir.resolve("a2.jsonl"))) {
            String directUrl = "jdbc:postgresql://127.0.0.1:" + pg.port() + "/" + EmbeddedPg.DATABASE
                    + "?sslmode=disable&user=postgres";
            String unmaskedUrl = "jdbc:postgresql://127.0.0.1:" + unmasked.server().port() + "/" + EmbeddedPg.DATABASE
                    + "?sslmode=disable&user=app";
            String maskedUrl = "jdbc:postgresql://127.0.0.1:" + masked.server().port() + "/" + EmbeddedPg.DATABASE
                    + "?sslmode=disable&user=app";
            for (String[] target : new String[][]{{"direct", directUrl}, {"proxy, no masking", unmaskedUrl},
                    {"proxy, masking", maskedUrl}}) {
                run(target[1]); // warm-up
            }
            System.out.println("| target | rows/s | MB/s (values) | ms per 1M rows |");
            System.out.println("| --- | --- | --- | --- |");
            for (String[] target : new String[][]{{"direct", directUrl}, {"proxy, no masking", unmaskedUrl},
                    {"proxy, masking (2 columns + detector)", maskedUrl}}) {
                List<long[]> results = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    results.add(run(target[1]));
                }
                results.sort((a, b) -> Long.compare(a[0], b[0]));
                long[] median = results.get(results.size() / 2);
                double seconds = median[0] / 1e9;
                System.out.printf("| %s | %,.0f | %.1f | %.0f |%n", target[0], median[1] / seconds,
                        median[2] / seconds / 1e6, median[0] / 1e6);
            }
        }
        System.exit(0);
    }

    private static String policy(String masking) {
        return """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: bench
                  namespace: bench
                spec:
                  subjects:
                    - identity: "*/*"
                  defaultAction: allow
                  allowUnparsedStatements: true
                """ + masking;
    }

    private static RunCommand.Running start(Path policy, Path pw, Path key, Path audit) throws Exception {
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs("--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(),
                "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user", EmbeddedPg.SCRAM_USER,
                "--upstream-password-file", pw.toString(), "--upstream-tls", "disable", "--identity", "bench/app",
                "--policy", policy.toString(), "--audit", audit.toString(), "--admin-listen", "none",
                "--masking-key-file", key.toString());
        return cmd.start();
    }

    /** {nanos, rows, value bytes} of one full read of the table. */
    private static long[] run(String url) throws Exception {
        try (Connection c = DriverManager.getConnection(url, new Properties())) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(50_000);
                long start = System.nanoTime();
                long rows = 0;
                long bytes = 0;
                try (ResultSet rs = s.executeQuery("SELECT id, email, ssn, note FROM bench_mask")) {
                    while (rs.next()) {
                        rows++;
                        for (int i = 1; i <= 4; i++) {
                            bytes += rs.getString(i).getBytes(StandardCharsets.UTF_8).length;
                        }
                    }
                }
                long nanos = System.nanoTime() - start;
                c.commit();
                return new long[]{nanos, rows, bytes};
            }
        }
    }
}
