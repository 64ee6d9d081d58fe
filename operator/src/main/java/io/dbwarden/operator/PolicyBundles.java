package io.dbwarden.operator;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyValidator;
import io.dbwarden.api.validation.Subjects;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The policies each sidecar identity gets: every valid DatabaseAccessPolicy (any namespace) whose subjects name the
 * identity, as one YAML document stream the proxy loads with the same loader as a standalone file. Kept current by
 * an informer; waiters are released whenever any policy changes.
 */
@ApplicationScoped
public class PolicyBundles {
    private static final Logger LOG = Logger.getLogger(PolicyBundles.class);
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));

    /** A bundle and its entity tag (SHA-256 of the bundle text). */
    public record Bundle(String yaml, String etag, int policies) {
    }

    private final KubernetesClient client;
    private SharedIndexInformer<DatabaseAccessPolicy> informer;
    private volatile CompletableFuture<Void> changed = new CompletableFuture<>();

    public PolicyBundles(KubernetesClient client) {
        this.client = client;
    }

    void start(@Observes StartupEvent e) {
        informer = client.resources(DatabaseAccessPolicy.class).inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(DatabaseAccessPolicy p) {
                signal();
            }

            @Override
            public void onUpdate(DatabaseAccessPolicy oldP, DatabaseAccessPolicy newP) {
                signal();
            }

            @Override
            public void onDelete(DatabaseAccessPolicy p, boolean unknownFinalState) {
                signal();
            }
        });
    }

    void stop(@Observes ShutdownEvent e) {
        if (informer != null) {
            informer.close();
        }
    }

    private void signal() {
        CompletableFuture<Void> previous = changed;
        changed = new CompletableFuture<>();
        previous.complete(null);
    }

    public Bundle forIdentity(String identity) {
        List<DatabaseAccessPolicy> applicable = informer.getStore().list().stream()
                .filter(p -> p.getSpec() != null && PolicyValidator.validate(p).isEmpty())
                .filter(p -> Subjects.matches(p.getSpec().getSubjects(), p.getMetadata().getNamespace(), identity))
                .sorted(Comparator.comparing((DatabaseAccessPolicy p) -> p.getMetadata().getNamespace())
                        .thenComparing(p -> p.getMetadata().getName()))
                .toList();
        StringBuilder yaml = new StringBuilder();
        for (DatabaseAccessPolicy p : applicable) {
            DatabaseAccessPolicy clean = new DatabaseAccessPolicy();
            clean.setMetadata(new ObjectMetaBuilder().withName(p.getMetadata().getName())
                    .withNamespace(p.getMetadata().getNamespace()).withGeneration(p.getMetadata().getGeneration())
                    .build());
            clean.setSpec(p.getSpec());
            try {
                yaml.append("---\n").append(YAML.writeValueAsString(clean));
            } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
                throw new IllegalStateException("cannot serialize policy " + p.getMetadata().getName(), ex);
            }
        }
        return new Bundle(yaml.toString(), etag(yaml.toString()), applicable.size());
    }

    /** A policy from the informer's cache, if it exists. */
    public Optional<DatabaseAccessPolicy> policy(String namespace, String name) {
        return Optional.ofNullable(informer.getStore().getByKey(namespace + "/" + name));
    }

    /** Waits until some policy changes or the time is up (long-poll). */
    public void awaitChange(Duration max) throws InterruptedException {
        try {
            changed.get(max.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.tracef("no policy change within %s", max);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String etag(String s) {
        return "\"" + Hashes.sha256Hex(s, 16) + "\"";
    }
}
