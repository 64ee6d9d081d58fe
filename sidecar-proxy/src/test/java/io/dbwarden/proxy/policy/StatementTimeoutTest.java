package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.api.validation.PolicyValidator;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.Test;
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

/** spec.statementTimeout: the server cancels longer statements, and the session cannot lift the limit. */
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
              statementTimeout: %s
            """;

    @Test
    void theServerCancelsLongStatementsAndTheSessionCannotLiftTheLimit(@TempDir Path dir) throws Exception {
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY.formatted("300ms"));
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
    void withoutTheFieldTheSessionKeepsItsOwnTimeout(@TempDir Path dir) throws Exception {
        Path policy = Files.writeString(dir.resolve("policy.yaml"), POLICY.formatted("5min"));
        PolicyEngine limited = PolicyEngine.of(PolicyLoader.load(policy), "agents/copilot");
        Path plain = Files.writeString(dir.resolve("plain.yaml"),
                POLICY.formatted("1s").replace("  statementTimeout: 1s\n", ""));
        PolicyEngine free = PolicyEngine.of(PolicyLoader.load(plain), "agents/copilot");
        assertThat(limited.sessionSettings()).containsEntry("statement_timeout", "300000");
        assertThat(free.sessionSettings()).doesNotContainKey("statement_timeout");
        try (StatementAnalyzer analyzer = new StatementAnalyzer(100, 1 << 20, 5_000, 1)) {
            var set = analyzer.analyzeNow(StatementInfo.of(SqlText.split("SET statement_timeout = 0", true).get(0)));
            assertThat(limited.decide(set).decision()).isEqualTo(Decision.DENY);
            assertThat(free.decide(set).decision()).isEqualTo(Decision.ALLOW);
        }
    }

    @Test
    void durationsAreCheckedWhenThePolicyIsLoaded() {
        assertThat(PolicyValidator.statementTimeoutMillis("30s")).isEqualTo(30_000);
        assertThat(PolicyValidator.statementTimeoutMillis("5min")).isEqualTo(300_000);
        assertThat(PolicyValidator.statementTimeoutMillis("250")).isEqualTo(250);
        for (String bad : List.of("30 seconds", "0", "0s", "1.5s", "-1s", "2147483648", "600h", "")) {
            assertThatThrownBy(() -> PolicyValidator.statementTimeoutMillis(bad)).as(bad)
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
