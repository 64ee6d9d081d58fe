package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicyStatus;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The one place that computes a policy's status: observedGeneration, the Ready condition (reason, message,
 * lastTransitionTime kept while the status does not change) and the bound-workload count.
 */
final class PolicyStatus {
    static final String READY = "Ready";

    private PolicyStatus() {
    }

    static DatabaseAccessPolicyStatus desired(DatabaseAccessPolicy policy, List<String> errors, int boundWorkloads) {
        DatabaseAccessPolicyStatus previous = policy.getStatus();
        DatabaseAccessPolicyStatus s = new DatabaseAccessPolicyStatus();
        s.setObservedGeneration(policy.getMetadata().getGeneration());
        s.setBoundWorkloads(boundWorkloads);
        boolean ready = errors.isEmpty();
        String status = ready ? "True" : "False";
        String reason = ready ? "Valid" : "InvalidPolicy";
        String message = ready ? "Policy is valid and served to sidecars."
                : "Policy is invalid and not served: " + String.join("; ", errors);
        Condition old = previous == null ? null : previous.getConditions().stream()
                .filter(c -> READY.equals(c.getType())).findFirst().orElse(null);
        String transition = old != null && status.equals(old.getStatus()) && old.getLastTransitionTime() != null
                ? old.getLastTransitionTime() : Instant.now().toString();
        List<Condition> conditions = new ArrayList<>();
        conditions.add(new ConditionBuilder().withType(READY).withStatus(status).withReason(reason)
                .withMessage(message).withObservedGeneration(policy.getMetadata().getGeneration())
                .withLastTransitionTime(transition).build());
        s.setConditions(conditions);
        return s;
    }

    /** Whether writing {@code next} would change anything (timestamps of an unchanged condition are kept anyway). */
    static boolean changed(DatabaseAccessPolicyStatus current, DatabaseAccessPolicyStatus next) {
        if (current == null) {
            return true;
        }
        return !Objects.equals(current.getObservedGeneration(), next.getObservedGeneration())
                || !Objects.equals(current.getBoundWorkloads(), next.getBoundWorkloads())
                || !Objects.equals(current.getConditions(), next.getConditions());
    }
}
