package io.dbwarden.proxy.demo;

import io.dbwarden.proxy.cli.RunCommand;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.concurrent.CountDownLatch;

/**
 * The one-command demo: an embedded PostgreSQL with a small shop database, and two proxies in front of it: one for
 * the checkout application (examples/policies/app-guardrails.yaml) and one for an AI agent
 * (examples/policies/ai-agent-read-only.yaml: reads only, personal data masked). Prints how to connect with psql;
 * runs until interrupted.
 */
public final class Demo {
    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("DBWARDEN_DEMO_PORT", "6432"));
        int agentPort = Integer.parseInt(System.getenv().getOrDefault("DBWARDEN_DEMO_AGENT_PORT", "6433"));
        Path policy = Path.of(System.getenv().getOrDefault("DBWARDEN_DEMO_POLICY", "examples/policies/app-guardrails.yaml"));
        Path agentPolicy = Path.of("examples/policies/ai-agent-read-only.yaml");
        for (Path p : new Path[] {policy, agentPolicy}) {
            if (!Files.exists(p)) {
                throw new IllegalStateException("policy file not found: " + p.toAbsolutePath()
                        + " (run from the repository root, or set DBWARDEN_DEMO_POLICY)");
            }
        }
        Path audit = Path.of("target", "demo-audit.jsonl").toAbsolutePath();
        Path agentAudit = Path.of("target", "demo-agent-audit.jsonl").toAbsolutePath();
        EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
        try (Connection c = DriverManager.getConnection(pg.getJdbcUrl("postgres", "postgres"));
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE shop");
        }
        try (Connection c = DriverManager.getConnection(pg.getJdbcUrl("postgres", "shop"));
             Statement s = c.createStatement()) {
            s.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, email text)");
            s.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, "
                    + "total numeric(10,2), created_at timestamptz DEFAULT now())");
            s.execute("INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Linus', 'linus@example.org')");
            s.execute("INSERT INTO orders (id, customer_id, total) SELECT g, 1 + g % 2, g * 9.99 "
                    + "FROM generate_series(1, 20) g");
        }
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs("--listen", "127.0.0.1:" + port, "--upstream", "127.0.0.1:" + pg.getPort(),
                "--upstream-database", "shop", "--upstream-user", "postgres", "--upstream-tls", "disable",
                "--identity", "standalone/demo", "--policy", policy.toString(), "--audit", audit.toString(),
                "--admin-listen", "127.0.0.1:0");
        RunCommand.Running running = cmd.start();
        // the agent policy hashes national ids: a demo key (a real deployment mounts its own secret)
        Path maskingKey = Path.of("target", "demo-masking.key").toAbsolutePath();
        if (!Files.exists(maskingKey)) {
            byte[] key = new byte[32];
            new java.security.SecureRandom().nextBytes(key);
            Files.writeString(maskingKey, java.util.HexFormat.of().formatHex(key));
        }
        RunCommand agentCmd = new RunCommand();
        new CommandLine(agentCmd).parseArgs("--masking-key-file", maskingKey.toString(),"--listen", "127.0.0.1:" + agentPort, "--upstream", "127.0.0.1:" + pg.getPort(),
                "--upstream-database", "shop", "--upstream-user", "postgres", "--upstream-tls", "disable",
                "--identity", "agents/sql-copilot", "--policy", agentPolicy.toString(), "--audit", agentAudit.toString(),
                "--admin-listen", "none");
        RunCommand.Running agent = agentCmd.start();
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            agent.close();
            running.close();
            try {
                pg.close();
            } catch (Exception ignored) {
                // exiting anyway
            }
            done.countDown();
        }));
        System.out.printf("""

                dbwarden demo is running.
                  proxy:    127.0.0.1:%d  (embedded PostgreSQL %d behind it, database "shop")
                  policy:   %s
                  audit:    %s
                  metrics:  http://127.0.0.1:%d/metrics

                Connect (no password: the proxy holds the database credentials):
                  psql "host=127.0.0.1 port=%d dbname=shop user=demo sslmode=disable"

                Try:
                  SELECT * FROM orders WHERE total > 100;       -- allowed
                  DELETE FROM orders;                           -- denied: no WHERE
                  DROP TABLE orders;                            -- denied before it reaches the database
                  ALTER TABLE orders ADD COLUMN note text;      -- requires approval
                  SELECT pg_read_file('/etc/passwd');           -- denied: admin-only function

                As the AI agent (%s: reads only, personal data masked; audit %s):
                  psql "host=127.0.0.1 port=%d dbname=shop user=agent sslmode=disable"
                  SELECT name, email FROM customers;            -- emails masked: a***@example.com
                  UPDATE orders SET total = 0 WHERE id = 1;     -- denied: the agent only reads

                Check a statement offline:
                  java -jar sidecar-proxy/target/dbwarden-proxy.jar check --policy %s --identity standalone/demo --sql "DROP TABLE orders"

                Ctrl-C stops the demo.
                """, running.server().port(), pg.getPort(), policy, audit, running.admin().port(),
                running.server().port(), agentPolicy, agentAudit, agent.server().port(), policy);
        done.await();
    }
}
