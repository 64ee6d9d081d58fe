package io.dbwarden.proxy.approval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.internal.SideConnection;
import io.dbwarden.proxy.policy.CompiledPolicy;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Automatic approval by estimated rows plans the statement on the proxy's side connection. The estimate must be for
 * the tables the statement itself touches: its session resolves unqualified names in the policy's default schema,
 * the side connection on its own would find another table of the same name first.
 */
class ApprovalEstimateTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final EmbeddedPg PG = EmbeddedPg.get();
    private static final String DB = "estimates";

    @BeforeAll
    static void tables() throws Exception {
        try (Connection c = PG.direct("postgres"); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + DB);
        }
        try (Connection c = PG.direct(DB); Statement s = c.createStatement()) {
            s.execute("CREATE SCHEMA shop");
            s.execute("CREATE TABLE shop.orders AS SELECT g AS id, 0 AS v FROM generate_series(1, 10) g");
            s.execute("CREATE TABLE public.orders AS SELECT g AS id, 0 AS v FROM generate_series(1, 20000) g");
            s.execute("ANALYZE shop.orders");
            s.execute("ANALYZE public.orders");
        }
    }

    @AfterAll
    static void drop() throws Exception {
        try (Connection c = PG.direct("postgres"); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE " + DB + " WITH (FORCE)");
        }
    }

    @Test
    void theEstimateIsForTheTableInThePoliciesDefaultSchemaAndTheSideConnectionStaysUsable(@TempDir Path dir)
            throws Exception {
        List<JsonNode> asked = new CopyOnWriteArrayList<>();
        HttpServer operator = PendingOperator.start("shop", body -> {
            try {
                asked.add(JSON.readTree(body));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        ProxyConfig config = ProxyConfig.simple(new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", PG.port()))
                .withUpstreamCredentials(EmbeddedPg.SCRAM_USER, EmbeddedPg.PASSWORD).withUpstreamDatabase(DB);
        try (HttpClient http = HttpClient.newHttpClient(); SideConnection side = new SideConnection(config)) {
            Path token = Files.writeString(dir.resolve("token"), "sa-token");
            OperatorApprovals approvals = new OperatorApprovals(PendingOperator.uri(operator), token, () -> http,
                    "shop/checkout-0", side::query);
            CompiledPolicy policy = CompiledPolicy.of(PolicyLoader.parse("""
                    apiVersion: dbwarden.io/v1alpha1
                    kind: DatabaseAccessPolicy
                    metadata:
                      name: orders
                      namespace: shop
                    spec:
                      subjects:
                        - serviceAccount: checkout
                      defaultSchema: shop
                      defaultAction: allow
                      rules:
                        - name: updates-need-approval
                          match:
                            statements: [UPDATE]
                          action: requireApproval
                      approvals:
                        approvers:
                          - user: alice@example.com
                        autoApprove:
                          - name: small-updates
                            rules: [updates-need-approval]
                            maxEstimatedRows: 100
                    """, "test").getFirst());

            request(approvals, policy, "UPDATE orders SET v = 1");
            assertThat(asked).hasSize(1);
            // shop.orders has 10 rows; public.orders (20000) is what the side connection's own path would find
            assertThat(asked.getFirst().path("estimatedRows").asLong()).isBetween(1L, 100L);

            // a statement the planner rejects inside the estimate's transaction: no estimate, and the shared
            // connection is not left in the failed transaction (later lookups still work, outside any transaction)
            request(approvals, policy, "UPDATE nowhere SET v = 1");
            assertThat(asked).hasSize(2);
            assertThat(asked.get(1).has("estimatedRows")).isFalse();
            List<List<String>> rows = side.query("SELECT current_setting('search_path'), "
                    + "(SELECT count(*) FROM orders)::text, now() = statement_timestamp()")
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(rows).containsExactly(List.of("\"$user\", public", "20000", "t"));
        } finally {
            operator.stop(0);
        }
    }

    private static void request(OperatorApprovals approvals, CompiledPolicy policy, String sql) throws Exception {
        StatementInfo statement = StatementInfo.of(SqlText.split(sql, true).getFirst());
        StatementContext context = new StatementContext(new SessionInfo("shop/checkout", "app", DB, "checkout",
                "", "127.0.0.1:5000", 1), statement, Protocol.SIMPLE, 'I');
        Verdict held = new Verdict(Decision.REQUIRE_APPROVAL, policy.name(), "updates-need-approval",
                "updates need approval", PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "held", null, null), 0);
        Verdict v = approvals.request(context, held, policy).toCompletableFuture().get(20, TimeUnit.SECONDS);
        assertThat(v.forwards()).isFalse(); // the fake operator leaves it pending
    }
}
