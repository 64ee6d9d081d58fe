package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
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

    @Test
    void policyChangeInKubernetesReachesTheRunningProxy() throws Exception {
        Assumptions.assumeTrue(Files.exists(SidecarProcess.PROXY_JAR),
                "build the proxy first (mvn verify builds it before this module)");
        SidecarProcess.acceptToken(mockServer);
        apply("");
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
             SidecarProcess sidecar = SidecarProcess.start(operatorUrl.getPort(), pg.getPort())) {
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + sidecar.port
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
            assertThat(Files.readString(sidecar.dir.resolve("bundle.yaml"))).contains("no-truncate");
        }
    }
}
