package io.dbwarden.operator.injection;

import io.dbwarden.operator.Admission;
import io.dbwarden.operator.tls.OperatorCertificates;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.smallrye.common.annotation.Blocking;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/** The mutating admission webhook for pods: decides, and returns the sidecar patch or a clear refusal. */
@Path("/mutate/pods")
public class PodMutatingWebhook {
    private static final Logger LOG = Logger.getLogger(PodMutatingWebhook.class);

    private final KubernetesClient client;
    private final SidecarInjector.Config config;
    private final String operatorNamespace;
    private final OperatorCertificates certificates;

    public PodMutatingWebhook(KubernetesClient client, OperatorCertificates certificates,
                              @ConfigProperty(name = "dbwarden.injection.image") String image,
                              @ConfigProperty(name = "dbwarden.injection.operator-url") String operatorUrl,
                              @ConfigProperty(name = "dbwarden.injection.ca-config-map", defaultValue = "dbwarden-ca")
                              String caConfigMap,
                              @ConfigProperty(name = "dbwarden.injection.native-sidecar", defaultValue = "true")
                              boolean nativeSidecar,
                              @ConfigProperty(name = "dbwarden.operator.namespace", defaultValue = "dbwarden")
                              String operatorNamespace) {
        this.client = client;
        this.certificates = certificates;
        this.config = new SidecarInjector.Config(image, operatorUrl, caConfigMap, nativeSidecar);
        this.operatorNamespace = operatorNamespace;
    }

    @POST
    @Blocking
    @Consumes("application/json")
    @Produces("application/json")
    public AdmissionReview mutate(AdmissionReview review) {
        var request = review.getRequest();
        AdmissionResponse response;
        try {
            Pod pod = Serialization.unmarshal(Serialization.asJson(request.getObject()), Pod.class);
            String namespace = request.getNamespace() != null ? request.getNamespace()
                    : pod.getMetadata().getNamespace();
            Namespace ns = namespace == null ? null : client.namespaces().withName(namespace).get();
            Map<String, String> nsLabels = ns == null || ns.getMetadata().getLabels() == null ? Map.of()
                    : ns.getMetadata().getLabels();
            InjectionDecision decision = InjectionDecision.of(pod, namespace == null ? "" : namespace, nsLabels,
                    operatorNamespace);
            if (!decision.inject()) {
                response = Admission.allow(request, null);
            } else {
                SidecarInjector.Result result = SidecarInjector.inject(pod, config);
                if (result.refusal() != null) {
                    LOG.infof("refusing pod in %s: %s", namespace, result.refusal());
                    response = Admission.deny(request, 400, result.refusal());
                } else {
                    if (!Boolean.TRUE.equals(request.getDryRun())) {
                        // the sidecar mounts the operator's CA from its own namespace
                        certificates.publishCa(namespace);
                    }
                    response = Admission.allow(request, Base64.getEncoder().encodeToString(
                            result.patch().toString().getBytes(StandardCharsets.UTF_8)));
                }
            }
        } catch (RuntimeException e) {
            LOG.errorf("pod admission failed: %s", e.toString());
            response = Admission.deny(request, 500, "dbwarden injection failed: " + e.getMessage());
        }
        return Admission.review(response);
    }
}
