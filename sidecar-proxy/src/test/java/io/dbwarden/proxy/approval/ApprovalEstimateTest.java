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
import io.dbwarden.proxy.postgres.BoundValues;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.testing.BoundValuesOf;
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
            s.execute("CREATE TABLE shop.big AS SELECT g AS id, 0 AS v FROM generate_series(1, 20000) g");
            s.execute("ANALYZE shop.big");
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
        withOperator(dir, (approvals, side, asked) -> {
            CompiledPolicy policy = updatesNeedApproval();

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
        });
    }

    /**
     * A statement with bind parameters is estimated with the values a Bind supplies written as literals, so the
     * estimate is of those values (a generic plan's would be the same for all of them): text and binary values, a
     * quote in a value stays inside its literal; a binary value of a type the proxy does not decode gives no estimate.
     */
    @Test
    void aStatementWithBindParametersIsEstimatedWithTheValuesBound(@TempDir Path dir) throws Exception {
        withOperator(dir, (approvals, side, asked) -> {
            CompiledPolicy policy = updatesNeedApproval();
            String sql = "UPDATE big SET v = $2 WHERE id <= $1";
            // int4 in binary, then text
            request(approvals, policy, sql,
                    BoundValuesOf.values(new int[] {23, 23}, new short[] {1}, int4(5), int4(1)));
            request(approvals, policy, sql, BoundValuesOf.values(new int[0], new short[0], text("15000"), text("1")));
            // a quote inside a value: still one literal (else the estimate would be of every row)
            request(approvals, policy, "UPDATE big SET v = 1 WHERE id::text = $1",
                    BoundValuesOf.values(new int[0], new short[0], text("x' OR '1' = '1")));
            // NULL; a binary numeric (5) and a binary timestamp (19 ms after PostgreSQL's epoch) as drivers
            // that send everything in binary do; a binary timetz (not decoded here) has no estimate
            request(approvals, policy, "UPDATE big SET v = 1 WHERE id = $1",
                    BoundValuesOf.values(new int[] {23}, new short[0], (byte[]) null));
            request(approvals, policy, "UPDATE big SET v = 1 WHERE id < $1::int", BoundValuesOf.values(new int[] {1700},
                    new short[] {1}, new byte[] {0, 1, 0, 0, 0, 0, 0, 0, 0, 5}));
            request(approvals, policy, "UPDATE big SET v = 1 WHERE id < "
                    + "(extract(epoch FROM $1 - timestamp '2000-01-01') * 1000)::int",
                    BoundValuesOf.values(new int[] {1114}, new short[] {1}, int8(19_000)));
            request(approvals, policy, "UPDATE big SET v = 1 WHERE $1::timetz IS NOT NULL", BoundValuesOf.values(
                    new int[] {1266}, new short[] {1}, new byte[] {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}));
            assertThat(asked).hasSize(7);
            assertThat(asked.get(0).path("estimatedRows").asLong()).isBetween(1L, 50L);
            assertThat(asked.get(1).path("estimatedRows").asLong()).isBetween(10000L, 20000L);
            assertThat(asked.get(2).path("estimatedRows").asLong()).isBetween(1L, 1000L);
            assertThat(asked.get(3).path("estimatedRows").asLong()).isBetween(0L, 1L);
            assertThat(asked.get(4).path("estimatedRows").asLong()).isBetween(1L, 50L);
            assertThat(asked.get(5).path("estimatedRows").asLong()).isBetween(1L, 50L);
            assertThat(asked.get(6).has("estimatedRows")).isFalse();
            // the requests are for the values: other values, other hashes
            assertThat(asked.get(0).path("statementHash").asText()).isNotEqualTo(asked.get(1).path("statementHash")
                    .asText());
        });
    }

    /** What a test does with the approvals client, its side connection, and the requests the operator got. */
    private interface Scenario {
        void run(OperatorApprovals approvals, SideConnection side, List<JsonNode> asked) throws Exception;
    }

    /** Runs {@code scenario} against a pending operator that records each request's body. */
    private static void withOperator(Path dir, Scenario scenario) throws Exception {
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
            scenario.run(new OperatorApprovals(PendingOperator.uri(operator), token, () -> http, "shop/checkout-0",
                    side::query), side, asked);
        } finally {
            operator.stop(0);
        }
    }

    private static CompiledPolicy updatesNeedApproval() throws Exception {
        return CompiledPolicy.of(PolicyLoader.parse("""
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
    }

    private static byte[] int4(int v) {
        return java.nio.ByteBuffer.allocate(4).putInt(v).array();
    }

    private static byte[] int8(long v) {
        return java.nio.ByteBuffer.allocate(8).putLong(v).array();
    }

    private static byte[] text(String v) {
        return v.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    private static void request(OperatorApprovals approvals, CompiledPolicy policy, String sql) throws Exception {
        request(approvals, policy, sql, null);
    }

    private static void request(OperatorApprovals approvals, CompiledPolicy policy, String sql, BoundValues values)
            throws Exception {
        StatementInfo statement = StatementInfo.of(SqlText.split(sql, true).getFirst());
        StatementContext context = new StatementContext(new SessionInfo("shop/checkout", "app", DB, "checkout",
                "", "127.0.0.1:5000", 1), statement, values == null ? Protocol.SIMPLE : Protocol.EXTENDED, 'I',
                () -> false, statement, values);
        Verdict held = new Verdict(Decision.REQUIRE_APPROVAL, policy.name(), "updates-need-approval",
                "updates need approval", PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "held", null, null), 0);
        Verdict v = approvals.request(context, held, policy).toCompletableFuture().get(20, TimeUnit.SECONDS);
        assertThat(v.forwards()).isFalse(); // the fake operator leaves it pending
    }
}
