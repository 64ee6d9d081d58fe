package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.api.validation.PolicyValidator;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * spec.statementTimeout and spec.idleInTransactionTimeout: the server cancels longer statements and ends sessions
 * idling in a transaction, and the session cannot lift either limit.
 */
@ExtendWith(LeakDetection.class)
class StatementTimeoutTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: agent-limits
              namespace: agents
            spec:
              subjects:
                - identity: "agents/*"
              defaultAction: allow
              %s
            """;

    @Test
    void theServerCancelsLongStatementsAndTheSessionCannotLiftTheLimit(@TempDir Path dir) throws Exception {
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY.formatted("statementTimeout: 300ms"));
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "agents/copilot");
             Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
            assertThat(show(s)).isEqualTo("300ms");
            SQLException slow = catchThrowableOfType(SQLException.class, () -> s.execute("SELECT pg_sleep(2)"));
            assertThat(slow.getSQLState()).isEqualTo("57014");
            assertThat(slow.getMessage()).contains("statement timeout");
            for (String lift : List.of("SET statement_timeout = 0", "SET LOCAL statement_timeout TO '1h'",
                    "SET SESSION statement_timeout = 600000", "SELECT set_config('statement_timeout', '0', false)")) {
                assertThatThrownBy(() -> s.execute(lift)).as(lift).isInstanceOf(SQLException.class)
                        .hasMessageContaining("changing statement_timeout is not allowed")
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("42501"));
            }
            // back to the start value is fine: it is the policy's limit
            s.execute("RESET statement_timeout");
            s.execute("SET statement_timeout TO DEFAULT");
            assertThat(show(s)).isEqualTo("300ms");
            s.execute("SET lock_timeout = '1s'"); // other settings are the session's own
            try (ResultSet rs = s.executeQuery("SELECT pg_sleep(0.05), 1")) {
                assertThat(rs.next()).isTrue();
            }
        }
    }

    @Test
    void aSessionIdlingInATransactionIsEndedAndItsLocksReleased(@TempDir Path dir) throws Exception {
        try (Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = admin.createStatement()) {
            s.execute("DROP TABLE IF EXISTS idle_locked");
            s.execute("CREATE TABLE idle_locked (id int PRIMARY KEY, v int)");
            s.execute("INSERT INTO idle_locked VALUES (1, 0)");
        }
        Path policy = Files.writeString(dir.resolve("policy.yaml"),
                POLICY.formatted("idleInTransactionTimeout: 500ms"));
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "agents/copilot")) {
            try (Connection c = CliProxy.connect(proxy, ""); Statement s = c.createStatement()) {
                assertThatThrownBy(() -> s.execute("SET idle_in_transaction_session_timeout = 0"))
                        .hasMessageContaining("changing idle_in_transaction_session_timeout is not allowed");
                c.setAutoCommit(false);
                s.execute("UPDATE idle_locked SET v = v + 1 WHERE id = 1"); // holds the row lock
                Thread.sleep(1500); // the agent waits on its model
                SQLException ended = catchThrowableOfType(SQLException.class, () -> s.execute("SELECT 1"));
                assertThat(ended != null).as("the session was ended").isTrue();
                assertThat(ended.getSQLState()).isIn("25P03", "08006", "08003");
            }
            // the lock is gone: another session updates the row at once
            try (Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
                 Statement s = admin.createStatement()) {
                s.execute("SET lock_timeout = '2s'");
                assertThat(s.executeUpdate("UPDATE idle_locked SET v = 10 WHERE id = 1")).isEqualTo(1);
            }
        }
    }

    @Test
    void withoutTheFieldTheSessionKeepsItsOwnTimeout(@TempDir Path dir) throws Exception {
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY.formatted("statementTimeout: 5min"));
        PolicyEngine limited = PolicyEngine.of(PolicyLoader.load(policy), "agents/copilot");
        Path plain = Files.writeString(dir.resolve("plain.yaml"), POLICY.formatted("readOnly: false"));
        PolicyEngine free = PolicyEngine.of(PolicyLoader.load(plain), "agents/copilot");
        assertThat(limited.sessionSettings()).containsEntry("statement_timeout", "300000");
        assertThat(free.sessionSettings()).doesNotContainKey("statement_timeout");
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 5_000, 1)) {
            String set = "SET statement_timeout = 0";
            assertThat(QueryDecisions.decide(limited, analyzer, set).decision()).isEqualTo(Decision.DENY);
            assertThat(QueryDecisions.decide(free, analyzer, set).decision()).isEqualTo(Decision.ALLOW);
        }
    }

    @Test
    void durationsAreCheckedWhenThePolicyIsLoaded() {
        assertThat(PolicyValidator.timeoutMillis("30s")).isEqualTo(30_000);
        assertThat(PolicyValidator.timeoutMillis("5min")).isEqualTo(300_000);
        assertThat(PolicyValidator.timeoutMillis("250")).isEqualTo(250);
        for (String bad : List.of("30 seconds", "0", "0s", "1.5s", "-1s", "2147483648", "600h", "")) {
            assertThatThrownBy(() -> PolicyValidator.timeoutMillis(bad)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    private static String show(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SHOW statement_timeout")) {
            rs.next();
            return rs.getString(1);
        }
    }

    static {
        EmbeddedPg.get(); // the server the proxies above front
    }
}
