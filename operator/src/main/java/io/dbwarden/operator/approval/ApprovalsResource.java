package io.dbwarden.operator.approval;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ApprovalSettings;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.ChangeApprovalSpec;
import io.dbwarden.api.v1alpha1.ChangeApprovalStatus;
import io.dbwarden.api.v1alpha1.ChangeShape;
import io.dbwarden.api.v1alpha1.AutoApproveRule;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.Requester;
import io.dbwarden.api.v1alpha1.Rule;
import io.dbwarden.api.validation.PolicyValidator;
import io.dbwarden.api.validation.Subjects;
import io.dbwarden.operator.Events;
import io.dbwarden.operator.Hashes;
import io.dbwarden.operator.PolicyBundles;
import io.dbwarden.operator.TokenReviewer;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.smallrye.common.annotation.Blocking;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Response;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Where sidecars ask for approval of a statement that a requireApproval rule holds. The caller's identity comes from
 * its service-account token (TokenReview), never from the request. The answer says whether the statement may run
 * now: an approved ChangeApproval for this identity and exact statement (by hash) gives one use (consumed here with
 * an optimistic status update, so concurrent replicas cannot hand out more uses than approved); otherwise the
 * pending request is reused, or a new one is created in the policy's namespace.
 */
@Path("/sidecar/v1/approvals")
public class ApprovalsResource {
    private static final Logger LOG = Logger.getLogger(ApprovalsResource.class);
    public static final String DEFAULT_ACTION_RULE = "default-action";

    /** What the sidecar sends. */
    public record ApprovalRequest(String policyNamespace, String policy, String rule, String database,
                                  String statement, String statementHash, String fingerprint, String reason,
                                  String pod, String shape, Long estimatedRows) {
    }

    /** What it gets back: whether to run the statement now, and which ChangeApproval covers it. */
    public record ApprovalAnswer(String namespace, String name, String phase, boolean run, String decidedBy,
                                 String message) {
    }

    private final TokenReviewer reviewer;
    private final PolicyBundles bundles;
    private final KubernetesClient client;

    public ApprovalsResource(TokenReviewer reviewer, PolicyBundles bundles, KubernetesClient client) {
        this.reviewer = reviewer;
        this.bundles = bundles;
        this.client = client;
    }

    @POST
    @Blocking
    @Consumes("application/json")
    @Produces("application/json")
    public Response request(@HeaderParam("Authorization") String authorization, ApprovalRequest req) {
        String token = authorization != null && authorization.startsWith("Bearer ")
                ? authorization.substring(7).trim() : null;
        Optional<String> identity = reviewer.identity(token);
        if (identity.isEmpty()) {
            return error(Response.Status.UNAUTHORIZED, "a valid service-account token with audience dbwarden is required");
        }
        String invalid = invalid(req);
        if (invalid != null) {
            return error(Response.Status.BAD_REQUEST, invalid);
        }
        DatabaseAccessPolicy policy = bundles.policy(req.policyNamespace(), req.policy()).orElse(null);
        if (policy == null || policy.getSpec() == null || !PolicyValidator.validate(policy).isEmpty()
                || !Subjects.matches(policy.getSpec().getSubjects(), req.policyNamespace(), identity.get())
                || !holdsForApproval(policy, req.rule())) {
            return error(Response.Status.FORBIDDEN, "policy " + req.policyNamespace() + "/" + req.policy()
                    + " does not hold statements of " + identity.get() + " for approval under rule " + req.rule());
        }
        for (int attempt = 0; attempt < 5; attempt++) {
            try {
                return Response.ok(answer(identity.get(), req, policy)).build();
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                LOG.debugf("ChangeApproval changed concurrently, retrying (attempt %d)", attempt + 1);
            }
        }
        return error(Response.Status.CONFLICT, "the ChangeApproval is being changed concurrently; retry");
    }

