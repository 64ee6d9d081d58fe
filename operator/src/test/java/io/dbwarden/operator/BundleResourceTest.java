package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The sidecar policy API against the fake API server: identity from TokenReview, per-identity bundles, long poll. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@io.quarkus.test.common.QuarkusTestResource(SelfSignedTls.class)
class BundleResourceTest {
    @io.quarkus.test.common.http.TestHTTPResource(value = "/sidecar/v1/bundle", tls = true)
    java.net.URL bundleUrl;

    @io.quarkus.test.common.http.TestHTTPResource(value = "/metrics", management = true)
    java.net.URL metrics;

    @KubernetesTestServer
    KubernetesServer mockServer;

    @Inject
    KubernetesClient client;

    @BeforeEach
    void tokenReviews() {
        mockServer.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
            TokenReview in = Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class);
            String token = in.getSpec().getToken();
            boolean audienceOk = in.getSpec().getAudiences().contains("dbwarden");
            String user = switch (token) {
                case "token-checkout" -> "system:serviceaccount:shop:checkout";
                case "token-copilot" -> "system:serviceaccount:agents:copilot";
                case "token-human" -> "jane@example.com";
                default -> null;
            };
            return new TokenReviewBuilder(in).withNewStatus().withAuthenticated(user != null && audienceOk)
                    .withAudiences("dbwarden").withNewUser().withUsername(user).endUser().endStatus().build();
        }).always();
    }

    private void apply(String name, String namespace, String subjectNamespace, String sa, String extraRule)
            throws Exception {
        DatabaseAccessPolicy p = PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: %s
                  namespace: %s
                spec:
                  subjects:
                    - serviceAccount: %s
                      namespace: %s
                  rules:
                    - name: reads
                      match:
                        statements: [SELECT]
                      action: allow
                %s""".formatted(name, namespace, sa, subjectNamespace, extraRule), "test").get(0);
        client.resource(p).createOr(r -> r.update());
    }

    private Response get(String token, String etag, Integer wait) {
        var req = given().relaxedHTTPSValidation();
        if (token != null) {
            req = req.header("Authorization", "Bearer " + token);
        }
        if (etag != null) {
            req = req.header("If-None-Match", etag);
        }
        if (wait != null) {
            req = req.queryParam("wait", wait);
        }
        return req.get(bundleUrl);
    }

    @Test
    void eachIdentityGetsOnlyItsOwnPoliciesAndStrangersNothing() throws Exception {
        apply("checkout-policy", "shop", "shop", "checkout", "");
        apply("copilot-policy", "agents", "agents", "copilot", "");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get("token-checkout", null, null).body().asString()).contains("name: \"checkout-policy\""));
        Response a = get("token-checkout", null, null);
        assertThat(a.statusCode()).isEqualTo(200);
        assertThat(a.header("X-Dbwarden-Identity")).isEqualTo("shop/checkout");
        assertThat(a.body().asString()).contains("checkout-policy").doesNotContain("copilot-policy");
        Response b = get("token-copilot", null, null);
        assertThat(b.body().asString()).contains("copilot-policy").doesNotContain("checkout-policy");
        // the bundle loads with the proxy's own loader
        assertThat(PolicyLoader.parse(b.body().asString(), "bundle")).singleElement()
                .satisfies(p -> assertThat(p.getMetadata().getName()).isEqualTo("copilot-policy"));
        assertThat(get(null, null, null).statusCode()).isEqualTo(401);
        assertThat(get("token-human", null, null).statusCode()).isEqualTo(401);
        assertThat(get("forged", null, null).statusCode()).isEqualTo(401);
    }

    @Test
    void theApiIsOnlyServedOverTls() {
        assertThat(bundleUrl.getProtocol()).isEqualTo("https");
        assertThat(get("token-checkout", null, null).statusCode()).isEqualTo(200);
    }

    @Test
    void unchangedBundleAnswers304AndAChangeEndsTheLongPoll() throws Exception {
        apply("poll-policy", "shop", "shop", "checkout", "");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get("token-checkout", null, null).body().asString()).contains("poll-policy"));
        String etag = get("token-checkout", null, null).header("ETag");
        Response same = get("token-checkout", etag, 1);
        assertThat(same.statusCode()).isEqualTo(304);

        CompletableFuture<Response> poll = CompletableFuture.supplyAsync(() -> get("token-checkout", etag, 30));
        Thread.sleep(500);
        long start = System.nanoTime();
        apply("poll-policy", "shop", "shop", "checkout", """
                    - name: no-drop
                      match:
                        statements: [DROP]
                      action: deny
                """);
        Response changed = poll.get(20, TimeUnit.SECONDS);
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start)).isLessThan(10);
        assertThat(changed.statusCode()).isEqualTo(200);
        assertThat(changed.header("ETag")).isNotEqualTo(etag);
        assertThat(changed.body().asString()).contains("no-drop");
    }

    @Test
    void waitingSidecarsHoldNoThreadsAndAllSeeTheNextChange() throws Exception {
        apply("many-policy", "shop", "shop", "checkout", "");
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(get("token-checkout", null, null).body().asString()).contains("many-policy"));
        String etag = get("token-checkout", null, null).header("ETag");
        // more long polls than the worker pool has threads (max(200, 8 per core)): one fleet of sidecars
        int sidecars = Math.max(200, 8 * Runtime.getRuntime().availableProcessors()) + 50;
        ExecutorService clients = Executors.newFixedThreadPool(sidecars);
        try {
            List<Future<Response>> polls = new ArrayList<>();
            for (int i = 0; i < sidecars; i++) {
                polls.add(clients.submit(() -> get("token-checkout", etag, 50)));
            }
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(
                    given().get(metrics).body().asString()).contains("dbwarden_sidecar_policy_polls_waiting " + sidecars));
            // a new sidecar still gets its bundle at once (a blocked pool would make it wait for the polls' 50 s)
            CompletableFuture<Response> fresh = CompletableFuture.supplyAsync(() -> get("token-copilot", null, null));
            assertThat(fresh.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);

            apply("many-policy", "shop", "shop", "checkout", """
                        - name: no-truncate
                          match:
                            statements: [TRUNCATE]
                          action: deny
                    """);
            for (Future<Response> poll : polls) {
                Response r = poll.get(20, TimeUnit.SECONDS);
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(r.header("ETag")).isNotEqualTo(etag);
                assertThat(r.body().asString()).contains("no-truncate");
            }
            assertThat(given().get(metrics).body().asString()).contains("dbwarden_sidecar_policy_polls_waiting 0");
        } finally {
            clients.shutdownNow();
        }
    }
}
