package io.dbwarden.operator.approval;

import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.ChangeApprovalStatus;
import io.dbwarden.operator.Events;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Keeps a ChangeApproval's status true to its spec and time: phase (Pending, Approved, Denied, Expired, Used),
 * who decided and when (from the webhook's stamps), uses left; wakes up at the expiry; records an Event per phase
 * change and, when configured, posts a chat notification on request and on decision (remembered in the Notified
 * condition so a restart does not repeat it). Status is written with the resourceVersion read, never overwriting a
 * use consumed concurrently by the approvals endpoint.
 */
@ControllerConfiguration(name = "changeapproval")
public class ChangeApprovalReconciler implements Reconciler<ChangeApproval> {
    static final String NOTIFIED = "Notified";
    private static final Logger LOG = Logger.getLogger(ChangeApprovalReconciler.class);

    private final KubernetesClient client;
    private final ApprovalNotifier notifier;

    public ChangeApprovalReconciler(KubernetesClient client, ApprovalNotifier notifier) {
        this.client = client;
        this.notifier = notifier;
    }

    @Override
    public UpdateControl<ChangeApproval> reconcile(ChangeApproval cached, Context<ChangeApproval> context) {
        // the approvals endpoint changes status (uses) outside this controller: decide on the latest version, so a
        // stale cache never turns a used approval back into an approved one
        ChangeApproval ca = client.resources(ChangeApproval.class).inNamespace(cached.getMetadata().getNamespace())
                .withName(cached.getMetadata().getName()).get();
        if (ca == null) {
            return UpdateControl.noUpdate();
        }
        Instant now = Instant.now();
        if (ca.getStatus() == null && ApprovalState.annotation(ca, ApprovalState.AUTO_APPROVAL) != null
                && createdWithin(ca, now, Duration.ofSeconds(10))) {
            // the approvals endpoint writes the automatic approval right after creating it; do not race it
            return UpdateControl.<ChangeApproval>noUpdate().rescheduleAfter(Duration.ofSeconds(1));
        }
        ApprovalPhase phase = ApprovalState.phase(ca, now);
        ChangeApprovalStatus old = ca.getStatus();
        ApprovalPhase previous = old == null ? null : old.getPhase();
        ChangeApprovalStatus next = new ChangeApprovalStatus();
        next.setPhase(phase);
        boolean auto = old != null && Boolean.TRUE.equals(old.getAutoApproved());
        next.setDecidedBy(auto ? old.getDecidedBy() : ApprovalState.annotation(ca, ApprovalState.DECIDED_BY));
        next.setDecidedAt(auto ? old.getDecidedAt() : ApprovalState.annotation(ca, ApprovalState.DECIDED_AT));
        next.setAutoApproved(old == null ? null : old.getAutoApproved());
        next.setAutoApprovalRule(old == null ? null : old.getAutoApprovalRule());
        next.setUsesLeft(ApprovalState.usesLeft(ca));
        next.setObservedGeneration(ca.getMetadata().getGeneration());
        List<Condition> conditions = new ArrayList<>(old == null ? List.of() : old.getConditions());
        next.setConditions(conditions);

        if (notifier.enabled() && phase != ApprovalPhase.USED && !String.valueOf(phase).equals(notified(conditions))) {
            if (notifier.notify(ca, phase)) {
                conditions.removeIf(c -> NOTIFIED.equals(c.getType()));
                conditions.add(new ConditionBuilder().withType(NOTIFIED).withStatus("True").withReason(phase.name())
                        .withMessage("chat notification sent for phase " + phase.yamlName())
                        .withLastTransitionTime(now.toString()).withObservedGeneration(ca.getMetadata().getGeneration())
                        .build());
            }
        }
        if (!same(old, next)) {
            ca.setStatus(next);
            try {
                client.resource(ca).lockResourceVersion(ca.getMetadata().getResourceVersion()).updateStatus();
            } catch (KubernetesClientException e) {
                if (e.getCode() == 409) {
                    return UpdateControl.<ChangeApproval>noUpdate().rescheduleAfter(Duration.ofMillis(500));
                }
                throw e;
            }
            if (phase != previous) {
                LOG.infof("ChangeApproval %s/%s: %s", ca.getMetadata().getNamespace(), ca.getMetadata().getName(),
                        phase.yamlName());
                Events.record(client, ca, phase == ApprovalPhase.DENIED || phase == ApprovalPhase.EXPIRED ? "Warning"
                        : "Normal", reason(phase), message(ca, phase, next));
            }
        }
        if ((phase == ApprovalPhase.PENDING || phase == ApprovalPhase.APPROVED) && ca.getSpec().getExpiresAt() != null) {
            Duration left = Duration.between(now, Instant.parse(ca.getSpec().getExpiresAt())).plusMillis(500);
            return UpdateControl.<ChangeApproval>noUpdate().rescheduleAfter(left.isNegative() ? Duration.ZERO : left);
        }
        return UpdateControl.noUpdate();
    }

    private static boolean createdWithin(ChangeApproval ca, Instant now, Duration d) {
        String created = ca.getMetadata().getCreationTimestamp();
        try {
            return created == null || Instant.parse(created).plus(d).isAfter(now);
        } catch (java.time.format.DateTimeParseException e) {
            return false;
        }
    }

    private static String notified(List<Condition> conditions) {
        return conditions.stream().filter(c -> NOTIFIED.equals(c.getType())).map(Condition::getReason).findFirst()
                .orElse(null);
    }

    private static boolean same(ChangeApprovalStatus a, ChangeApprovalStatus b) {
        return a != null && a.getPhase() == b.getPhase() && Objects.equals(a.getDecidedBy(), b.getDecidedBy())
                && Objects.equals(a.getDecidedAt(), b.getDecidedAt()) && Objects.equals(a.getUsesLeft(), b.getUsesLeft())
                && Objects.equals(a.getObservedGeneration(), b.getObservedGeneration())
                && Objects.equals(a.getConditions(), b.getConditions());
    }

    private static String reason(ApprovalPhase phase) {
        return switch (phase) {
            case PENDING -> "ApprovalRequested";
            case APPROVED -> "Approved";
            case DENIED -> "Denied";
            case EXPIRED -> "Expired";
            case USED -> "Used";
        };
    }

    private static String message(ChangeApproval ca, ApprovalPhase phase, ChangeApprovalStatus s) {
        var spec = ca.getSpec();
        return switch (phase) {
            case PENDING -> spec.getRequester().getIdentity() + " asks to run on " + spec.getDatabase() + " (rule "
                    + spec.getRule() + " of policy " + spec.getPolicy() + "): " + spec.getStatement();
            case APPROVED -> "approved by " + (Boolean.TRUE.equals(s.getAutoApproved())
                    ? "automatic rule " + s.getAutoApprovalRule() : s.getDecidedBy()) + "; uses left: " + s.getUsesLeft();
            case DENIED -> "denied by " + s.getDecidedBy() + (spec.getComment() == null ? "" : ": " + spec.getComment());
            case EXPIRED -> "expired at " + spec.getExpiresAt() + " without being used";
            case USED -> "the approved statement ran";
        };
    }
}