    private ApprovalAnswer answer(String identity, ApprovalRequest req, DatabaseAccessPolicy policy) {
        String ns = req.policyNamespace();
        Instant now = Instant.now();
        List<ChangeApproval> existing = client.resources(ChangeApproval.class).inNamespace(ns)
                .withLabel(ApprovalState.REQUESTER_LABEL, Hashes.sha256Hex(identity, 20))
                .withLabel(ApprovalState.STATEMENT_LABEL, req.statementHash().substring(0, 40))
                .list().getItems().stream()
                .filter(ca -> identity.equals(ca.getSpec().getRequester().getIdentity())
                        && req.statementHash().equals(ca.getSpec().getStatementHash()))
                .sorted(Comparator.comparing((ChangeApproval ca) -> Objects.requireNonNullElse(
                        ca.getMetadata().getCreationTimestamp(), "")).reversed())
                .toList();
        AutoApproveRule auto = autoRule(policy, req, now);
        for (ChangeApproval ca : existing) {
            ApprovalPhase phase = ApprovalState.phase(ca, now);
            if (phase == ApprovalPhase.PENDING && auto != null) {
                return autoApprove(ca, auto, identity, now); // e.g. the window has opened since it was requested
            }
            switch (phase) {
                case APPROVED -> {
                    consume(ca, now);
                    LOG.infof("approved statement of %s runs under %s/%s", identity, ns, ca.getMetadata().getName());
                    return new ApprovalAnswer(ns, ca.getMetadata().getName(), ApprovalPhase.APPROVED.yamlName(), true,
                            ApprovalState.annotation(ca, ApprovalState.DECIDED_BY), "approved");
                }
                case PENDING -> {
                    return new ApprovalAnswer(ns, ca.getMetadata().getName(), phase.yamlName(), false, null,
                            "waiting for an approver");
                }
                case DENIED -> {
                    return new ApprovalAnswer(ns, ca.getMetadata().getName(), phase.yamlName(), false,
                            ApprovalState.annotation(ca, ApprovalState.DECIDED_BY),
                            ca.getSpec().getComment() == null ? "denied" : "denied: " + ca.getSpec().getComment());
                }
                default -> {
                    // used or expired: a retry asks anew
                }
            }
        }
        ChangeApproval request = newRequest(identity, req, policy, now);
        if (auto != null) {
            request.getMetadata().getAnnotations().put(ApprovalState.AUTO_APPROVAL, auto.getName());
        }
        ChangeApproval created = client.resource(request).create();
        if (auto != null) {
            return autoApprove(created, auto, identity, now);
        }
        LOG.infof("approval requested: %s/%s by %s for rule %s of policy %s", ns, created.getMetadata().getName(),
                identity, req.rule(), req.policy());
        return new ApprovalAnswer(ns, created.getMetadata().getName(), ApprovalPhase.PENDING.yamlName(), false, null,
                "approval requested");
    }

    /** The first automatic approval rule of the policy that approves this request now, or null. */
    private static AutoApproveRule autoRule(DatabaseAccessPolicy policy, ApprovalRequest req, Instant now) {
        ApprovalSettings settings = policy.getSpec().getApprovals();
        if (settings == null) {
            return null;
        }
        ChangeShape shape;
        try {
            shape = req.shape() == null ? null : ChangeShape.parse(req.shape());
        } catch (IllegalArgumentException e) {
            shape = null;
        }
        for (AutoApproveRule r : settings.getAutoApprove()) {
            if (r.approves(req.rule(), shape, req.estimatedRows(), now)) {
                return r;
            }
        }
        return null;
    }

    /**
     * Records the automatic approval on the request and takes this use, in one status write (status: approved by
     * the rule, so the record says who decided).
     */
    private ApprovalAnswer autoApprove(ChangeApproval ca, AutoApproveRule rule, String identity, Instant now) {
        int left = ApprovalState.usesLeft(ca) - 1;
        ChangeApprovalStatus status = ca.getStatus() == null ? new ChangeApprovalStatus() : ca.getStatus();
        status.setAutoApproved(true);
        status.setAutoApprovalRule(rule.getName());
        status.setDecidedBy("auto:" + rule.getName());
        status.setDecidedAt(now.toString());
        status.setUsesLeft(left);
        status.setPhase(left > 0 ? ApprovalPhase.APPROVED : ApprovalPhase.USED);
        ca.setStatus(status);
        ChangeApproval approved = client.resource(ca).lockResourceVersion(ca.getMetadata().getResourceVersion())
                .updateStatus();
        Events.record(client, approved, "Normal", "AutoApproved", "approved automatically by rule " + rule.getName()
                + " of policy " + approved.getSpec().getPolicy() + " for " + identity);
        LOG.infof("statement of %s auto-approved by rule %s: %s/%s", identity, rule.getName(),
                approved.getMetadata().getNamespace(), approved.getMetadata().getName());
        return new ApprovalAnswer(approved.getMetadata().getNamespace(), approved.getMetadata().getName(),
                ApprovalPhase.APPROVED.yamlName(), true, "auto:" + rule.getName(), "approved automatically");
    }

