package io.dbwarden.operator;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.util.UUID;

/** Kubernetes Events about dbwarden resources (best effort: a failure is logged, never fails a reconcile). */
public final class Events {
    private static final Logger LOG = Logger.getLogger(Events.class);

    private Events() {
    }

    public static void record(KubernetesClient client, HasMetadata object, String type, String reason, String message) {
        String ns = object.getMetadata().getNamespace();
        try {
            client.v1().events().inNamespace(ns).resource(new EventBuilder()
                    .withNewMetadata().withName(object.getMetadata().getName() + "." + UUID.randomUUID())
                    .withNamespace(ns).endMetadata()
                    .withType(type).withReason(reason).withMessage(message.length() > 1000
                            ? message.substring(0, 1000) : message)
                    .withInvolvedObject(new ObjectReferenceBuilder().withApiVersion(object.getApiVersion())
                            .withKind(object.getKind()).withName(object.getMetadata().getName())
                            .withNamespace(ns).withUid(object.getMetadata().getUid()).build())
                    .withFirstTimestamp(Instant.now().toString()).withLastTimestamp(Instant.now().toString())
                    .withCount(1).withNewSource().withComponent("dbwarden-operator").endSource()
                    .build()).create();
        } catch (RuntimeException e) {
            LOG.warnf("could not record event for %s %s/%s: %s", object.getKind(), ns, object.getMetadata().getName(),
                    e.toString());
        }
    }
}
