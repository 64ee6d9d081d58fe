package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The real operator (fake API server) and the real proxy (its jar, as a separate process, in sidecar mode over
 * HTTPS with a service-account token) in front of a real PostgreSQL: a policy change made in Kubernetes reaches the
 * running proxy within seconds. Needs sidecar-proxy/target/dbwarden-proxy.jar (built earlier in the reactor).
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class PolicyReachesProxyTest {
    static final Path PROXY_JAR = Path.of("../sidecar-proxy/target/dbwarden-proxy.jar");

    @KubernetesTestServer
    KubernetesServer mockServer;

    @Inject
    KubernetesClient client;

    @TestHTTPResource(value = "/", tls = true)
    URL operatorUrl;

    private void apply(String extraRules) throws Exception {
        DatabaseAccessPolicy p = PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: e2e
                  namespace: shop
                spec:
                  subjects:
                    - serviceAccount: checkout
                  defaultAction: allow
                  allowUnparsedStatements: true
                %s""".formatted(extraRules), "test").get(0);
        client.resource(p).createOr(r -> r.update());
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void policyChangeInKubernetesReachesTheRunningProxy() throws Exception {
        Assumptions.assumeTrue(Files.exists(PROXY_JAR), "build the proxy first (mvn verify builds it before this module)");
        mockServer.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
            TokenReview in = Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class);
            boolean ok = "projected-token".equals(in.getSpec().getToken()) && in.getSpec().getAudiences().contains("dbwarden");
            return new TokenReviewBuilder(in).withNewStatus().withAuthenticated(ok).withAudiences("dbwarden")
                    .withNewUser().withUsername(ok ? "system:serviceaccount:shop:checkout" : null).endUser()
                    .endStatus().build();
        }).always();
        apply("");
        Path dir = Files.createTempDirectory("e2e");
        Files.writeString(dir.resolve("token"), "projected-token");
        int proxyPort = freePort();
        int adminPort = freePort();
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start()) {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process proxy = new ProcessBuilder(java, "-jar", PROXY_JAR.toString(), "run",
                    "--listen", "127.0.0.1:" + proxyPort, "--upstream", "127.0.0.1:" + pg.getPort(),
                    "--upstream-database", "postgres", "--upstream-user", "postgres", "--upstream-tls", "disable",
                    "--identity", "shop/checkout", "--operator-url", "https://localhost:" + operatorUrl.getPort(),
                    "--operator-ca-file", SelfSignedTls.certificatePem.toString(),
                    "--token-file", dir.resolve("token").toString(), "--bundle-cache", dir.resolve("bundle.yaml").toString(),
                    "--audit", dir.resolve("audit.jsonl").toString(), "--admin-listen", "127.0.0.1:" + adminPort)
                    .redirectErrorStream(true).redirectOutput(dir.resolve("proxy.log").toFile()).start();
            try {
                HttpClient http = HttpClient.newHttpClient();
                await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> http.send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + adminPort + "/readyz")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
                try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + proxyPort
                        + "/postgres?sslmode=disable&user=app"); Statement s = c.createStatement()) {
                    s.execute("CREATE TEMP TABLE t (id int)");
                    s.execute("TRUNCATE t");
                    apply("""
                              rules:
                                - name: no-truncate
                                  match:
                                    statements: [TRUNCATE]
                                  action: deny
                            """);
                    await().atMost(15, TimeUnit.SECONDS).untilAsserted(() ->
                            assertThatThrownBy(() -> s.execute("TRUNCATE t")).hasMessageContaining("no-truncate"));
                }
                assertThat(Files.readString(dir.resolve("bundle.yaml"))).contains("no-truncate");
            } finally {
                proxy.destroy();
                if (!proxy.waitFor(10, TimeUnit.SECONDS)) {
                    proxy.destroyForcibly();
                }
                List<String> log = Files.readAllLines(dir.resolve("proxy.log"));
                System.out.println("proxy log tail:\n" + String.join("\n", log.subList(Math.max(0, log.size() - 15), log.size())));
            }
        }
    }
}