    /** Takes one use; the status update carries the resourceVersion read, so a concurrent use fails with 409. */
    private void consume(ChangeApproval ca, Instant now) {
        int left = ApprovalState.usesLeft(ca) - 1;
        ChangeApprovalStatus status = ca.getStatus() == null ? new ChangeApprovalStatus() : ca.getStatus();
        status.setUsesLeft(left);
        status.setPhase(left > 0 ? ApprovalPhase.APPROVED : ApprovalPhase.USED);
        ca.setStatus(status);
        client.resource(ca).lockResourceVersion(ca.getMetadata().getResourceVersion()).updateStatus();
    }

    private static ChangeApproval newRequest(String identity, ApprovalRequest req, DatabaseAccessPolicy policy,
                                             Instant now) {
        ApprovalSettings settings = policy.getSpec().getApprovals() == null ? new ApprovalSettings()
                : policy.getSpec().getApprovals();
        String sa = identity.substring(identity.indexOf('/') + 1);
        ChangeApproval ca = new ChangeApproval();
        ca.setMetadata(new ObjectMetaBuilder().withGenerateName(prefix(sa)).withNamespace(req.policyNamespace())
                .addToLabels(ApprovalState.REQUESTER_LABEL, Hashes.sha256Hex(identity, 20))
                .addToLabels(ApprovalState.STATEMENT_LABEL, req.statementHash().substring(0, 40))
                .addToLabels("app.kubernetes.io/managed-by", "dbwarden-operator")
                .withAnnotations(new java.util.HashMap<>()).build());
        ChangeApprovalSpec spec = new ChangeApprovalSpec();
        Requester requester = new Requester();
        requester.setIdentity(identity);
        requester.setPod(req.pod());
        spec.setRequester(requester);
        spec.setDatabase(req.database());
        spec.setPolicy(req.policy());
        spec.setRule(req.rule());
        spec.setStatement(req.statement());
        spec.setStatementHash(req.statementHash());
        spec.setFingerprint(req.fingerprint());
        spec.setReason(req.reason());
        spec.setExpiresAt(now.plus(Duration.parse(settings.getExpiresAfter() == null ? "PT1H"
                : settings.getExpiresAfter())).toString());
        spec.setUses(settings.getUses() == null ? 1 : settings.getUses());
        ca.setSpec(spec);
        return ca;
    }

    private static String prefix(String sa) {
        String p = sa.toLowerCase().replaceAll("[^a-z0-9-]", "-");
        return (p.length() > 50 ? p.substring(0, 50) : p) + "-";
    }

    private static boolean holdsForApproval(DatabaseAccessPolicy policy, String rule) {
        if (DEFAULT_ACTION_RULE.equals(rule)) {
            return policy.getSpec().getDefaultAction() == Action.REQUIRE_APPROVAL;
        }
        for (Rule r : policy.getSpec().getRules()) {
            if (r.getName().equals(rule)) {
                return r.getAction() == Action.REQUIRE_APPROVAL;
            }
        }
        return false;
    }

    static String invalid(ApprovalRequest r) {
        if (r == null) {
            return "request body required";
        }
        if (blank(r.policyNamespace()) || blank(r.policy()) || blank(r.rule()) || blank(r.database())
                || blank(r.statement())) {
            return "policyNamespace, policy, rule, database and statement are required";
        }
        if (r.statementHash() == null || !r.statementHash().matches("[0-9a-f]{64}")) {
            return "statementHash must be the SHA-256 (64 lower-case hex digits) of the statement";
        }
        if (r.statement().length() > ChangeApprovalSpec.MAX_STATEMENT_CHARS) {
            return "statement longer than " + ChangeApprovalSpec.MAX_STATEMENT_CHARS + " characters";
        }
        if (r.reason() != null && r.reason().length() > 1024) {
            return "reason longer than 1024 characters";
        }
        return null;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    private static Response error(Response.Status status, String message) {
        return Response.status(status).type("application/json")
                .entity(new ApprovalAnswer(null, null, null, false, null, message)).build();
    }
}
