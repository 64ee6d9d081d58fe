package io.dbwarden.operator.injection;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.zjsonpatch.JsonPatch;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Pure injection decision and patch, with a golden patch for a real AdmissionReview. */
class SidecarInjectorTest {
    /** The annotations a pod needs for injection: the database and the credentials Secret. */
    private static final Map<String, String> INJECTABLE = Map.of(SidecarInjector.UPSTREAM, "db.shop:5432",
            SidecarInjector.CREDENTIALS, "shop-db");

    static final ObjectMapper JSON = new ObjectMapper();
    static final SidecarInjector.Config CONFIG = new SidecarInjector.Config("ghcr.io/dbwarden/dbwarden-proxy:0.1.0",
            "https://dbwarden-operator.dbwarden.svc:8443", "dbwarden-ca", true);
    static final Path DIR = Path.of("src/test/resources/injection");

    static Pod pod(Map<String, String> labels, Map<String, String> annotations) {
        return new PodBuilder().withNewMetadata().withName("p").withNamespace("shop").withLabels(labels)
                .withAnnotations(annotations).endMetadata().withNewSpec().addNewContainer().withName("app")
                .withImage("app").endContainer().endSpec().build();
    }

    @Test
    void decisionPrecedence() {
        Map<String, String> on = Map.of(InjectionDecision.INJECT, "true");
        Map<String, String> off = Map.of(InjectionDecision.INJECT, "false");
        Map<String, String> nsOn = Map.of(InjectionDecision.INJECT, "enabled");
        Map<String, String> nsOff = Map.of(InjectionDecision.INJECT, "disabled");
        assertThat(InjectionDecision.of(pod(on, on), "kube-system", nsOn, "dbwarden").inject()).isFalse();
        assertThat(InjectionDecision.of(pod(on, on), "dbwarden", nsOn, "dbwarden").inject()).isFalse();
        assertThat(InjectionDecision.of(pod(Map.of(), Map.of(InjectionDecision.STATUS, "{}")), "shop", nsOn,
                "dbwarden").reason()).isEqualTo("already injected");
        assertThat(InjectionDecision.of(pod(off, on), "shop", nsOn, "dbwarden").inject()).as("label beats annotation")
                .isFalse();
        assertThat(InjectionDecision.of(pod(on, off), "shop", nsOff, "dbwarden").inject()).isTrue();
        assertThat(InjectionDecision.of(pod(Map.of(), off), "shop", nsOn, "dbwarden").inject())
                .as("annotation beats namespace").isFalse();
        assertThat(InjectionDecision.of(pod(Map.of(), on), "shop", nsOff, "dbwarden").inject()).isTrue();
        assertThat(InjectionDecision.of(pod(Map.of(), Map.of()), "shop", nsOn, "dbwarden").inject()).isTrue();
        assertThat(InjectionDecision.of(pod(Map.of(), Map.of()), "shop", Map.of(), "dbwarden").inject())
                .as("default").isFalse();
    }

