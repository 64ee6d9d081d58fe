package io.dbwarden.operator;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import org.junit.jupiter.api.Test;

import java.net.URL;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;

/** Probes and metrics on the management port, as the Deployment's probes and Prometheus use them. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class OperatorEndpointsTest {
    @TestHTTPResource(value = "/health/ready", management = true)
    URL ready;

    @TestHTTPResource(value = "/health/live", management = true)
    URL live;

    @TestHTTPResource(value = "/metrics", management = true)
    URL metrics;

    @Test
    void healthAndMetrics() {
        assertThat(given().get(live).statusCode()).as(live.toString()).isEqualTo(200);
        var r = given().get(ready);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body().asString()).contains("\"status\": \"UP\"");
        String m = given().get(metrics).body().asString();
        assertThat(m).contains("jvm_memory_used_bytes").contains("http_server");
    }
}
