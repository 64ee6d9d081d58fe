package io.dbwarden.proxy.cli;

import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code check --upstream}: the proxy's decision with the database's partitions, children and views looked up. */
class CheckWithDatabaseTest {
    @TempDir
    static Path dir;
    static Path policy;
    static Path password;

    @BeforeAll
    static void setUp() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS ck_customers CASCADE",
                "CREATE TABLE ck_customers (id int, region text, email text) PARTITION BY LIST (region)",
                "CREATE TABLE ck_customers_eu PARTITION OF ck_customers FOR VALUES IN ('eu')",
                "CREATE VIEW ck_contacts AS SELECT email FROM ck_customers");
        policy = Files.writeString(dir.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata: {name: reader, namespace: ci}
                spec:
                  subjects: [{identity: ci/agent}]
                  defaultAction: allow
                  rules:
                    - name: no-customers
                      match: {statements: [SELECT], tables: ["public.ck_customers"]}
                      action: deny
                """);
        password = Files.writeString(dir.resolve("pw"), EmbeddedPg.PASSWORD);
    }

    @AfterAll
    static void tearDown() throws Exception {
        EmbeddedPg.execute("DROP TABLE IF EXISTS ck_customers CASCADE");
    }

    private record Result(int code, String out, String err) {
    }

    private static Result check(int port, String sql) {
        CommandLine cl = DbwardenProxyCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        List<String> args = new ArrayList<>(List.of("check", "--policy", policy.toString(), "--identity", "ci/agent",
                "--sql", sql));
        if (port > 0) {
            args.addAll(List.of("--upstream", "127.0.0.1:" + port, "--upstream-database", EmbeddedPg.DATABASE,
                    "--upstream-user", EmbeddedPg.SCRAM_USER, "--upstream-password-file", password.toString(),
                    "--upstream-tls", "disable"));
        }
        return new Result(cl.execute(args.toArray(String[]::new)), out.toString(), err.toString());
    }

    @Test
    void withTheDatabaseAPartitionAndAViewAreCoveredAsTheProxyCoversThem() {
        int port = EmbeddedPg.get().port();
        Result partition = check(port, "SELECT * FROM ck_customers_eu");
        assertThat(partition.code()).isEqualTo(CheckCommand.EXIT_DENIED);
        assertThat(partition.out()).contains("DENY policy=reader rule=no-customers")
                .contains("public.ck_customers_eu is a partition of public.ck_customers").doesNotContain("note:");
        Result view = check(port, "SELECT * FROM ck_contacts");
        assertThat(view.code()).isEqualTo(CheckCommand.EXIT_DENIED);
        assertThat(view.out()).contains("public.ck_contacts is a view reading public.ck_customers");
        // by names alone the partition passes, and the check says what it did not look at
        Result offline = check(0, "SELECT * FROM ck_customers_eu");
        assertThat(offline.code()).isZero();
        assertThat(offline.out()).contains("note: tables are judged by their names here").contains("--upstream");
    }

    @Test
    void aDatabaseThatCannotBeAskedIsAnErrorNotANameOnlyAnswer() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Result r = check(closed, "SELECT * FROM ck_customers_eu");
        assertThat(r.code()).isEqualTo(CheckCommand.EXIT_UNAVAILABLE);
        assertThat(r.err()).contains("cannot look up partitions, inheritance children and views in 127.0.0.1:"
                + closed);
    }
}
