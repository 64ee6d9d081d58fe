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
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The policies each sidecar identity gets: every valid DatabaseAccessPolicy (any namespace) whose subjects name the
 * identity, as one YAML document stream the proxy loads with the same loader as a standalone file. Kept current by
 * an informer; long polls are released whenever any policy changes, without holding a thread while they wait.
 */
@ApplicationScoped
public class PolicyBundles {
    private static final int MAX_CACHED_IDENTITIES = 10_000;
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));

    /** A bundle and its entity tag (SHA-256 of the bundle text). */
    public record Bundle(String yaml, String etag, int policies) {
    }

    /** The valid policies at one policy version, and the bundles computed from them so far. */
    private record Snapshot(long version, List<DatabaseAccessPolicy> valid, Map<String, Bundle> byIdentity) {
    }

    private final KubernetesClient client;
    private SharedIndexInformer<DatabaseAccessPolicy> informer;
    /** Counts policy changes; a long poll waits for it to move past the version its bundle was computed at. */
    private final AtomicLong version = new AtomicLong();
    private final Set<CompletableFuture<Void>> waiters = ConcurrentHashMap.newKeySet();
    private volatile Snapshot snapshot = new Snapshot(-1, List.of(), Map.of());
    private volatile boolean closing;

    public PolicyBundles(KubernetesClient client, MeterRegistry registry) {
        this.client = client;
        Gauge.builder("dbwarden.sidecar.policy.polls.waiting", waiters, Set::size)
                .description("sidecar policy long polls waiting for a change").register(registry);
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

    /**
     * The replica is about to stop (the pre-shutdown delay began: it still serves while Kubernetes takes it out of
     * the Service): open long polls answer now (unchanged) and later ones at once, so sidecars move to another
     * replica instead of holding this one's graceful wait for requests in flight up.
     */
    void stopWaiting(@Observes ShutdownDelayInitiatedEvent e) {
        closing = true;
        signal();
    }

    void stop(@Observes ShutdownEvent e) {
        stopWaiting(null); // without a pre-shutdown delay (tests, dev mode) this is the first word of the shutdown
        if (informer != null) {
            informer.close();
        }
    }

    private void signal() {
        version.incrementAndGet();
        for (CompletableFuture<Void> w : waiters) {
            w.complete(null);
        }
    }

    /** The current policy version: read it before {@link #forIdentity} and wait with {@link #changeAfter}. */
    public long version() {
        return version.get();
    }

    /** True once the operator shuts down: long polls end instead of waiting. */
    public boolean closing() {
        return closing;
    }

    /**
     * Completes when the policies change after {@code seen} (at once if they already have) or when {@code max} has
     * passed, whichever is first. Holds no thread while waiting; completion runs on the thread that signals (the
     * informer's) or the JDK's delay scheduler, so callers move their work elsewhere.
     */
    public CompletableFuture<Void> changeAfter(long seen, Duration max) {
        CompletableFuture<Void> w = new CompletableFuture<>();
        waiters.add(w);
        w.whenComplete((v, e) -> waiters.remove(w));
        if (version.get() != seen || closing) {
            w.complete(null); // changed between the caller's read and the registration
        } else {
            w.completeOnTimeout(null, max.toNanos(), TimeUnit.NANOSECONDS);
        }
        return w;
    }

    public Bundle forIdentity(String identity) {
        Snapshot s = current();
        Bundle cached = s.byIdentity().get(identity);
        if (cached != null) {
            return cached;
        }
        Bundle bundle = build(s.valid(), identity);
        if (s.byIdentity().size() < MAX_CACHED_IDENTITIES) {
            s.byIdentity().put(identity, bundle);
        }
        return bundle;
    }

    /**
     * The valid policies, validated once per policy version rather than once per request. The version is read before
     * the store: the informer updates its store before it signals, so a snapshot is never newer than its stamp and a
     * stale stamp only costs one more validation.
     */
    private Snapshot current() {
        long v = version.get();
        Snapshot s = snapshot;
        if (s.version() == v) {
            return s;
        }
        List<DatabaseAccessPolicy> valid = informer.getStore().list().stream()
                .filter(p -> p.getSpec() != null && PolicyValidator.validate(p).isEmpty())
                .sorted(Comparator.comparing((DatabaseAccessPolicy p) -> p.getMetadata().getNamespace())
                        .thenComparing(p -> p.getMetadata().getName()))
                .toList();
        s = new Snapshot(v, valid, new ConcurrentHashMap<>());
        snapshot = s;
        return s;
    }

    private static Bundle build(List<DatabaseAccessPolicy> valid, String identity) {
        List<DatabaseAccessPolicy> applicable = valid.stream()
                .filter(p -> Subjects.matches(p.getSpec().getSubjects(), p.getMetadata().getNamespace(), identity))
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

    private static String etag(String s) {
        return "\"" + Hashes.sha256Hex(s, 16) + "\"";
    }
}
