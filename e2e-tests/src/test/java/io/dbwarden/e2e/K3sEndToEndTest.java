package io.dbwarden.e2e;

import com.github.dockerjava.api.DockerClient;
import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.ExecWatch;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The full path on a real Kubernetes (k3s in Docker): the JVM images built from the Dockerfiles and loaded into the
 * node, the chart installed with Helm, the sample app applied as a user would; the operator issues its certificate
 * and patches the webhook, the API server calls the webhook, the kubelet starts the native sidecar with its
 * projected token and credentials, the sidecar fetches its policy through TokenReview, and the app's statements are
 * allowed, masked and blocked. Skipped (not failed) where no Docker engine is available.
 */
@Testcontainers(disabledWithoutDocker = true)
class K3sEndToEndTest {
    @Container
    static final K3sContainer K3S = new K3sContainer(DockerImageName.parse("rancher/k3s:v1.31.4-k3s1"));

    @Test
    void sampleAppIsGuardedOnARealCluster() throws Exception {
        String proxyImage = new ImageFromDockerfile("dbwarden-proxy:e2e", false)
                .withFileFromPath("Dockerfile", Repo.path("sidecar-proxy/src/main/docker/Dockerfile.jvm"))
                .withFileFromPath("target/dbwarden-proxy.jar", Repo.path("sidecar-proxy/target/dbwarden-proxy.jar"))
                .get();
        String operatorImage = new ImageFromDockerfile("dbwarden-operator:e2e", false)
                .withFileFromPath("Dockerfile", Repo.path("operator/src/main/docker/Dockerfile.jvm"))
                .withFileFromPath("target/quarkus-app", Repo.path("operator/target/quarkus-app"))
                .get();
        loadIntoNode(proxyImage);
        loadIntoNode(operatorImage);

        String kubeconfig = K3S.getKubeConfigYaml();
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig))
                .build()) {
            // CRDs first (helm install also installs crds/, but wait until they are established)
            new Helm(Repo.path("helm/dbwarden")).install().withName("dbwarden").withNamespace("dbwarden")
                    .createNamespace().withKubeConfigContents(kubeconfig)
                    .set("image.repository", "dbwarden-operator").set("image.tag", "e2e")
                    .set("image.pullPolicy", "Never")
                    .set("sidecar.image.repository", "dbwarden-proxy").set("sidecar.image.tag", "e2e")
                    .set("replicaCount", 1)
                    .waitReady().withTimeout(300).call();
            await().atMost(2, TimeUnit.MINUTES).until(() -> {
                var cfg = client.admissionRegistration().v1().mutatingWebhookConfigurations()
                        .withName("dbwarden-operator").get();
                return cfg != null && cfg.getWebhooks().getFirst().getClientConfig().getCaBundle() != null;
            });

            for (String file : List.of("namespace.yaml", "postgres.yaml", "policy.yaml", "checkout.yaml")) {
                List<HasMetadata> objects = client.load(Files.newInputStream(
                        Repo.path("examples/sample-app").resolve(file))).items();
                for (HasMetadata o : objects) {
                    client.resource(o).serverSideApply();
                }
            }
            await().atMost(5, TimeUnit.MINUTES).pollInterval(Duration.ofSeconds(3)).until(() -> {
                List<Pod> pods = client.pods().inNamespace("shop").withLabel("app", "checkout").list().getItems();
                return !pods.isEmpty() && pods.getFirst().getStatus().getContainerStatuses() != null
                        && pods.getFirst().getStatus().getContainerStatuses().stream().allMatch(s -> Boolean.TRUE.equals(
                        s.getReady()));
            });
            Pod pod = client.pods().inNamespace("shop").withLabel("app", "checkout").list().getItems().getFirst();
            assertThat(pod.getSpec().getInitContainers()).anySatisfy(c -> {
                assertThat(c.getName()).isEqualTo("dbwarden-proxy");
                assertThat(c.getRestartPolicy()).isEqualTo("Always");
            });
            assertThat(client.configMaps().inNamespace("shop").withName("dbwarden-ca").get()).isNotNull();

            String masked = exec(client, pod, "psql", "-At", "-c", "SELECT email FROM customers ORDER BY id");
            assertThat(masked).doesNotContain("ada@example.com").contains("@example.com");
            String denied = exec(client, pod, "sh", "-c", "psql -c 'DELETE FROM orders' 2>&1 || true");
            assertThat(denied).contains("no-mass-delete");
            String sidecarLog = client.pods().inNamespace("shop").withName(pod.getMetadata().getName())
                    .inContainer("dbwarden-proxy").getLog();
            assertThat(sidecarLog).contains("\"identity\":\"shop/checkout\"").contains("\"decision\":\"deny\"")
                    .doesNotContain("change-me-app");
        }
    }

    private static void loadIntoNode(String image) throws Exception {
        DockerClient docker = DockerClientFactory.instance().client();
        Path tar = Files.createTempFile("image", ".tar");
        try (InputStream in = docker.saveImageCmd(image).exec()) {
            Files.copy(in, tar, StandardCopyOption.REPLACE_EXISTING);
        }
        K3S.copyFileToContainer(MountableFile.forHostPath(tar), "/tmp/image.tar");
        var result = K3S.execInContainer("ctr", "-n", "k8s.io", "images", "import", "/tmp/image.tar");
        assertThat(result.getExitCode()).as(result.getStderr()).isZero();
    }

    private static String exec(KubernetesClient client, Pod pod, String... command) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ExecWatch watch = client.pods().inNamespace("shop").withName(pod.getMetadata().getName())
                .inContainer("app").writingOutput(out).writingError(out).exec(command)) {
            watch.exitCode().get(60, TimeUnit.SECONDS);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
