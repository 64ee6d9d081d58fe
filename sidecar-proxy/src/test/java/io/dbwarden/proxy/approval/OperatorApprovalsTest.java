package io.dbwarden.proxy.approval;

import com.sun.net.httpserver.HttpServer;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.CompiledPolicy;
import io.dbwarden.proxy.postgres.BoundValues;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.testing.BoundValuesOf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class OperatorApprovalsTest {
    @Test
    void reasonComesFromASqlcommenterComment() {
        assertThat(OperatorApprovals.reason("CREATE TABLE t (id int) /* reason='nightly%20report',ticket='OPS-7' */"))
                .isEqualTo("nightly report");
        assertThat(OperatorApprovals.reason("/*dbwarden_reason='hot%20fix'*/ ALTER TABLE t ADD c int"))
                .isEqualTo("hot fix");
        assertThat(OperatorApprovals.reason("CREATE TABLE t (reason text)")).isNull();
        assertThat(OperatorApprovals.reason("CREATE TABLE t (id int) -- reason='not a sqlcommenter comment'")).isNull();
    }

    @Test
    void theReasonComesFromTheCommentsAroundTheStatement() {
        var statements = SqlText.split("CREATE TABLE t (id int) /* reason='a' */", true);
        StatementInfo info = StatementInfo.of(statements.getFirst());
        // the comment travels in source (for the reason); the approval covers the statement text itself
        assertThat(info.text()).isEqualTo("CREATE TABLE t (id int)");
        assertThat(info.source()).isEqualTo("CREATE TABLE t (id int) /* reason='a' */");
        var two = SqlText.split("/* reason='first' */ CREATE TABLE a (id int); ALTER TABLE a ADD b int -- x", true);
        assertThat(two.get(0).source()).isEqualTo("/* reason='first' */ CREATE TABLE a (id int)");
        assertThat(two.get(1).source()).isEqualTo("ALTER TABLE a ADD b int -- x");
        assertThat(OperatorApprovals.reason(two.get(0).source())).isEqualTo("first");
    }

    /**
     * Hold mode polls the operator while the request is pending; once the client cancels the statement the proxy
     * stops asking, so that an approval given later is not used up by a statement that will not run.
     */
    @Test
    void aCancelledStatementStopsWaitingForItsApproval(@TempDir Path dir) throws Exception {
        AtomicInteger asks = new AtomicInteger();
        HttpServer operator = PendingOperator.start("agents", body -> asks.incrementAndGet());
        try (HttpClient http = HttpClient.newHttpClient()) {
            Path token = Files.writeString(dir.resolve("token"), "sa-token");
            OperatorApprovals approvals = new OperatorApprovals(PendingOperator.uri(operator), token, () -> http,
                    "shop/agent-0",
                    sql -> CompletableFuture.failedFuture(new IllegalStateException("no estimate needed")));
            CompiledPolicy policy = CompiledPolicy.of(PolicyLoader.load(Path.of("../examples/ai-agent/policy.yaml"))
                    .getFirst()); // holds up to 60 s for a decision
            AtomicBoolean cancelled = new AtomicBoolean();
            StatementInfo statement = StatementInfo.of(SqlText.split("CREATE INDEX i ON t (c)", true).getFirst());
            StatementContext context = new StatementContext(new SessionInfo("agents/sql-copilot", "app", "shop",
                    "copilot", "", "127.0.0.1:5000", 1), statement, Protocol.SIMPLE, 'I', cancelled::get);
            Verdict held = new Verdict(Decision.REQUIRE_APPROVAL, policy.name(), "ddl-needs-approval",
                    "schema changes need approval", PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "held", null, null), 0);

            CompletableFuture<Verdict> verdict = approvals.request(context, held, policy).toCompletableFuture();
            await().atMost(10, TimeUnit.SECONDS).until(() -> asks.get() >= 2); // still pending, still asking
            assertThat(verdict).isNotDone();
            cancelled.set(true);
            Verdict v = verdict.get(5, TimeUnit.SECONDS);
            assertThat(v.forwards()).isFalse();
            assertThat(v.error().sqlState()).isEqualTo("57014");
            assertThat(v.reason()).contains("cancelled by the client").contains("agents/ca-1");
            int asked = asks.get();
            Thread.sleep(2_500);
            assertThat(asks.get()).isEqualTo(asked);
        } finally {
            operator.stop(0);
        }
    }

    /**
     * A statement longer than a ChangeApproval shows is refused without a request, saying why and what to do; one
     * within the limit is asked for, with the values bound to its parameters in the hash.
     */
    @Test
    void aStatementTooLongToReviewIsRefusedWithoutARequest(@TempDir Path dir) throws Exception {
        java.util.List<String> bodies = new java.util.concurrent.CopyOnWriteArrayList<>();
        HttpServer operator = PendingOperator.start("agents", b -> bodies.add(new String(b,
                java.nio.charset.StandardCharsets.UTF_8)));
        try (HttpClient http = HttpClient.newHttpClient()) {
            Path token = Files.writeString(dir.resolve("token"), "sa-token");
            OperatorApprovals approvals = new OperatorApprovals(PendingOperator.uri(operator), token, () -> http,
                    "shop/agent-0", sql -> CompletableFuture.failedFuture(new IllegalStateException("no estimate")));
            CompiledPolicy policy = CompiledPolicy.of(PolicyLoader.load(Path.of("../examples/ai-agent/policy.yaml"))
                    .getFirst());
            Verdict held = new Verdict(Decision.REQUIRE_APPROVAL, policy.name(), "ddl-needs-approval",
                    "schema changes need approval", PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "held", null, null),
                    0);
            StringBuilder body = new StringBuilder("CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 0");
            while (body.length() <= io.dbwarden.api.v1alpha1.ChangeApprovalSpec.MAX_STATEMENT_CHARS) {
                body.append(" + 1");
            }
            Verdict v = approvals.request(context(body.toString(), null, () -> false), held, policy)
                    .toCompletableFuture()
                    .get(5, TimeUnit.SECONDS);
            assertThat(v.forwards()).isFalse();
            assertThat(v.error().message()).contains("characters long, more than an approval request shows (65536)");
            assertThat(v.error().hint()).contains("Split the change");
            assertThat(bodies).as("nothing asked").isEmpty();

            BoundValues values = BoundValuesOf.values(new int[] {23}, new short[0], "7".getBytes(
                    java.nio.charset.StandardCharsets.UTF_8));
            // the policy holds statements for a decision: cancelled once asked, so that the test does not wait
            Verdict pending = approvals.request(context("UPDATE t SET v = $1", values, () -> !bodies.isEmpty()), held,
                    policy).toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(pending.forwards()).isFalse();
            assertThat(bodies).hasSize(1);
            assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(bodies.getFirst())
                    .get("statementHash").asText()).isEqualTo(OperatorApprovals.sha256("UPDATE t SET v = $1",
                            values.digest()))
                    .isNotEqualTo(OperatorApprovals.sha256("UPDATE t SET v = $1"));
        } finally {
            operator.stop(0);
        }
    }

    private static StatementContext context(String sql, BoundValues values,
                                            java.util.function.BooleanSupplier cancelled) {
        StatementInfo statement = StatementInfo.of(SqlText.split(sql, true).getFirst());
        return new StatementContext(new SessionInfo("agents/sql-copilot", "app", "shop", "copilot", "",
                "127.0.0.1:5000", 1), statement, Protocol.EXTENDED, 'I', cancelled, statement, values);
    }
}
