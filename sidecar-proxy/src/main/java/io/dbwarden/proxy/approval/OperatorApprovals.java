package io.dbwarden.proxy.approval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dbwarden.api.v1alpha1.ChangeApprovalSpec;
import io.dbwarden.api.v1alpha1.ChangeShape;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.CompiledPolicy;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.SqlToken;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Approvals through the operator's sidecar API ({@code POST /sidecar/v1/approvals}), authenticated with the pod's
 * projected token. Asynchronous: the client's connection waits (reads paused) while the call runs, the event loop
 * does not. With the policy's holdSeconds the proxy keeps asking once a second until a decision or the time is up.
 */
public final class OperatorApprovals implements ApprovalService {
    private static final Logger LOG = LoggerFactory.getLogger(OperatorApprovals.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** sqlcommenter-style: {@code /* reason='why%20now',ticket='X-1' *}{@code /}; values URL-encoded. */
    private static final Pattern REASON = Pattern.compile("/\\*[^*]*?\\b(?:dbwarden_)?reason\\s*=\\s*'([^']*)'");
    static final String DEFAULT_ACTION_RULE = "default-action";

    private final URI endpoint;
    private final Path tokenFile;
    private final Supplier<HttpClient> http;
    private final String pod;
    private final Function<String, CompletionStage<List<List<String>>>> query;

    /**
     * @param query runs a query on the proxy's side connection (EXPLAIN estimates for automatic approval rules)
     */
    public OperatorApprovals(URI operator, Path tokenFile, Supplier<HttpClient> http, String pod,
                             Function<String, CompletionStage<List<List<String>>>> query) {
        this.endpoint = operator.resolve("/sidecar/v1/approvals");
        this.tokenFile = tokenFile;
        this.http = http;
        this.pod = pod;
        this.query = query;
    }

    @Override
    public CompletionStage<Verdict> request(StatementContext context, Verdict held, CompiledPolicy policy) {
        int length = context.statement().normalized().length();
        if (length > ChangeApprovalSpec.MAX_STATEMENT_CHARS) {
            return CompletableFuture.completedFuture(tooLong(held, length));
        }
        ObjectNode body = JSON.createObjectNode();
        // an approval covers this exact text, whatever comments surround it, with the values bound to its parameters
        String text = context.statement().text();
        body.put("policyNamespace", policy.namespace()).put("policy", policy.name())
                .put("rule", held.rule() == null ? DEFAULT_ACTION_RULE : held.rule())
                .put("database", context.session().database()).put("statement", context.statement().normalized())
                .put("statementHash", sha256(text, context.boundValues() == null ? null
                        : context.boundValues().digest()))
                .put("fingerprint", context.statement().fingerprint())
                .put("reason", reason(context.statement().source())).put("pod", pod);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(policy.approvalHoldSeconds());
        String rule = body.get("rule").asText();
        // evidence for automatic approval rules; the operator decides and records the approval
        ChangeShape shape = ChangeShapes.of(context.statement().tokens());
        if (shape != null) {
            body.put("shape", shape.yamlName());
        }
        boolean needsEstimate = policy.autoApprove().stream().anyMatch(r -> r.getMaxEstimatedRows() != null
                && (r.getRules().isEmpty() || r.getRules().contains(rule)));
        // with bind parameters, planned with the values bound as literals: the estimate is of those values
        List<SqlToken> tokens = context.statement().tokens();
        String planned = !needsEstimate || !explainable(tokens) ? null
                : context.boundValues() != null ? BoundLiterals.substituted(text, tokens, context.boundValues())
                : tokens.stream().anyMatch(t -> t.kind() == SqlToken.Kind.PARAM) ? null : text;
        if (planned == null) {
            return ask(body, held, deadline, context);
        }
        return query.apply(explain(policy.defaultSchema(), planned)).handle((rows, failure) -> {
            Long estimate = failure == null ? estimate(rows) : null;
            if (estimate != null) {
                body.put("estimatedRows", estimate);
            }
            return ask(body, held, deadline, context);
        }).thenCompose(s -> s);
    }

    /**
     * The estimate query for the proxy's side connection: the statement is planned with the search_path its session
     * has (pinned to the policy's default schema), so unqualified table names mean the tables the statement itself
     * would touch, not whatever the side connection's default path finds first; read-only and rolled back, so
     * nothing the planner evaluates can change anything. {@code schema} is a validated plain name.
     */
    static String explain(String schema, String text) {
        return "BEGIN READ ONLY; SET LOCAL search_path TO \"" + schema + "\"; SET LOCAL standard_conforming_strings"
                + " TO on; EXPLAIN (FORMAT JSON) " + text + "; ROLLBACK";
    }

    /**
     * Only plain DML is estimated (EXPLAIN never runs it); anything else has no estimate. A statement with bind
     * parameters is estimated with the values bound ({@link BoundLiterals}).
     */
    private static boolean explainable(List<SqlToken> tokens) {
        return !tokens.isEmpty()
                && Set.of("update", "delete", "insert", "merge", "select", "with").contains(tokens.get(0).text());
    }

    /** Rows the plan expects to touch: for a modification, what its input produces. */
    static Long estimate(List<List<String>> rows) {
        try {
            JsonNode plan = JSON.readTree(rows.get(0).get(0)).path(0).path("Plan");
            if ("ModifyTable".equals(plan.path("Node Type").asText()) && plan.path("Plans").size() > 0) {
                plan = plan.path("Plans").path(0);
            }
            return plan.has("Plan Rows") ? plan.path("Plan Rows").asLong() : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private CompletionStage<Verdict> ask(ObjectNode body, Verdict held, long deadline, StatementContext context) {
        HttpRequest req;
        try {
            req = HttpRequest.newBuilder(endpoint).timeout(Duration.ofSeconds(10))
                    .header("Authorization", "Bearer " + Files.readString(tokenFile).trim())
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        } catch (IOException e) {
            return CompletableFuture.completedFuture(unavailable(held, "cannot read the service-account token: "
                    + e.getMessage()));
        }
        return http.get().sendAsync(req, HttpResponse.BodyHandlers.ofString()).handle((resp, failure) -> {
            if (failure != null) {
                LOG.warn("approval service unreachable, statement denied: error={}", failure.toString());
                return CompletableFuture.completedFuture(unavailable(held, "the approval service is unreachable"));
            }
            JsonNode answer;
            try {
                answer = JSON.readTree(resp.body());
            } catch (IOException e) {
                return CompletableFuture.completedFuture(unavailable(held, "unreadable answer (" + resp.statusCode() + ")"));
            }
            if (resp.statusCode() != 200) {
                return CompletableFuture.completedFuture(unavailable(held, answer.path("message").asText("HTTP "
                        + resp.statusCode())));
            }
            String ref = answer.path("namespace").asText() + "/" + answer.path("name").asText();
            if (answer.path("run").asBoolean()) {
                return CompletableFuture.completedFuture(Verdict.approved(held.policy(), held.rule(),
                        "approved: changeapproval " + ref + " by " + answer.path("decidedBy").asText("unknown")));
            }
            String phase = answer.path("phase").asText();
            if ("pending".equalsIgnoreCase(phase) && System.nanoTime() < deadline) {
                // hold mode: ask again in a second, until decided, the hold time is over or the client cancels (an
                // approval given after that must not be used up by a statement that will not run)
                return CompletableFuture.supplyAsync(() -> null, CompletableFuture.delayedExecutor(1, TimeUnit.SECONDS))
                        .thenCompose(x -> context.cancelled().getAsBoolean()
                                ? CompletableFuture.completedFuture(cancelled(held, ref))
                                : ask(body, held, deadline, context));
            }
            return CompletableFuture.completedFuture(refused(held, answer, ref, phase));
        }).thenCompose(s -> s);
    }

    private static Verdict refused(Verdict held, JsonNode answer, String ref, String phase) {
        String ns = answer.path("namespace").asText();
        String name = answer.path("name").asText();
        if ("denied".equalsIgnoreCase(phase)) {
            return Verdict.deny(held.policy(), held.rule(), "approval denied: changeapproval " + ref,
                    PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + held.reason() + "; ChangeApproval "
                            + ref + " was " + answer.path("message").asText("denied") + " (by "
                            + answer.path("decidedBy").asText("unknown") + ")", null,
                            "This exact statement was denied; change it or ask again after the request expires."));
        }
        return new Verdict(Decision.REQUIRE_APPROVAL, held.policy(), held.rule(),
                "approval pending: changeapproval " + ref,
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + held.reason()
                                + "; approval requested: ChangeApproval " + ref + " is pending", null,
                        "An approver runs: kubectl -n " + ns + " patch changeapproval " + name
                                + " --type merge -p '{\"spec\":{\"decision\":\"approved\"}}' ; then run the same "
                                + "statement again (it runs once)."));
    }

    private static Verdict cancelled(Verdict held, String ref) {
        return Verdict.deny(held.policy(), held.rule(), "cancelled by the client while awaiting changeapproval " + ref,
                PgError.error("57014", "canceling statement due to user request", null,
                        "The statement was cancelled while it waited for approval; it did not run."));
    }

    /** A statement too long for approvers to review in one ChangeApproval: refused without a request. */
    private static Verdict tooLong(Verdict held, int length) {
        return Verdict.deny(held.policy(), held.rule(), "approval required; statement too long to request one",
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + held.reason() + "; the statement is "
                        + length + " characters long, more than an approval request shows ("
                        + ChangeApprovalSpec.MAX_STATEMENT_CHARS + ")", null,
                        "Split the change into smaller statements, each of which can be reviewed and approved."));
    }

    private static Verdict unavailable(Verdict held, String why) {
        return Verdict.deny(held.policy(), held.rule(), "approval unavailable: " + why,
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + held.reason()
                        + "; the approval could not be requested: " + why, null,
                        "Retry later; statements that need approval are refused while approvals cannot be checked."));
    }

    static String reason(String text) {
        Matcher m = REASON.matcher(text);
        if (!m.find()) {
            return null;
        }
        String r = URLDecoder.decode(m.group(1), StandardCharsets.UTF_8);
        return r.length() > 1024 ? r.substring(0, 1024) : r;
    }

    static String sha256(String text) {
        return sha256(text, null);
    }

    /**
     * What an approval covers: the SHA-256 of the statement's exact text (UTF-8) and, for a statement with bind
     * parameters, a zero byte and the SHA-256 of the values bound ({@link StatementContext#boundValues()}).
     */
    static String sha256(String text, byte[] boundValues) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(text.getBytes(StandardCharsets.UTF_8));
            if (boundValues != null) {
                d.update((byte) 0);
                d.update(boundValues);
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
