package io.dbwarden.operator.injection;

import io.dbwarden.operator.tls.OperatorCertificates;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponseBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;
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
                response = new AdmissionResponseBuilder().withUid(request.getUid()).withAllowed(true).build();
            } else {
                SidecarInjector.Result result = SidecarInjector.inject(pod, config);
                if (result.refusal() != null) {
                    LOG.infof("refusing pod in %s: %s", namespace, result.refusal());
                    response = new AdmissionResponseBuilder().withUid(request.getUid()).withAllowed(false)
                            .withStatus(new StatusBuilder().withCode(400).withMessage(result.refusal()).build()).build();
                } else {
                    if (!Boolean.TRUE.equals(request.getDryRun())) {
                        // the sidecar mounts the operator's CA from its own namespace
                        certificates.publishCa(namespace);
                    }
                    response = new AdmissionResponseBuilder().withUid(request.getUid()).withAllowed(true)
                            .withPatchType("JSONPatch").withPatch(Base64.getEncoder().encodeToString(
                                    result.patch().toString().getBytes(StandardCharsets.UTF_8))).build();
                }
            }
        } catch (RuntimeException e) {
            LOG.errorf("pod admission failed: %s", e.toString());
            response = new AdmissionResponseBuilder().withUid(request.getUid()).withAllowed(false)
                    .withStatus(new StatusBuilder().withCode(500)
                            .withMessage("dbwarden injection failed: " + e.getMessage()).build()).build();
        }
        return new AdmissionReviewBuilder().withApiVersion("admission.k8s.io/v1").withKind("AdmissionReview")
                .withResponse(response).build();
    }
}
