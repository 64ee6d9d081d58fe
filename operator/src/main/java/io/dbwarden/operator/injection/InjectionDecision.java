package io.dbwarden.operator.injection;

import io.fabric8.kubernetes.api.model.Pod;

import java.util.Map;
import java.util.Set;

/**
 * Whether a pod gets the dbwarden sidecar. Precedence, first match wins:
 * <ol>
 *   <li>system namespaces (kube-system, kube-public, kube-node-lease, the operator's own): never;</li>
 *   <li>already injected (the {@value #STATUS} annotation): nothing more to do;</li>
 *   <li>pod label {@value #INJECT} "true"/"false";</li>
 *   <li>pod annotation {@value #INJECT} "true"/"false";</li>
 *   <li>namespace label {@value #INJECT} "enabled"/"disabled";</li>
 *   <li>default: no.</li>
 * </ol>
 */
public record InjectionDecision(boolean inject, String reason) {
    public static final String INJECT = "dbwarden.io/inject";
    public static final String STATUS = "dbwarden.io/status";
    static final Set<String> SYSTEM_NAMESPACES = Set.of("kube-system", "kube-public", "kube-node-lease");

    public static InjectionDecision of(Pod pod, String namespace, Map<String, String> namespaceLabels,
                                       String operatorNamespace) {
        if (SYSTEM_NAMESPACES.contains(namespace) || namespace.equals(operatorNamespace)) {
            return new InjectionDecision(false, "system namespace " + namespace);
        }
        Map<String, String> annotations = pod.getMetadata().getAnnotations() == null ? Map.of()
                : pod.getMetadata().getAnnotations();
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        if (annotations.containsKey(STATUS)) {
            return new InjectionDecision(false, "already injected");
        }
        if (labels.containsKey(INJECT)) {
            boolean yes = "true".equalsIgnoreCase(labels.get(INJECT));
            return new InjectionDecision(yes, "pod label " + INJECT + "=" + labels.get(INJECT));
        }
        if (annotations.containsKey(INJECT)) {
            boolean yes = "true".equalsIgnoreCase(annotations.get(INJECT));
            return new InjectionDecision(yes, "pod annotation " + INJECT + "=" + annotations.get(INJECT));
        }
        String ns = namespaceLabels == null ? null : namespaceLabels.get(INJECT);
        if (ns != null) {
            boolean yes = "enabled".equalsIgnoreCase(ns);
            return new InjectionDecision(yes, "namespace label " + INJECT + "=" + ns);
        }
        return new InjectionDecision(false, "not requested");
    }
}
