package io.dbwarden.operator.approval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dbwarden.api.v1alpha1.Approver;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.ChangeApprovalSpec;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.operator.Admission;
import io.dbwarden.operator.PolicyBundles;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionRequest;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.smallrye.common.annotation.Blocking;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import static io.dbwarden.operator.Admission.allow;
import static io.dbwarden.operator.Admission.deny;

/**
 * Admission for ChangeApprovals, so that approving is plain kubectl and still trustworthy:
 * <ul>
 *   <li>only the operator creates them (requests come from sidecars through the operator), undecided;</li>
 *   <li>a decision may only be set by an approver the policy names (user or group), never by the requesting
 *       service account itself; the webhook records who decided and when (annotations the reconciler copies into
 *       status) from the request's authenticated user, whatever the object says;</li>
 *   <li>the request itself (statement, requester, hash, ...) never changes, and a decided approval is immutable.</li>
 * </ul>
 */
@Path("/admission/changeapprovals")
public class ChangeApprovalWebhook {
    private static final Logger LOG = Logger.getLogger(ChangeApprovalWebhook.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final PolicyBundles bundles;
    private final String operatorUser;

    public ChangeApprovalWebhook(PolicyBundles bundles,
                                 @ConfigProperty(name = "dbwarden.operator.namespace", defaultValue = "dbwarden")
                                 String namespace,
                                 @ConfigProperty(name = "dbwarden.operator.service-account",
                                         defaultValue = "dbwarden-operator") String serviceAccount) {
        this.bundles = bundles;
        this.operatorUser = "system:serviceaccount:" + namespace + ":" + serviceAccount;
    }

    @POST
    @Blocking
    @Consumes("application/json")
    @Produces("application/json")
    public AdmissionReview review(AdmissionReview review) {
        AdmissionRequest req = review.getRequest();
        AdmissionResponse response;
        try {
            response = decide(req);
        } catch (RuntimeException e) {
            LOG.errorf("ChangeApproval admission failed: %s", e.toString());
            response = deny(req, 500, "dbwarden could not check this ChangeApproval: " + e.getMessage());
        }
        return Admission.review(response);
    }

    private AdmissionResponse decide(AdmissionRequest req) {
        String user = req.getUserInfo() == null ? null : req.getUserInfo().getUsername();
        List<String> groups = req.getUserInfo() == null || req.getUserInfo().getGroups() == null ? List.of()
                : req.getUserInfo().getGroups();
        ChangeApproval object = req.getObject() == null ? null
                : Serialization.unmarshal(Serialization.asJson(req.getObject()), ChangeApproval.class);
        switch (req.getOperation()) {
            case "CREATE" -> {
                if (!operatorUser.equals(user)) {
                    return deny(req, 403, "ChangeApprovals are created by dbwarden when a statement needs approval; "
                            + user + " cannot create one");
                }
                if (object.getSpec().getDecision() != null) {
                    return deny(req, 400, "a new ChangeApproval cannot carry a decision");
                }
                return allow(req, null);
            }
            case "UPDATE" -> {
                ChangeApproval old = Serialization.unmarshal(Serialization.asJson(req.getOldObject()),
                        ChangeApproval.class);
                return update(req, old, object, user, groups);
            }
            default -> {
                return allow(req, null);
            }
        }
    }

    private AdmissionResponse update(AdmissionRequest req, ChangeApproval old, ChangeApproval now, String user,
                                     List<String> groups) {
        ChangeApprovalSpec o = old.getSpec();
        ChangeApprovalSpec n = now.getSpec();
        boolean stampsChanged = !Objects.equals(ApprovalState.annotation(old, ApprovalState.DECIDED_BY),
                ApprovalState.annotation(now, ApprovalState.DECIDED_BY))
                || !Objects.equals(ApprovalState.annotation(old, ApprovalState.DECIDED_AT),
                ApprovalState.annotation(now, ApprovalState.DECIDED_AT))
                || !Objects.equals(ApprovalState.annotation(old, ApprovalState.AUTO_APPROVAL),
                ApprovalState.annotation(now, ApprovalState.AUTO_APPROVAL));
        if (o.getDecision() != null) {
            if (!sameRequest(o, n) || n.getDecision() != o.getDecision() || !Objects.equals(o.getComment(),
                    n.getComment()) || stampsChanged) {
                return deny(req, 403, "ChangeApproval " + old.getMetadata().getName() + " was already "
                        + o.getDecision().yamlName() + " by " + ApprovalState.annotation(old, ApprovalState.DECIDED_BY)
                        + "; a decided approval cannot be changed");
            }
            return allow(req, null);
        }
        if (!sameRequest(o, n)) {
            return deny(req, 403, "only spec.decision and spec.comment of a ChangeApproval can be set; the request "
                    + "itself (statement, requester, policy, rule, expiry, uses) is fixed");
        }
        if (n.getDecision() == null) {
            if (stampsChanged) {
                return deny(req, 403, "the dbwarden.io/decided-* and auto-approval annotations are written by "
                        + "dbwarden only");
            }
            return allow(req, null);
        }
        // a decision is being made
        if (user != null && user.equals("system:serviceaccount:" + o.getRequester().getIdentity().replace('/', ':'))) {
            return deny(req, 403, "the requesting service account cannot decide its own change");
        }
        if (ApprovalState.expired(old, Instant.now())) {
            return deny(req, 403, "ChangeApproval " + old.getMetadata().getName() + " has expired; the statement "
                    + "must be requested again");
        }
        DatabaseAccessPolicy policy = bundles.policy(old.getMetadata().getNamespace(), o.getPolicy()).orElse(null);
        List<Approver> approvers = policy == null || policy.getSpec().getApprovals() == null ? List.of()
                : policy.getSpec().getApprovals().getApprovers();
        boolean allowed = approvers.stream().anyMatch(a -> (a.getUser() != null && a.getUser().equals(user))
                || (a.getGroup() != null && groups.contains(a.getGroup())));
        if (!allowed) {
            return deny(req, 403, user + " is not an approver of policy " + o.getPolicy()
                    + (approvers.isEmpty() ? " (the policy names no approvers)" : ""));
        }
        Map<String, String> stamps = new HashMap<>();
        stamps.put(ApprovalState.DECIDED_BY, user);
        stamps.put(ApprovalState.DECIDED_AT, Instant.now().toString());
        LOG.infof("ChangeApproval %s/%s %s by %s", old.getMetadata().getNamespace(), old.getMetadata().getName(),
                n.getDecision().yamlName(), user);
        return allow(req, annotationPatch(now, stamps));
    }

    private static boolean sameRequest(ChangeApprovalSpec a, ChangeApprovalSpec b) {
        return Objects.equals(a.getRequester().getIdentity(), b.getRequester().getIdentity())
                && Objects.equals(a.getRequester().getPod(), b.getRequester().getPod())
                && Objects.equals(a.getDatabase(), b.getDatabase()) && Objects.equals(a.getPolicy(), b.getPolicy())
                && Objects.equals(a.getRule(), b.getRule()) && Objects.equals(a.getStatement(), b.getStatement())
                && Objects.equals(a.getStatementHash(), b.getStatementHash())
                && Objects.equals(a.getFingerprint(), b.getFingerprint()) && Objects.equals(a.getReason(), b.getReason())
                && Objects.equals(a.getExpiresAt(), b.getExpiresAt()) && Objects.equals(a.getUses(), b.getUses());
    }

    /**
     * JSON patch that sets the stamps, overwriting whatever the user put there. It writes the whole annotations map
     * ("add" replaces an existing member), which works whether or not the object had annotations.
     */
    private static String annotationPatch(ChangeApproval object, Map<String, String> stamps) {
        Map<String, String> annotations = new java.util.TreeMap<>(object.getMetadata().getAnnotations() == null
                ? Map.of() : object.getMetadata().getAnnotations());
        annotations.putAll(stamps);
        ArrayNode patch = JSON.createArrayNode();
        ObjectNode add = patch.addObject();
        add.put("op", "add").put("path", "/metadata/annotations");
        add.set("value", JSON.valueToTree(annotations));
        return Base64.getEncoder().encodeToString(patch.toString().getBytes(StandardCharsets.UTF_8));
    }
}
