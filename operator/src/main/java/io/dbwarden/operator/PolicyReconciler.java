package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicyStatus;
import io.dbwarden.api.validation.IdentityGlob;
import io.dbwarden.api.validation.PolicyValidator;
import io.dbwarden.api.validation.Subjects;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.MaxReconciliationInterval;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Reconciles a DatabaseAccessPolicy: validates it with the same validation the proxy runs, reports the result in
 * the Ready condition (so Argo CD and Flux can judge health) and as a Kubernetes Event, and counts the running
 * workloads it binds (pods with the dbwarden sidecar whose service account the policy names).
 */
@ControllerConfiguration(name = "databaseaccesspolicy",
        maxReconciliationInterval = @MaxReconciliationInterval(interval = 60, timeUnit = TimeUnit.SECONDS))
public class PolicyReconciler implements Reconciler<DatabaseAccessPolicy> {
    static final String SIDECAR_CONTAINER = "dbwarden-proxy";
    private static final Logger LOG = Logger.getLogger(PolicyReconciler.class);

    private final KubernetesClient client;

    public PolicyReconciler(KubernetesClient client) {
        this.client = client;
    }

    @Override
    public UpdateControl<DatabaseAccessPolicy> reconcile(DatabaseAccessPolicy policy, Context<DatabaseAccessPolicy> ctx) {
        List<String> errors = PolicyValidator.validate(policy);
        int bound = errors.isEmpty() ? countBoundWorkloads(policy) : 0;
        DatabaseAccessPolicyStatus next = PolicyStatus.desired(policy, errors, bound);
        if (!PolicyStatus.changed(policy.getStatus(), next)) {
            return UpdateControl.noUpdate();
        }
        boolean wasReady = policy.getStatus() != null && policy.getStatus().getConditions().stream()
                .anyMatch(c -> PolicyStatus.READY.equals(c.getType()) && "True".equals(c.getStatus()));
        boolean generationChanged = policy.getStatus() == null || !java.util.Objects.equals(
                policy.getStatus().getObservedGeneration(), policy.getMetadata().getGeneration());
        if (!errors.isEmpty() && (wasReady || generationChanged)) {
            event(policy, "Warning", "InvalidPolicy", next.getConditions().get(0).getMessage());
        } else if (errors.isEmpty() && generationChanged) {
            event(policy, "Normal", "PolicyAccepted", "Policy is valid; bound workloads: " + bound);
        }
        LOG.infof("policy %s/%s: ready=%s boundWorkloads=%d", policy.getMetadata().getNamespace(),
                policy.getMetadata().getName(), errors.isEmpty(), bound);
        policy.setStatus(next);
        return UpdateControl.patchStatus(policy);
    }

    private int countBoundWorkloads(DatabaseAccessPolicy policy) {
        List<IdentityGlob> subjects = Subjects.globs(policy.getSpec().getSubjects(),
                policy.getMetadata().getNamespace());
        int count = 0;
        for (Pod pod : candidatePods(subjects)) {
            boolean sidecar = pod.getSpec() != null && (pod.getSpec().getContainers().stream()
                    .anyMatch(c -> SIDECAR_CONTAINER.equals(c.getName()))
                    || (pod.getSpec().getInitContainers() != null && pod.getSpec().getInitContainers().stream()
                    .anyMatch(c -> SIDECAR_CONTAINER.equals(c.getName()))));
            String sa = pod.getSpec() == null || pod.getSpec().getServiceAccountName() == null ? "default"
                    : pod.getSpec().getServiceAccountName();
            String identity = pod.getMetadata().getNamespace() + "/" + sa;
            boolean running = pod.getStatus() == null || pod.getStatus().getPhase() == null
                    || "Running".equals(pod.getStatus().getPhase()) || "Pending".equals(pod.getStatus().getPhase());
            if (sidecar && running && subjects.stream().anyMatch(g -> g.matches(identity))) {
                count++;
            }
        }
        return count;
    }

    /**
     * Pods that can match the subjects: those of the namespaces the subjects name, so that a policy for one team's
     * namespace does not list every pod of the cluster once a minute; all pods only for a wildcard namespace.
     */
    private List<Pod> candidatePods(List<IdentityGlob> subjects) {
        Optional<Set<String>> namespaces = namespaces(subjects);
        if (namespaces.isEmpty()) {
            return client.pods().inAnyNamespace().list().getItems();
        }
        List<Pod> pods = new ArrayList<>();
        for (String ns : namespaces.get()) {
            pods.addAll(client.pods().inNamespace(ns).list().getItems());
        }
        return pods;
    }

    /** The namespaces named by the subjects, or empty when one of them matches any namespace. */
    static Optional<Set<String>> namespaces(List<IdentityGlob> subjects) {
        Set<String> namespaces = new TreeSet<>();
        for (IdentityGlob g : subjects) {
            String namespace = g.toString().substring(0, g.toString().indexOf('/'));
            if (namespace.contains("*")) {
                return Optional.empty();
            }
            namespaces.add(namespace);
        }
        return Optional.of(namespaces);
    }

    private void event(DatabaseAccessPolicy policy, String type, String reason, String message) {
        Events.record(client, policy, type, reason, message);
    }
}
