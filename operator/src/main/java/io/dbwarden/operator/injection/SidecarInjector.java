package io.dbwarden.operator.injection;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.zjsonpatch.JsonDiff;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Computes the sidecar patch for a pod: mutates a copy of the pod and diffs it against the original, so the patch
 * is exactly what changed. The sidecar holds the database credentials (a Secret mounted into its container only),
 * authenticates to the operator with a projected service-account token (audience dbwarden), and runs as a native
 * sidecar (init container with restartPolicy Always) so it is up before the application starts.
 */
public final class SidecarInjector {
    public static final String CONTAINER = "dbwarden-proxy";
    public static final String UPSTREAM = "dbwarden.io/upstream";
    public static final String DATABASE = "dbwarden.io/database";
    public static final String CREDENTIALS = "dbwarden.io/credentials-secret";
    public static final String PORT = "dbwarden.io/port";
    /**
     * Event-loop threads of the sidecar. The sidecar has no CPU limit, so its JVM sees every processor of the node
     * and would otherwise start a loop (a thread with its own io_uring ring and buffers) per node core.
     */
    public static final String EVENT_LOOPS = "dbwarden.io/proxy-event-loops";
    static final int DEFAULT_EVENT_LOOPS = 2;
    static final int MAX_EVENT_LOOPS = 64;
    /**
     * Longest JIT warm-up of the (JVM) sidecar before it takes the application's first connection; absent: the
     * proxy's default. 0 for short-lived pods (Jobs), whose few statements would not repay it.
     */
    public static final String WARM_UP_SECONDS = "dbwarden.io/proxy-warm-up-seconds";
    static final int MAX_WARM_UP_SECONDS = 60;
    static final int ADMIN_PORT = 9187;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Cluster-wide injection settings (from the operator's configuration). */
    public record Config(String image, String operatorUrl, String caConfigMap, boolean nativeSidecar) {
    }

    /** The patch, or a reason to refuse the pod. */
    public record Result(JsonNode patch, String refusal) {
    }

    private SidecarInjector() {
    }

    public static Result inject(Pod pod, Config config) {
        Map<String, String> annotations = pod.getMetadata().getAnnotations() == null ? Map.of()
                : pod.getMetadata().getAnnotations();
        String upstream = annotations.get(UPSTREAM);
        String secret = annotations.get(CREDENTIALS);
        if (upstream == null || !upstream.matches("[A-Za-z0-9.-]+:[0-9]{1,5}")) {
            return new Result(null, "dbwarden injection requested but annotation " + UPSTREAM
                    + " (database host:port) is missing or malformed");
        }
        if (secret == null || !secret.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?")) {
            return new Result(null, "dbwarden injection requested but annotation " + CREDENTIALS
                    + " (Secret with keys username and password) is missing or malformed");
        }
        if (pod.getSpec() != null && (Boolean.TRUE.equals(pod.getSpec().getShareProcessNamespace())
                || Boolean.TRUE.equals(pod.getSpec().getHostPID()))) {
            // the credentials live in the sidecar's files and memory: an application container that sees its process
            // and runs as the same user (65532 is also distroless' "nonroot") could read them through /proc
            return new Result(null, "dbwarden injection refused: " + (Boolean.TRUE.equals(pod.getSpec().getHostPID())
                    ? "spec.hostPID" : "spec.shareProcessNamespace") + " lets the application's containers see the "
                    + "sidecar's process and, as the same user, read the database credentials it holds; remove it "
                    + "from the pod");
        }
        String exposed = secretExposedToApplication(pod, secret);
        if (exposed != null) {
            return new Result(null, "dbwarden injection refused: the database credentials Secret " + secret
                    + " is also given to the application (" + exposed + "); the proxy holds the credentials so that "
                    + "the application never does: remove that reference from the pod");
        }
        String port = annotations.getOrDefault(PORT, "5432");
        if (!port.matches("[0-9]{2,5}")) {
            return new Result(null, "annotation " + PORT + " must be a port number");
        }
        int loops = eventLoops(annotations.get(EVENT_LOOPS));
        if (loops < 0) {
            return new Result(null, "annotation " + EVENT_LOOPS + " must be a number of event-loop threads from 1 to "
                    + MAX_EVENT_LOOPS + " (default " + DEFAULT_EVENT_LOOPS + ")");
        }
        String warmUpAnnotation = annotations.get(WARM_UP_SECONDS);
        int warmUp = warmUpAnnotation == null ? -1 : warmUpSeconds(warmUpAnnotation); // -1: the proxy's default
        if (warmUpAnnotation != null && warmUp < 0) {
            return new Result(null, "annotation " + WARM_UP_SECONDS + " must be a number of seconds from 0 to "
                    + MAX_WARM_UP_SECONDS + " (0 skips the warm-up)");
        }
        JsonNode original = JSON.valueToTree(pod);
        Pod copy = JSON.convertValue(original, Pod.class);
        mutate(copy, config, upstream, annotations.get(DATABASE), secret, port, loops, warmUp);
        return new Result(JsonDiff.asJson(original, JSON.valueToTree(copy)), null);
    }

    /** The sidecar's event-loop count for an annotation value (absent: the default), or -1 if it is not one. */
    static int eventLoops(String annotation) {
        if (annotation == null) {
            return DEFAULT_EVENT_LOOPS;
        }
        return number(annotation, 1, MAX_EVENT_LOOPS);
    }

    /** The warm-up limit of an annotation value, or -1 if it is not one. */
    static int warmUpSeconds(String annotation) {
        return number(annotation, 0, MAX_WARM_UP_SECONDS);
    }

    /** An annotation value of one or two digits from {@code min} to {@code max}, else -1. */
    private static int number(String annotation, int min, int max) {
        String v = annotation.trim();
        int n = v.matches("[0-9]{1,2}") ? Integer.parseInt(v) : -1;
        return n >= min && n <= max ? n : -1;
    }

    /** Where the pod hands the credentials Secret to its own containers, or null. */
    static String secretExposedToApplication(Pod pod, String secret) {
        if (pod.getSpec() == null) {
            return null;
        }
        for (var v : pod.getSpec().getVolumes() == null ? List.<io.fabric8.kubernetes.api.model.Volume>of()
                : pod.getSpec().getVolumes()) {
            if (v.getSecret() != null && secret.equals(v.getSecret().getSecretName())) {
                return "volume " + v.getName();
            }
            if (v.getProjected() != null && v.getProjected().getSources() != null && v.getProjected().getSources()
                    .stream().anyMatch(s -> s.getSecret() != null && secret.equals(s.getSecret().getName()))) {
                return "projected volume " + v.getName();
            }
        }
        List<io.fabric8.kubernetes.api.model.Container> containers = new ArrayList<>();
        if (pod.getSpec().getContainers() != null) {
            containers.addAll(pod.getSpec().getContainers());
        }
        if (pod.getSpec().getInitContainers() != null) {
            containers.addAll(pod.getSpec().getInitContainers());
        }
        for (var c : containers) {
            for (var e : c.getEnv() == null ? List.<io.fabric8.kubernetes.api.model.EnvVar>of() : c.getEnv()) {
                if (e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null
                        && secret.equals(e.getValueFrom().getSecretKeyRef().getName())) {
                    return "environment variable " + e.getName() + " of container " + c.getName();
                }
            }
            for (var f : c.getEnvFrom() == null ? List.<io.fabric8.kubernetes.api.model.EnvFromSource>of()
                    : c.getEnvFrom()) {
                if (f.getSecretRef() != null && secret.equals(f.getSecretRef().getName())) {
                    return "envFrom of container " + c.getName();
                }
            }
        }
        return null;
    }

    private static void mutate(Pod pod, Config config, String upstream, String database, String secret, String port,
                               int eventLoops, int warmUpSeconds) {
        List<String> args = new ArrayList<>(List.of("run", "--listen", "127.0.0.1:" + port, "--upstream", upstream,
                "--event-loops", String.valueOf(eventLoops),
                "--shutdown-grace-seconds", String.valueOf(shutdownGraceSeconds(pod))));
        if (warmUpSeconds >= 0) {
            args.addAll(List.of("--warm-up-seconds", String.valueOf(warmUpSeconds)));
        }
        if (!config.nativeSidecar()) {
            // stopped together with the application, which may still open connections while it finishes its work
            args.addAll(List.of("--shutdown-drain-seconds", String.valueOf(PLAIN_CONTAINER_DRAIN_SECONDS)));
        }
        if (database != null) {
            args.addAll(List.of("--upstream-database", database));
        }
        args.addAll(List.of("--upstream-user-file", "/etc/dbwarden/credentials/username",
                "--upstream-password-file", "/etc/dbwarden/credentials/password",
                "--operator-url", config.operatorUrl(), "--operator-ca-file", "/etc/dbwarden/ca/ca.crt",
                "--token-file", "/var/run/secrets/dbwarden/token", "--bundle-cache", "/var/run/dbwarden/bundle.yaml",
                "--audit", "-", "--admin-listen", "0.0.0.0:" + ADMIN_PORT));
        ContainerBuilder sidecar = new ContainerBuilder().withName(CONTAINER).withImage(config.image())
                .withArgs(args).withEnv(env(eventLoops))
                .addNewPort().withName("dbwarden-admin").withContainerPort(ADMIN_PORT).endPort()
                .withNewReadinessProbe().withNewHttpGet().withPath("/readyz").withNewPort(ADMIN_PORT).endHttpGet()
                .withPeriodSeconds(2).endReadinessProbe()
                .withNewLivenessProbe().withNewHttpGet().withPath("/healthz").withNewPort(ADMIN_PORT).endHttpGet()
                .withPeriodSeconds(10).withFailureThreshold(3).endLivenessProbe()
                .withNewStartupProbe().withNewHttpGet().withPath("/healthz").withNewPort(ADMIN_PORT).endHttpGet()
                .withPeriodSeconds(1).withFailureThreshold(60).endStartupProbe()
                .withNewResources().withRequests(Map.of("cpu", new Quantity("50m"), "memory", new Quantity("160Mi")))
                .withLimits(Map.of("memory", new Quantity("320Mi"))).endResources()
                .withNewSecurityContext().withRunAsNonRoot(true).withRunAsUser(65532L)
                .withReadOnlyRootFilesystem(true).withAllowPrivilegeEscalation(false)
                .withNewCapabilities().withDrop("ALL").endCapabilities()
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile().endSecurityContext()
                .withVolumeMounts(mounts());
        List<Volume> volumes = new ArrayList<>(pod.getSpec().getVolumes() == null ? List.of() : pod.getSpec().getVolumes());
        volumes.addAll(volumes(secret, config.caConfigMap()));
        pod.getSpec().setVolumes(volumes);
        if (config.nativeSidecar()) {
            Container c = sidecar.withRestartPolicy("Always").build();
            List<Container> init = new ArrayList<>();
            init.add(c);
            if (pod.getSpec().getInitContainers() != null) {
                init.addAll(pod.getSpec().getInitContainers());
            }
            pod.getSpec().setInitContainers(init);
        } else {
            List<Container> containers = new ArrayList<>(pod.getSpec().getContainers());
            containers.add(sidecar.build());
            pod.getSpec().setContainers(containers);
        }
        Map<String, String> annotations = new LinkedHashMap<>(pod.getMetadata().getAnnotations() == null ? Map.of()
                : pod.getMetadata().getAnnotations());
        annotations.put(InjectionDecision.STATUS, "{\"container\":\"" + CONTAINER + "\",\"image\":\""
                + config.image() + "\",\"native\":" + config.nativeSidecar() + "}");
        pod.getMetadata().setAnnotations(annotations);
    }

    /**
     * A sidecar that is a plain container gets SIGTERM together with the application, which may still need new
     * sessions while it finishes its requests: the sidecar accepts them for this long after SIGTERM, and after it
     * while any session is open (a native sidecar is stopped after the application, so it refuses them at once).
     */
    static final int PLAIN_CONTAINER_DRAIN_SECONDS = 5;

    /**
     * How long the sidecar lets open sessions go on after SIGTERM: the pod's termination grace period (Kubernetes'
     * default 30 s) less 5 s, so that sessions are ended cleanly (FATAL 57P01, statements cancelled, transactions
     * rolled back) before the kubelet kills the container. A native sidecar is sent SIGTERM only after the
     * application's containers have stopped, so this matters where sidecars are plain containers.
     */
    static long shutdownGraceSeconds(Pod pod) {
        Long period = pod.getSpec().getTerminationGracePeriodSeconds();
        return Math.max(0, (period == null ? 30 : period) - 5);
    }

    /**
     * The sidecar JVM's options (a JVM image reads them, a native image ignores them). They replace the image's own
     * {@code JAVA_TOOL_OPTIONS}, so its {@code -XX:+ExitOnOutOfMemoryError} is repeated: a proxy out of memory exits
     * and is restarted instead of serving on in a broken state. The container has no CPU limit, so the JVM would
     * size its JIT compiler and GC threads and the proxy's side pools by the node's cores; it is told as many
     * processors as the proxy has event loops, at least two (one C1 and one C2 compiler thread).
     */
    static String javaToolOptions(int eventLoops) {
        return "-XX:MaxRAMPercentage=70 -XX:+ExitOnOutOfMemoryError -XX:ActiveProcessorCount=" + Math.max(2, eventLoops)
                + " -Djava.io.tmpdir=/tmp -Dio.netty.leakDetection.level=disabled";
    }

    private static List<EnvVar> env(int eventLoops) {
        return List.of(
                new EnvVarBuilder().withName("POD_NAME").withNewValueFrom().withNewFieldRef()
                        .withFieldPath("metadata.name").endFieldRef().endValueFrom().build(),
                new EnvVarBuilder().withName("POD_NAMESPACE").withNewValueFrom().withNewFieldRef()
                        .withFieldPath("metadata.namespace").endFieldRef().endValueFrom().build(),
                new EnvVarBuilder().withName("SERVICE_ACCOUNT").withNewValueFrom().withNewFieldRef()
                        .withFieldPath("spec.serviceAccountName").endFieldRef().endValueFrom().build(),
                new EnvVarBuilder().withName("DBWARDEN_IDENTITY").withValue("$(POD_NAMESPACE)/$(SERVICE_ACCOUNT)").build(),
                new EnvVarBuilder().withName("JAVA_TOOL_OPTIONS").withValue(javaToolOptions(eventLoops)).build());
    }

    private static List<VolumeMount> mounts() {
        return List.of(
                new VolumeMountBuilder().withName("dbwarden-token").withMountPath("/var/run/secrets/dbwarden")
                        .withReadOnly(true).build(),
                new VolumeMountBuilder().withName("dbwarden-credentials").withMountPath("/etc/dbwarden/credentials")
                        .withReadOnly(true).build(),
                new VolumeMountBuilder().withName("dbwarden-ca").withMountPath("/etc/dbwarden/ca").withReadOnly(true)
                        .build(),
                new VolumeMountBuilder().withName("dbwarden-cache").withMountPath("/var/run/dbwarden").build(),
                new VolumeMountBuilder().withName("dbwarden-tmp").withMountPath("/tmp").build());
    }

    /**
     * Mode 0444: Secret and token files belong to root, and the sidecar runs as another non-root user than the app;
     * only the sidecar container mounts these volumes, so readable-by-all stays inside that container.
     */
    private static List<Volume> volumes(String secret, String caConfigMap) {
        return List.of(
                new VolumeBuilder().withName("dbwarden-token").withNewProjected().withDefaultMode(0444).addNewSource()
                        .withNewServiceAccountToken().withAudience("dbwarden").withExpirationSeconds(3600L)
                        .withPath("token").endServiceAccountToken().endSource().endProjected().build(),
                new VolumeBuilder().withName("dbwarden-credentials").withNewSecret().withSecretName(secret)
                        .withDefaultMode(0444).endSecret().build(),
                new VolumeBuilder().withName("dbwarden-ca").withNewConfigMap().withName(caConfigMap)
                        .withOptional(false).endConfigMap().build(),
                new VolumeBuilder().withName("dbwarden-cache").withNewEmptyDir().withMedium("Memory")
                        .withSizeLimit(new Quantity("8Mi")).endEmptyDir().build(),
                new VolumeBuilder().withName("dbwarden-tmp").withNewEmptyDir().withSizeLimit(new Quantity("64Mi"))
                        .endEmptyDir().build());
    }
}
