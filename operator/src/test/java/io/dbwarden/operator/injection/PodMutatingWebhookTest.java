package io.dbwarden.operator.injection;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dbwarden.operator.SelfSignedTls;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

/** The webhook endpoint as the API server calls it: AdmissionReview in, AdmissionReview with a JSON patch out. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(SelfSignedTls.class)
class PodMutatingWebhookTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TestHTTPResource(value = "/mutate/pods", tls = true)
    URL webhook;

    @Inject
    KubernetesClient client;

    private JsonNode call(JsonNode review) {
        String body = given().relaxedHTTPSValidation().contentType("application/json").body(review.toString())
                .post(webhook).then().statusCode(200).extract().asString();
        try {
            return JSON.readTree(body);
        } catch (Exception e) {
            throw new AssertionError(body, e);
        }
    }

    @Test
    void annotatedPodGetsTheGoldenPatch() throws Exception {
        JsonNode review = JSON.readTree(Path.of("src/test/resources/injection/checkout-pod.admissionreview.json").toFile());
        JsonNode response = call(review).get("response");
        assertThat(response.get("uid").asText()).isEqualTo("705ab4f5-6393-11e8-b7cc-42010a800002");
        assertThat(response.get("allowed").asBoolean()).isTrue();
        assertThat(response.get("patchType").asText()).isEqualTo("JSONPatch");
        JsonNode patch = JSON.readTree(new String(Base64.getDecoder().decode(response.get("patch").asText()),
                StandardCharsets.UTF_8));
        assertThat(patch).isEqualTo(JSON.readTree(Path.of("src/test/resources/injection/checkout-pod.patch.json").toFile()));
    }

    @Test
    void injectionPublishesTheOperatorCaInThePodsNamespaceExceptOnDryRun() throws Exception {
        // with dbwarden.tls.managed=false (tests) the bundle is read from dbwarden.tls.dir
        Path dir = Path.of("target/test-tls");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("ca.crt"), "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n");
        ObjectNode review = (ObjectNode) JSON.readTree(Path.of(
                "src/test/resources/injection/checkout-pod.admissionreview.json").toFile());
        ObjectNode request = (ObjectNode) review.get("request");
        request.put("namespace", "warehouse");
        request.put("dryRun", true);
        assertThat(call(review).get("response").get("allowed").asBoolean()).isTrue();
        assertThat(client.configMaps().inNamespace("warehouse").withName("dbwarden-ca").get()).isNull();

        request.put("dryRun", false);
        assertThat(call(review).get("response").get("allowed").asBoolean()).isTrue();
        var cm = client.configMaps().inNamespace("warehouse").withName("dbwarden-ca").get();
        assertThat(cm.getData()).containsEntry("ca.crt", Files.readString(dir.resolve("ca.crt")));
        assertThat(cm.getMetadata().getLabels()).containsEntry("app.kubernetes.io/managed-by", "dbwarden-operator");
    }

    @Test
    void namespaceOptInInjectsAndMissingSettingsAreRefused() throws Exception {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("billing")
                .addToLabels("dbwarden.io/inject", "enabled").endMetadata().build()).createOr(r -> r.update());
        ObjectNode review = (ObjectNode) JSON.readTree(Path.of(
                "src/test/resources/injection/checkout-pod.admissionreview.json").toFile());
        ObjectNode request = (ObjectNode) review.get("request");
        request.put("namespace", "billing");
        ObjectNode annotations = (ObjectNode) request.get("object").get("metadata").get("annotations");
        annotations.remove("dbwarden.io/inject"); // opted in by the namespace only
        annotations.remove("dbwarden.io/upstream");
        JsonNode refused = call(review).get("response");
        assertThat(refused.get("allowed").asBoolean()).isFalse();
        assertThat(refused.get("status").get("message").asText()).contains("dbwarden.io/upstream");

        annotations.put("dbwarden.io/inject", "false"); // explicit opt-out beats the namespace
        JsonNode untouched = call(review).get("response");
        assertThat(untouched.get("allowed").asBoolean()).isTrue();
        assertThat(untouched.has("patch") && !untouched.get("patch").isNull()).isFalse();
    }
}
