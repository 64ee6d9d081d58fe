package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.util.PSQLException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rules about a table cover its partitions, inheritance children and the user views that read it, whose rows are the
 * table's rows under another name: a deny rule for {@code public.pr_customers} also refuses {@code SELECT * FROM
 * pr_customers_eu} and a view over it. Restricting rules follow partitions, children and views, allow rules (and
 * their row limits) partitions only. Relations made outside the proxy count from the first statement that names them;
 * DDL through the proxy applies to the next statement. Real proxy (as {@code dbwarden-proxy run} starts it), real
 * PostgreSQL, pgjdbc.
 */
@ExtendWith(LeakDetection.class)
class PartitionRulesTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: agent
              namespace: test
            spec:
              subjects:
                - identity: test/agent
              defaultAction: allow
              rules:
                - name: reviewed-view
                  match:
                    statements: [SELECT]
                    tables: ["public.pr_customer_count"]
                  action: allow
                - name: no-customer-reads
                  match:
                    statements: [SELECT, COPY]
                    tables: ["public.pr_customers", "public.pr_people"]
                  action: deny
                  message: customer rows are off limits
                - name: frozen-partition
                  match:
                    statements: [UPDATE, DELETE, TRUNCATE]
                    tables: ["public.pr_events_2024"]
                  action: deny
                - name: bounded-order-deletes
                  match:
                    statements: [DELETE]
                    tables: ["public.pr_orders"]
                  action: allow
                  maxAffectedRows: 1
                - name: no-other-deletes
                  match:
                    statements: [DELETE]
                  action: deny
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: reader
              namespace: test
            spec:
              subjects:
                - identity: test/reader
              defaultAction: deny
              rules:
                - name: session
                  match:
                    statements: [SET, SHOW, TRANSACTION]
                  action: allow
                - name: read-orders-and-customers
                  match:
                    statements: [SELECT]
                    tables: ["public.pr_orders", "public.pr_customers", "public.pr_people"]
                  action: allow
            """;

    @TempDir
    static Path dir;
    static RunCommand.Running agent;
    static RunCommand.Running reader;

    @BeforeAll
    static void start() throws Exception {
        EmbeddedPg.execute(
                "DROP TABLE IF EXISTS pr_customers, pr_people, pr_orders, pr_loose, pr_late, pr_events CASCADE",
                "CREATE TABLE pr_customers (id int, region text, email text) PARTITION BY LIST (region)",
                "CREATE TABLE pr_customers_eu PARTITION OF pr_customers FOR VALUES IN ('eu') PARTITION BY RANGE (id)",
                "CREATE TABLE pr_customers_eu_1 PARTITION OF pr_customers_eu FOR VALUES FROM (0) TO (1000)",
                "CREATE TABLE pr_people (id int, email text)",
                "CREATE TABLE pr_people_archive (note text) INHERITS (pr_people)",
                "INSERT INTO pr_people_archive VALUES (2, 'cy@example.com', 'moved')",
                "INSERT INTO pr_customers VALUES (1, 'eu', 'ann@example.com')",
                "CREATE TABLE pr_orders (id int, total int) PARTITION BY RANGE (id)",
                "CREATE TABLE pr_orders_low PARTITION OF pr_orders FOR VALUES FROM (0) TO (100)",
                "INSERT INTO pr_orders SELECT g, g * 10 FROM generate_series(1, 5) g",
                "CREATE TABLE pr_loose (id int, region text, email text)",
                "CREATE TABLE pr_events (id int, year int, v text) PARTITION BY LIST (year)",
                "CREATE TABLE pr_events_2024 PARTITION OF pr_events FOR VALUES IN (2024)",
                "CREATE TABLE pr_events_2025 PARTITION OF pr_events FOR VALUES IN (2025)",
                "INSERT INTO pr_events VALUES (1, 2024, 'old'), (2, 2025, 'new')",
                "CREATE VIEW pr_customer_emails AS SELECT id, email FROM pr_customers",
                "CREATE VIEW pr_contacts AS SELECT e.email FROM pr_customer_emails e JOIN pr_orders o USING (id)",
                "CREATE VIEW pr_eu_ids AS SELECT id FROM pr_customers_eu_1",
                "CREATE VIEW pr_headcount AS SELECT count(*) AS n FROM pr_people",
                "CREATE VIEW pr_customer_count AS SELECT count(*) AS n FROM pr_customers",
                "CREATE VIEW pr_order_totals AS SELECT id, total FROM pr_orders");
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        agent = CliProxy.start(dir, policy, "test/agent");
        reader = CliProxy.start(dir, policy, "test/reader", "--audit", dir.resolve("reader.jsonl").toString());
    }

    @AfterAll
    static void stop() throws Exception {
        if (agent != null) {
            agent.close();
        }
        if (reader != null) {
            reader.close();
        }
        EmbeddedPg.execute("DROP TABLE IF EXISTS pr_customers, pr_people, pr_orders, pr_loose, pr_late, pr_events "
                + "CASCADE");
    }

    private static String denial(Connection c, String sql) {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            assertThat(e.getSQLState()).as(sql).isEqualTo("42501");
            return e.getMessage();
        }
        throw new AssertionError("not refused: " + sql);
    }

    private static int count(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            int n = 0;
            while (rs.next()) {
                n++;
            }
            return n;
        }
    }

    @Test
    void aDenyRuleCoversPartitionsAtEveryLevelUnderTheirOwnNames() throws Exception {
        try (Connection c = CliProxy.connect(agent, "")) {
            assertThat(denial(c, "SELECT email FROM pr_customers")).contains("no-customer-reads");
            String partition = denial(c, "SELECT email FROM public.pr_customers_eu");
            assertThat(partition).contains("no-customer-reads").contains("customer rows are off limits")
                    .contains("public.pr_customers_eu is a partition of public.pr_customers, which the rule names");
            assertThat(denial(c, "SELECT * FROM pr_customers_eu_1 WHERE id = 1")).contains("no-customer-reads");
            assertThat(denial(c, "SELECT o.id FROM pr_orders o JOIN pr_customers_eu_1 c ON c.id = o.id"))
                    .contains("no-customer-reads");
            assertThat(denial(c, "COPY pr_customers_eu_1 TO STDOUT")).contains("no-customer-reads");
            // the session stays usable, and other tables are not affected
            assertThat(count(c, "SELECT id FROM pr_orders_low")).isEqualTo(5);
            assertThat(count(c, "SELECT id FROM pr_loose")).isZero();
        }
    }

    @Test
    void aDenyRuleForAPartitionCoversItsParentWhoseRowsIncludeIt() throws Exception {
        try (Connection c = CliProxy.connect(agent, ""); Statement s = c.createStatement()) {
            assertThat(denial(c, "UPDATE pr_events SET v = 'changed' WHERE id = 1")).contains("frozen-partition")
                    .contains("public.pr_events is the parent of public.pr_events_2024, which the rule names");
            assertThat(denial(c, "TRUNCATE pr_events")).contains("frozen-partition");
            assertThat(denial(c, "UPDATE pr_events_2024 SET v = 'changed'")).contains("frozen-partition");
            // the other partition is not frozen, and reading the parent is not what the rule is about
            assertThat(s.executeUpdate("UPDATE pr_events_2025 SET v = 'newer' WHERE id = 2")).isEqualTo(1);
            assertThat(count(c, "SELECT * FROM pr_events")).isEqualTo(2);
        }
    }

    @Test
    void aDenyRuleCoversInheritanceChildren() throws Exception {
        try (Connection c = CliProxy.connect(agent, "")) {
            assertThat(denial(c, "SELECT note FROM pr_people_archive")).contains("no-customer-reads")
                    .contains("public.pr_people_archive is a child table of public.pr_people");
            // made through the proxy: the next statement knows it
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE pr_people_2025 () INHERITS (pr_people)");
            }
            assertThat(denial(c, "SELECT * FROM pr_people_2025")).contains("no-customer-reads");
        }
    }

    @Test
    void aDenyRuleCoversTheViewsThatReadItsTable() throws Exception {
        try (Connection c = CliProxy.connect(agent, "")) {
            assertThat(denial(c, "SELECT email FROM pr_customer_emails")).contains("no-customer-reads")
                    .contains("public.pr_customer_emails is a view reading public.pr_customers, which the rule names");
            assertThat(denial(c, "SELECT * FROM pr_contacts")).as("a view over a view")
                    .contains("public.pr_contacts is a view reading public.pr_customers");
            assertThat(denial(c, "SELECT * FROM public.pr_eu_ids")).contains("public.pr_eu_ids is a view reading "
                    + "public.pr_customers_eu_1, a partition of public.pr_customers");
            assertThat(denial(c, "SELECT n FROM pr_headcount")).as("no column read, the table still is")
                    .contains("public.pr_headcount is a view reading public.pr_people");
            // a view an earlier rule allows is its own interface; views over other tables are not affected
            assertThat(count(c, "SELECT n FROM pr_customer_count")).isEqualTo(1);
            assertThat(count(c, "SELECT * FROM pr_order_totals WHERE id < 3")).isEqualTo(2);
            // defining one reads the table (CREATE + SELECT): not through the proxy
            assertThat(denial(c, "CREATE VIEW pr_new_view AS SELECT email FROM pr_customers_eu"))
                    .contains("no-customer-reads");
            // made outside: the first statement that names it knows it
            EmbeddedPg.execute("CREATE VIEW pr_new_view AS SELECT email FROM pr_customers_eu");
            assertThat(denial(c, "SELECT * FROM pr_new_view")).contains("no-customer-reads");
            EmbeddedPg.execute("DROP VIEW pr_new_view");
        }
    }

    @Test
    void renamingOrDetachingATableARuleNamesIsDecidedByThatRule() throws Exception {
        try (Connection c = CliProxy.connect(agent, ""); Statement s = c.createStatement()) {
            String renamed = denial(c, "ALTER TABLE pr_people RENAME TO pr_folks");
            assertThat(renamed).contains("no-customer-reads")
                    .contains("public.pr_people would be renamed to public.pr_folks, a name this rule does not cover");
            assertThat(denial(c, "ALTER TABLE IF EXISTS public.pr_people SET SCHEMA pg_temp"))
                    .contains("would be moved to pg_temp.pr_people");
            assertThat(denial(c, "ALTER TABLE pr_customers DETACH PARTITION pr_customers_eu"))
                    .contains("public.pr_customers_eu would no longer be a partition of public.pr_customers");
            assertThat(denial(c, "ALTER TABLE pr_people_archive NO INHERIT pr_people"))
                    .contains("would no longer be a child table of public.pr_people");
            assertThat(denial(c, "ALTER TABLE pr_events_2024 RENAME TO pr_events_old")).contains("frozen-partition");
            // what stays covered, and tables no rule names, change as before
            s.execute("ALTER TABLE pr_customers_eu_1 RENAME TO pr_customers_eu_one"); // still a partition
            assertThat(denial(c, "SELECT * FROM pr_customers_eu_one")).contains("no-customer-reads");
            s.execute("ALTER TABLE pr_customers_eu_one RENAME TO pr_customers_eu_1");
            s.execute("ALTER TABLE pr_loose RENAME COLUMN email TO mail");
            s.execute("ALTER TABLE pr_loose RENAME COLUMN mail TO email");
        }
    }

    @Test
    void aPartitionMadeOutsideTheProxyIsCoveredFromItsFirstStatement() throws Exception {
        try (Connection c = CliProxy.connect(agent, "")) {
            assertThat(count(c, "SELECT id FROM pr_orders")).isEqualTo(5); // the graph is loaded
            EmbeddedPg.execute("CREATE TABLE pr_late PARTITION OF pr_customers FOR VALUES IN ('us')",
                    "INSERT INTO pr_customers VALUES (7, 'us', 'bob@example.com')");
            assertThat(denial(c, "SELECT email FROM pr_late")).contains("no-customer-reads")
                    .contains("public.pr_late is a partition of public.pr_customers");
            // and a name that is no table at all is the server's to refuse
            assertThatThrownBy(() -> count(c, "SELECT * FROM pr_nowhere")).isInstanceOf(PSQLException.class)
                    .extracting(e -> ((PSQLException) e).getSQLState()).isEqualTo("42P01");
        }
    }

    @Test
    void attachingThroughTheProxyAppliesToTheNextStatement() throws Exception {
        try (Connection c = CliProxy.connect(agent, "")) {
            assertThat(count(c, "SELECT email FROM pr_loose")).isZero(); // cached verdict: allowed
            try (Statement s = c.createStatement()) {
                s.execute("ALTER TABLE pr_customers ATTACH PARTITION pr_loose FOR VALUES IN ('apac')");
            }
            assertThat(denial(c, "SELECT email FROM pr_loose")).contains("no-customer-reads");
            // detaching it would take it out of the rule again: not for this identity (see below), but outside
            assertThat(denial(c, "ALTER TABLE pr_customers DETACH PARTITION pr_loose")).contains("no-customer-reads");
            EmbeddedPg.execute("ALTER TABLE pr_customers DETACH PARTITION pr_loose");
            // known to the proxy after its graph's next load: within a minute, at once after DDL through it
            try (Statement s = c.createStatement()) {
                s.execute("COMMENT ON TABLE pr_loose IS 'detached'");
            }
            assertThat(count(c, "SELECT email FROM pr_loose")).isZero();
        }
    }

    @Test
    void rowLimitsOfAnAllowRuleHoldForItsPartitions() throws Exception {
        try (Connection c = CliProxy.connect(agent, ""); Statement s = c.createStatement()) {
            s.execute("INSERT INTO pr_orders VALUES (50, 1), (51, 1)");
            assertThatThrownBy(() -> s.execute("DELETE FROM pr_orders_low WHERE id >= 50"))
                    .isInstanceOf(PSQLException.class).hasMessageContaining("bounded-order-deletes")
                    .extracting(e -> ((PSQLException) e).getSQLState()).isEqualTo("54000");
            assertThat(count(c, "SELECT id FROM pr_orders_low WHERE id >= 50")).isEqualTo(2);
            assertThat(s.executeUpdate("DELETE FROM pr_orders_low WHERE id = 51")).isEqualTo(1);
            assertThat(s.executeUpdate("DELETE FROM pr_orders_low WHERE id = 50")).isEqualTo(1);
            // deletes elsewhere: the catch-all rule
            assertThat(denial(c, "DELETE FROM pr_loose WHERE id = 1")).contains("no-other-deletes");
        }
    }

    @Test
    void allowRulesExtendToPartitionsButNotToInheritanceChildren() throws Exception {
        try (Connection c = CliProxy.connect(reader, "")) {
            assertThat(count(c, "SELECT id FROM pr_orders_low")).isGreaterThan(0);
            assertThat(count(c, "SELECT email FROM pr_customers_eu_1")).isEqualTo(1);
            assertThat(count(c, "SELECT email FROM pr_people")).isGreaterThan(0);
            // a child may have columns of its own that the allowed table does not: the default (deny) decides
            assertThat(denial(c, "SELECT note FROM pr_people_archive")).contains("default action of policy \"reader\"");
            assertThat(denial(c, "SELECT id FROM pr_loose")).contains("default action");
            // nor does an allow rule reach the views that read its tables
            assertThat(denial(c, "SELECT * FROM pr_order_totals")).contains("default action");
        }
    }
}
