package io.dbwarden.operator;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The operator against a fake API server (CRUD): applying a policy updates its status, invalid ones say why. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class PolicyReconcilerTest {
    @Inject
    KubernetesClient client;

    private static DatabaseAccessPolicy policy(String name, String extra) throws Exception {
        return PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: %s
                  namespace: shop
                spec:
                  subjects:
                    - serviceAccount: checkout
                  defaultAction: deny
                  rules:
                    - name: reads
                      match:
                        statements: [SELECT]
                      action: allow
                %s""".formatted(name, extra), "test").get(0);
    }

    private Condition ready(String name) {
        DatabaseAccessPolicy p = client.resources(DatabaseAccessPolicy.class).inNamespace("shop").withName(name).get();
        if (p == null || p.getStatus() == null) {
            return null;
        }
        return p.getStatus().getConditions().stream().filter(c -> "Ready".equals(c.getType())).findFirst().orElse(null);
    }

    @Test
    void validPolicyBecomesReadyAndCountsBoundWorkloads() throws Exception {
        client.pods().inNamespace("shop").resource(new PodBuilder().withNewMetadata().withName("checkout-1")
                .withNamespace("shop").endMetadata().withNewSpec().withServiceAccountName("checkout")
                .addNewContainer().withName("app").withImage("app").endContainer()
                .addNewContainer().withName(PolicyReconciler.SIDECAR_CONTAINER).withImage("dbwarden").endContainer()
                .endSpec().build()).create();
        client.pods().inNamespace("shop").resource(new PodBuilder().withNewMetadata().withName("other-1")
                .withNamespace("shop").endMetadata().withNewSpec().withServiceAccountName("other")
                .addNewContainer().withName(PolicyReconciler.SIDECAR_CONTAINER).withImage("dbwarden").endContainer()
                .endSpec().build()).create();
        // the same service-account name in another namespace is another identity: not bound, and not even listed
        client.pods().inNamespace("billing").resource(new PodBuilder().withNewMetadata().withName("checkout-1")
                .withNamespace("billing").endMetadata().withNewSpec().withServiceAccountName("checkout")
                .addNewContainer().withName(PolicyReconciler.SIDECAR_CONTAINER).withImage("dbwarden").endContainer()
                .endSpec().build()).create();
        client.resource(policy("good", "")).create();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            Condition c = ready("good");
            assertThat(c).isNotNull();
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("Valid");
        });
        DatabaseAccessPolicy p = client.resources(DatabaseAccessPolicy.class).inNamespace("shop").withName("good").get();
        assertThat(p.getStatus().getObservedGeneration()).isEqualTo(p.getMetadata().getGeneration());
        assertThat(p.getStatus().getBoundWorkloads()).isEqualTo(1);
    }

    @Test
    void invalidPolicyGetsAFalseReadyConditionWithTheReasonAndAnEvent() throws Exception {
        DatabaseAccessPolicy bad = policy("bad", "");
        // what kubectl would accept but the policy validation rejects: a duplicate rule name and a bad glob
        io.dbwarden.api.v1alpha1.Rule dup = new io.dbwarden.api.v1alpha1.Rule();
        dup.setName("reads");
        dup.getMatch().setTables(java.util.List.of("a.b.c"));
        dup.setAction(io.dbwarden.api.v1alpha1.Action.DENY);
        bad.getSpec().getRules().add(dup);
        client.resource(bad).create();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            Condition c = ready("bad");
            assertThat(c).isNotNull();
            assertThat(c.getStatus()).isEqualTo("False");
            assertThat(c.getReason()).isEqualTo("InvalidPolicy");
            assertThat(c.getMessage()).contains("spec.rules[1].name").contains("already used")
                    .contains("spec.rules[1].match.tables[0]");
        });
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(
                client.v1().events().inNamespace("shop").list().getItems())
                .anySatisfy(e -> {
                    assertThat(e.getReason()).isEqualTo("InvalidPolicy");
                    assertThat(e.getInvolvedObject().getName()).isEqualTo("bad");
                }));
    }
}