    @Test
    void goldenPatchForARealAdmissionReview() throws Exception {
        JsonNode review = JSON.readTree(DIR.resolve("checkout-pod.admissionreview.json").toFile());
        Pod pod = JSON.treeToValue(review.at("/request/object"), Pod.class);
        SidecarInjector.Result result = SidecarInjector.inject(pod, CONFIG);
        assertThat(result.refusal()).isNull();
        Path golden = DIR.resolve("checkout-pod.patch.json");
        if (Boolean.getBoolean("dbwarden.updateGolden")) {
            Files.writeString(golden, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(result.patch()) + "\n");
        }
        // compare as parsed text (the generated tree holds longs where parsing yields ints)
        assertThat(JSON.readTree(result.patch().toString())).as("golden patch " + golden + " (regenerate with "
                + "-Ddbwarden.updateGolden=true and review the diff)").isEqualTo(JSON.readTree(golden.toFile()));

        Pod injected = JSON.treeToValue(JsonPatch.apply(result.patch(), JSON.valueToTree(pod)), Pod.class);
        Container sidecar = injected.getSpec().getInitContainers().get(0);
        assertThat(sidecar.getName()).isEqualTo(SidecarInjector.CONTAINER);
        assertThat(sidecar.getRestartPolicy()).as("native sidecar: starts before the app").isEqualTo("Always");
        assertThat(sidecar.getArgs()).containsSequence("--upstream", "orders-db.shop.svc:5432")
                .containsSequence("--upstream-database", "orders").containsSequence("--listen", "127.0.0.1:5432");
        assertThat(sidecar.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(sidecar.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(sidecar.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(sidecar.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(sidecar.getResources().getLimits()).containsKey("memory");
        // credentials only in the sidecar; the app container is untouched
        Container app = injected.getSpec().getContainers().get(0);
        assertThat(app).isEqualTo(pod.getSpec().getContainers().get(0));
        assertThat(sidecar.getVolumeMounts()).anySatisfy(m -> assertThat(m.getName()).isEqualTo("dbwarden-credentials"));
        assertThat(injected.getSpec().getVolumes()).anySatisfy(v -> {
            assertThat(v.getName()).isEqualTo("dbwarden-token");
            assertThat(v.getProjected().getSources().get(0).getServiceAccountToken().getAudience()).isEqualTo("dbwarden");
        });
        // re-injection is a no-op
        assertThat(InjectionDecision.of(injected, "shop", Map.of(), "dbwarden").inject()).isFalse();
    }

    @Test
    void missingDatabaseSettingsRefuseThePodWithAClearMessage() {
        Pod noUpstream = pod(Map.of(), Map.of(InjectionDecision.INJECT, "true",
                SidecarInjector.CREDENTIALS, "db-creds"));
        assertThat(SidecarInjector.inject(noUpstream, CONFIG).refusal()).contains(SidecarInjector.UPSTREAM);
        Pod noSecret = pod(Map.of(), Map.of(InjectionDecision.INJECT, "true", SidecarInjector.UPSTREAM, "db:5432"));
        assertThat(SidecarInjector.inject(noSecret, CONFIG).refusal()).contains(SidecarInjector.CREDENTIALS);
    }

    @Test
    void sidecarEventLoopsDefaultToTwoAndFollowTheAnnotation() throws Exception {
        Map<String, String> annotations = INJECTABLE;
        assertThat(sidecarArgs(pod(Map.of(), annotations))).as("not one loop per node core")
                .containsSequence("--event-loops", "2");
        Map<String, String> four = new java.util.HashMap<>(annotations);
        four.put(SidecarInjector.EVENT_LOOPS, "4");
        assertThat(sidecarArgs(pod(Map.of(), four))).containsSequence("--event-loops", "4");
        for (String bad : List.of("0", "65", "-1", "two", "", "1.5")) {
            Map<String, String> a = new java.util.HashMap<>(annotations);
            a.put(SidecarInjector.EVENT_LOOPS, bad);
            assertThat(SidecarInjector.inject(pod(Map.of(), a), CONFIG).refusal()).as("'" + bad + "'")
                    .contains(SidecarInjector.EVENT_LOOPS).contains("from 1 to 64");
        }
    }

    @Test
    void sidecarWarmUpKeepsTheProxysDefaultUnlessAnnotated() throws Exception {
        assertThat(sidecarArgs(pod(Map.of(), INJECTABLE))).doesNotContain("--warm-up-seconds");
        for (String seconds : List.of("0", "5", "60")) {
            Map<String, String> a = new java.util.HashMap<>(INJECTABLE);
            a.put(SidecarInjector.WARM_UP_SECONDS, seconds);
            assertThat(sidecarArgs(pod(Map.of(), a))).containsSequence("--warm-up-seconds", seconds);
        }
        for (String bad : List.of("61", "-1", "ten", "", "2.5", "100")) {
            Map<String, String> a = new java.util.HashMap<>(INJECTABLE);
            a.put(SidecarInjector.WARM_UP_SECONDS, bad);
            assertThat(SidecarInjector.inject(pod(Map.of(), a), CONFIG).refusal()).as("'" + bad + "'")
                    .contains(SidecarInjector.WARM_UP_SECONDS).contains("from 0 to 60");
        }
    }

    @Test
    void sidecarJvmIsSizedByItsLoopsAndExitsWhenOutOfMemory() throws Exception {
        Map<String, String> annotations = new java.util.HashMap<>(INJECTABLE);
        assertThat(javaToolOptions(pod(Map.of(), annotations))).as("the image's own options are replaced")
                .contains("-XX:+ExitOnOutOfMemoryError").contains("-XX:ActiveProcessorCount=2 ")
                .contains("-XX:MaxRAMPercentage=70");
        annotations.put(SidecarInjector.EVENT_LOOPS, "6");
        assertThat(javaToolOptions(pod(Map.of(), annotations))).contains("-XX:ActiveProcessorCount=6 ");
        annotations.put(SidecarInjector.EVENT_LOOPS, "1");
        assertThat(javaToolOptions(pod(Map.of(), annotations))).as("one C1 and one C2 compiler thread")
                .contains("-XX:ActiveProcessorCount=2 ");
    }

    @Test
    void sidecarEndsItsSessionsBeforeThePodsTerminationGracePeriodRunsOut() throws Exception {
        Map<String, String> annotations = INJECTABLE;
        assertThat(sidecarArgs(pod(Map.of(), annotations))).as("Kubernetes' default of 30 s")
                .containsSequence("--shutdown-grace-seconds", "25");
        Pod slow = pod(Map.of(), annotations);
        slow.getSpec().setTerminationGracePeriodSeconds(120L);
        assertThat(sidecarArgs(slow)).containsSequence("--shutdown-grace-seconds", "115");
        Pod quick = pod(Map.of(), annotations);
        quick.getSpec().setTerminationGracePeriodSeconds(2L);
        assertThat(sidecarArgs(quick)).containsSequence("--shutdown-grace-seconds", "0");
    }

    /**
     * A plain-container sidecar is stopped together with the application, so it goes on accepting sessions for a
     * while; a native sidecar is stopped after it and refuses new sessions at once.
     */
    @Test
    void onlyAPlainContainerSidecarAcceptsSessionsWhileItsApplicationStops() throws Exception {
        assertThat(sidecarArgs(pod(Map.of(), INJECTABLE))).doesNotContain("--shutdown-drain-seconds");
        SidecarInjector.Config plain = new SidecarInjector.Config(CONFIG.image(), CONFIG.operatorUrl(),
                CONFIG.caConfigMap(), false);
        Pod pod = pod(Map.of(), INJECTABLE);
        SidecarInjector.Result result = SidecarInjector.inject(pod, plain);
        assertThat(result.refusal()).isNull();
        Pod injected = JSON.treeToValue(JsonPatch.apply(result.patch(), JSON.valueToTree(pod)), Pod.class);
        assertThat(injected.getSpec().getInitContainers()).isNullOrEmpty();
        Container sidecar = injected.getSpec().getContainers().stream()
                .filter(c -> c.getName().equals(SidecarInjector.CONTAINER)).findFirst().orElseThrow();
        assertThat(sidecar.getArgs()).containsSequence("--shutdown-drain-seconds", "5")
                .containsSequence("--shutdown-grace-seconds", "25");
    }

    private static String javaToolOptions(Pod pod) throws Exception {
        return sidecar(pod).getEnv().stream().filter(e -> e.getName().equals("JAVA_TOOL_OPTIONS")).findFirst()
                .orElseThrow().getValue();
    }

    private static List<String> sidecarArgs(Pod pod) throws Exception {
        return sidecar(pod).getArgs();
    }

    private static io.fabric8.kubernetes.api.model.Container sidecar(Pod pod) throws Exception {
        SidecarInjector.Result result = SidecarInjector.inject(pod, CONFIG);
        assertThat(result.refusal()).isNull();
        Pod injected = JSON.treeToValue(JsonPatch.apply(result.patch(), JSON.valueToTree(pod)), Pod.class);
        return injected.getSpec().getInitContainers().get(0);
    }

    @Test
    void podsWhoseContainersCanSeeTheSidecarsProcessAreRefused() {
        Map<String, String> annotations = INJECTABLE;
        Pod shared = pod(Map.of(), annotations);
        shared.getSpec().setShareProcessNamespace(true);
        assertThat(SidecarInjector.inject(shared, CONFIG).refusal()).contains("spec.shareProcessNamespace")
                .contains("credentials");
        Pod host = pod(Map.of(), annotations);
        host.getSpec().setHostPID(true);
        assertThat(SidecarInjector.inject(host, CONFIG).refusal()).contains("spec.hostPID");
        assertThat(SidecarInjector.inject(pod(Map.of(), annotations), CONFIG).refusal()).isNull();
    }

    @Test
    void podsThatGiveTheCredentialsSecretToTheApplicationAreRefused() {
        Map<String, String> annotations = INJECTABLE;
        Pod env = pod(Map.of(), annotations);
        env.getSpec().getContainers().get(0).setEnv(List.of(new io.fabric8.kubernetes.api.model.EnvVarBuilder()
                .withName("DB_PASSWORD").withNewValueFrom().withNewSecretKeyRef("password", "shop-db", false)
                .endValueFrom().build()));
        assertThat(SidecarInjector.inject(env, CONFIG).refusal()).contains("shop-db")
                .contains("environment variable DB_PASSWORD of container app");
        Pod volume = pod(Map.of(), annotations);
        volume.getSpec().setVolumes(List.of(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName("creds")
                .withNewSecret().withSecretName("shop-db").endSecret().build()));
        assertThat(SidecarInjector.inject(volume, CONFIG).refusal()).contains("volume creds");
        Pod envFrom = pod(Map.of(), annotations);
        envFrom.getSpec().getContainers().get(0).setEnvFrom(List.of(new io.fabric8.kubernetes.api.model
                .EnvFromSourceBuilder().withNewSecretRef("shop-db", false).build()));
        assertThat(SidecarInjector.inject(envFrom, CONFIG).refusal()).contains("envFrom of container app");
        // other Secrets are the application's business
        Pod other = pod(Map.of(), annotations);
        other.getSpec().setVolumes(List.of(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName("tls")
                .withNewSecret().withSecretName("app-tls").endSecret().build()));
        assertThat(SidecarInjector.inject(other, CONFIG).refusal()).isNull();
    }
}
