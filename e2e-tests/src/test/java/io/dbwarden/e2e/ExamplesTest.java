package io.dbwarden.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;
import org.luaj.vm2.Globals;
import org.luaj.vm2.LuaTable;
import org.luaj.vm2.LuaValue;
import org.luaj.vm2.lib.jse.JsePlatform;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Everything under examples/ is valid: YAML parses, policies pass the operator's validation, Lua health checks work. */
class ExamplesTest {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    static final Path EXAMPLES = Repo.path("examples");

    static List<JsonNode> documents(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNextValue()) {
                JsonNode n = it.nextValue();
                if (n != null && !n.isEmpty()) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    static List<Path> yamlFiles() throws IOException {
        try (Stream<Path> s = Files.walk(EXAMPLES)) {
            return s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
    }

    @Test
    void everyPolicyPassesTheOperatorsValidation() throws Exception {
        int policies = 0;
        for (Path file : yamlFiles()) {
            for (JsonNode doc : documents(file)) {
                if ("DatabaseAccessPolicy".equals(doc.path("kind").asText())) {
                    List<DatabaseAccessPolicy> loaded = PolicyLoader.parse(YAML.writeValueAsString(doc), file.toString());
                    assertThat(loaded).hasSize(1);
                    policies++;
                }
            }
        }
        assertThat(policies).isGreaterThanOrEqualTo(5);
    }

    @Test
    void everyManifestIsAWellFormedKubernetesObject() throws Exception {
        for (Path file : yamlFiles()) {
            List<JsonNode> docs = documents(file);
            assertThat(docs).as(file.toString()).isNotEmpty();
            for (JsonNode doc : docs) {
                assertThat(doc.path("apiVersion").asText()).as(file + " apiVersion").isNotEmpty();
                assertThat(doc.path("kind").asText()).as(file + " kind").isNotEmpty();
                if (!"Kustomization".equals(doc.path("kind").asText())
                        || doc.path("apiVersion").asText().startsWith("kustomize.toolkit")) {
                    assertThat(doc.path("metadata").path("name").asText()).as(file + " metadata.name").isNotEmpty();
                }
                switch (doc.path("kind").asText()) {
                    case "ChangeApproval" -> {
                        ChangeApproval ca = Serialization.unmarshal(YAML.writeValueAsString(doc), ChangeApproval.class);
                        assertThat(ca.getSpec().getStatementHash()).matches("[0-9a-f]{64}");
                    }
                    case "Kustomization" -> {
                        if (doc.path("apiVersion").asText().startsWith("kustomize.config")) {
                            for (JsonNode r : doc.path("resources")) {
                                assertThat(file.resolveSibling(r.asText())).as("resource of " + file).exists();
                            }
                        }
                    }
                    default -> {
                    }
                }
            }
        }
    }

    /** The workloads ask for injection the way the webhook expects (its refusal cases are tested in the operator). */
    @Test
    void guardedWorkloadsCarryTheInjectionAnnotations() throws Exception {
        for (String path : List.of("sample-app/checkout.yaml", "ai-agent/sql-copilot.yaml")) {
            for (JsonNode doc : documents(EXAMPLES.resolve(path))) {
                if (!"Deployment".equals(doc.path("kind").asText())) {
                    continue;
                }
                Deployment d = Serialization.unmarshal(YAML.writeValueAsString(doc), Deployment.class);
                Map<String, String> a = d.getSpec().getTemplate().getMetadata().getAnnotations();
                assertThat(a.get("dbwarden.io/upstream")).matches("[a-z0-9.-]+:[0-9]+");
                String secret = a.get("dbwarden.io/credentials-secret");
                assertThat(documents(EXAMPLES.resolve(path))).anySatisfy(s -> {
                    assertThat(s.path("kind").asText()).isEqualTo("Secret");
                    assertThat(s.path("metadata").path("name").asText()).isEqualTo(secret);
                    assertThat(s.path("stringData").has("username") && s.path("stringData").has("password")).isTrue();
                });
                // the application container never gets the database password
                assertThat(d.getSpec().getTemplate().getSpec().getContainers()).allSatisfy(c ->
                        assertThat(String.valueOf(c.getEnv())).doesNotContain("change-me"));
            }
        }
    }

    private static String health(String kind, String objectYaml) throws IOException {
        JsonNode cm = documents(EXAMPLES.resolve("gitops/argocd/argocd-cm-health.yaml")).getFirst();
        String script = cm.path("data").path("resource.customizations.health.dbwarden.io_" + kind).asText();
        assertThat(script).isNotEmpty();
        Globals lua = JsePlatform.standardGlobals();
        lua.set("obj", toLua(YAML.readTree(objectYaml)));
        LuaValue hs = lua.load(script, kind).call();
        return hs.get("status").tojstring() + ": " + hs.get("message").tojstring();
    }

    private static LuaValue toLua(JsonNode n) {
        if (n.isObject()) {
            LuaTable t = new LuaTable();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                var e = it.next();
                t.set(e.getKey(), toLua(e.getValue()));
            }
            return t;
        }
        if (n.isArray()) {
            LuaTable t = new LuaTable();
            for (int i = 0; i < n.size(); i++) {
                t.set(i + 1, toLua(n.get(i)));
            }
            return t;
        }
        if (n.isNumber()) {
            return LuaValue.valueOf(n.asDouble());
        }
        if (n.isBoolean()) {
            return LuaValue.valueOf(n.asBoolean());
        }
        return n.isNull() ? LuaValue.NIL : LuaValue.valueOf(n.asText());
    }

    @Test
    void argoHealthOfPoliciesFollowsTheReadyCondition() throws IOException {
        assertThat(health("DatabaseAccessPolicy", "metadata: {name: p, generation: 1}"))
                .startsWith("Progressing");
        assertThat(health("DatabaseAccessPolicy", """
                metadata: {name: p, generation: 2}
                status:
                  observedGeneration: 2
                  conditions: [{type: Ready, status: "True", reason: Valid, message: policy is valid and enforced}]
                """)).isEqualTo("Healthy: policy is valid and enforced");
        assertThat(health("DatabaseAccessPolicy", """
                metadata: {name: p, generation: 3}
                status:
                  observedGeneration: 3
                  conditions: [{type: Ready, status: "False", reason: Invalid, message: "spec.rules[0]: bad glob"}]
                """)).isEqualTo("Degraded: spec.rules[0]: bad glob");
        // a status for an older generation says nothing about the current spec yet
        assertThat(health("DatabaseAccessPolicy", """
                metadata: {name: p, generation: 4}
                status:
                  observedGeneration: 3
                  conditions: [{type: Ready, status: "True", message: ok}]
                """)).startsWith("Progressing");
    }

    @Test
    void argoHealthOfApprovalsFollowsThePhase() throws IOException {
        assertThat(health("ChangeApproval", "metadata: {name: a}")).startsWith("Suspended");
        assertThat(health("ChangeApproval", "metadata: {name: a}\nstatus: {phase: Pending}")).startsWith("Suspended");
        assertThat(health("ChangeApproval", "metadata: {name: a}\nstatus: {phase: Approved, decidedBy: alice}"))
                .isEqualTo("Healthy: Approved by alice");
        assertThat(health("ChangeApproval", "metadata: {name: a}\nstatus: {phase: Denied}")).startsWith("Degraded");
        assertThat(health("ChangeApproval", "metadata: {name: a}\nstatus: {phase: Expired}")).startsWith("Degraded");
    }
}
