package io.dbwarden.e2e;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesList;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Helm chart, rendered and linted by the real Helm library (helm-java): lint clean, golden output, and the
 * properties that matter checked on the parsed objects. Regenerate the golden files with -Ddbwarden.updateGolden=true.
 */
class HelmChartTest {
    static final Path CHART = Repo.path("helm/dbwarden");
    static final Path GOLDEN = Repo.path("e2e-tests/src/test/resources/helm");

    static String render(String... sets) {
        var cmd = new Helm(CHART).template().withName("dbwarden").withNamespace("dbwarden");
        for (int i = 0; i < sets.length; i += 2) {
            cmd.set(sets[i], sets[i + 1]);
        }
        return cmd.call();
    }

    static List<HasMetadata> objects(String yaml) {
        List<HasMetadata> out = new ArrayList<>();
        for (String doc : yaml.split("(?m)^---\\s*$")) {
            String body = doc.lines().filter(l -> !l.startsWith("#")).collect(Collectors.joining("\n")).trim();
            if (!body.isEmpty()) {
                Object o = Serialization.unmarshal(body);
                if (o instanceof KubernetesList list) {
                    out.addAll(list.getItems());
                } else {
                    out.add((HasMetadata) o);
                }
            }
        }
        return out;
    }

    static <T extends HasMetadata> T one(List<HasMetadata> objects, Class<T> type) {
        List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
        assertThat(found).as(type.getSimpleName()).hasSize(1);
        return found.getFirst();
    }

    @Test
    void lintsClean() {
        // helm-java's lint takes no values; the cert-manager variant is covered by rendering it below
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertThat(lint.isFailed()).as(String.join("\n", lint.getMessages())).isFalse();
    }

    @Test
    void rendersTheGoldenManifests() throws IOException {
        golden("default.yaml", render());
        golden("cert-manager.yaml", render("tls.mode", "cert-manager", "replicaCount", "3"));
    }

    private static void golden(String name, String rendered) throws IOException {
        Path file = GOLDEN.resolve(name);
        if (Boolean.getBoolean("dbwarden.updateGolden")) {
            Files.createDirectories(GOLDEN);
            Files.writeString(file, rendered);
        }
        assertThat(rendered).as("helm template output differs from %s (regenerate with -Ddbwarden.updateGolden=true "
                + "after reviewing the change)", file).isEqualTo(Files.readString(file));
    }

    @Test
    void webhookIsExplicitAboutEverySafetySetting() {
        MutatingWebhookConfiguration cfg = one(objects(render()), MutatingWebhookConfiguration.class);
        MutatingWebhook w = cfg.getWebhooks().getFirst();
        assertThat(w.getFailurePolicy()).isEqualTo("Fail");
        assertThat(w.getReinvocationPolicy()).isEqualTo("IfNeeded");
        assertThat(w.getSideEffects()).isEqualTo("NoneOnDryRun");
        assertThat(w.getAdmissionReviewVersions()).containsExactly("v1");
        assertThat(w.getTimeoutSeconds()).isEqualTo(10);
        assertThat(w.getClientConfig().getService().getName()).isEqualTo("dbwarden-operator");
        assertThat(w.getClientConfig().getService().getPath()).isEqualTo("/mutate/pods");
        assertThat(w.getRules().getFirst().getOperations()).containsExactly("CREATE");
        var nsExclusion = w.getNamespaceSelector().getMatchExpressions().getFirst();
        assertThat(nsExclusion.getKey()).isEqualTo("kubernetes.io/metadata.name");
        assertThat(nsExclusion.getValues()).contains("kube-system", "kube-public", "kube-node-lease", "dbwarden");
        assertThat(w.getNamespaceSelector().getMatchExpressions()).anySatisfy(e -> {
            assertThat(e.getKey()).isEqualTo("dbwarden.io/inject");
            assertThat(e.getValues()).containsExactly("disabled");
        });
        assertThat(w.getObjectSelector().getMatchExpressions().getFirst().getValues()).containsExactly("false");

        MutatingWebhookConfiguration lenient = one(objects(render("webhook.failurePolicy", "Ignore")),
                MutatingWebhookConfiguration.class);
        assertThat(lenient.getWebhooks().getFirst().getFailurePolicy()).isEqualTo("Ignore");

        // approvals are never fail-open: without the webhook nobody may decide
        MutatingWebhook approvals = cfg.getWebhooks().get(1);
        assertThat(approvals.getName()).isEqualTo("changeapprovals.dbwarden.io");
        assertThat(approvals.getFailurePolicy()).isEqualTo("Fail");
        assertThat(approvals.getSideEffects()).isEqualTo("None");
        assertThat(approvals.getReinvocationPolicy()).isEqualTo("Never");
        assertThat(approvals.getClientConfig().getService().getPath()).isEqualTo("/admission/changeapprovals");
        assertThat(approvals.getRules().getFirst().getOperations()).containsExactly("CREATE", "UPDATE");
        assertThat(lenient.getWebhooks().get(1).getFailurePolicy()).isEqualTo("Fail");
        assertThatThrownBy(() -> render("webhook.failurePolicy", "Sometimes")).hasMessageContaining(
                "webhook.failurePolicy must be Fail or Ignore");
        assertThatThrownBy(() -> render("tls.mode", "acme")).hasMessageContaining(
                "tls.mode must be self-signed or cert-manager");
    }

    @Test
    void operatorRunsLockedDownWithProbesAndItsOwnCertificate() {
        Deployment d = one(objects(render()), Deployment.class);
        var pod = d.getSpec().getTemplate().getSpec();
        assertThat(d.getSpec().getReplicas()).isEqualTo(2);
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        Container c = pod.getContainers().getFirst();
        assertThat(c.getImage()).isEqualTo("ghcr.io/dbwarden/dbwarden-operator:0.1.0");
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/q/health/ready");
        assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/q/health/live");
        assertThat(c.getResources().getLimits()).containsKey("memory");
        assertThat(env(c, "DBWARDEN_TLS_MODE")).isEqualTo("self-signed");
        assertThat(env(c, "DBWARDEN_INJECTION_OPERATOR_URL")).isEqualTo("https://dbwarden-operator.dbwarden.svc:443");
        assertThat(env(c, "DBWARDEN_INJECTION_IMAGE")).isEqualTo("ghcr.io/dbwarden/dbwarden-proxy:0.1.0");
        assertThat(c.getVolumeMounts()).anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo(env(c, "DBWARDEN_TLS_DIR")));

        Deployment external = one(objects(render("tls.mode", "cert-manager")), Deployment.class);
        assertThat(env(external.getSpec().getTemplate().getSpec().getContainers().getFirst(), "DBWARDEN_TLS_MODE"))
                .isEqualTo("external");
    }

    /** Every DBWARDEN_* variable the chart sets names a setting the operator actually reads. */
    @Test
    void everyOperatorSettingTheChartSetsExists() throws IOException {
        Set<String> known;
        try (Stream<Path> files = Files.walk(Repo.path("operator/src/main"))) {
            Pattern key = Pattern.compile("\"?(dbwarden\\.[a-z.-]+[a-z])");
            known = files.filter(Files::isRegularFile).flatMap(f -> {
                try {
                    Matcher m = key.matcher(Files.readString(f));
                    List<String> keys = new ArrayList<>();
                    while (m.find()) {
                        keys.add(m.group(1).toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_"));
                    }
                    return keys.stream();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }).collect(Collectors.toSet());
        }
        Container c = one(objects(render()), Deployment.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        List<String> set = c.getEnv().stream().map(EnvVar::getName).filter(n -> n.startsWith("DBWARDEN_")).toList();
        assertThat(set).hasSizeGreaterThan(8);
        assertThat(known).containsAll(set);
    }

    @Test
    void rbacIsLeastPrivilege() {
        List<HasMetadata> objects = objects(render());
        ClusterRole cr = objects.stream().filter(o -> o instanceof ClusterRole c
                && c.getMetadata().getName().equals("dbwarden-operator")).map(ClusterRole.class::cast).findFirst()
                .orElseThrow();
        ClusterRole approver = objects.stream().filter(o -> o instanceof ClusterRole c
                && c.getMetadata().getName().equals("dbwarden-approver")).map(ClusterRole.class::cast).findFirst()
                .orElseThrow();
        // approvers decide (update the object) but can never write status, which holds phase and uses
        assertThat(approver.getRules()).noneSatisfy(r -> assertThat(r.getResources()).anyMatch(x -> x.endsWith("/status")));
        Role role = one(objects, Role.class);
        List<PolicyRule> rules = new ArrayList<>(cr.getRules());
        rules.addAll(role.getRules());
        rules.addAll(approver.getRules());
        for (PolicyRule r : rules) {
            assertThat(r.getVerbs()).doesNotContain("*", "delete", "deletecollection", "escalate", "bind", "impersonate");
            assertThat(r.getResources()).doesNotContain("*");
            assertThat(r.getApiGroups()).doesNotContain("*");
        }
        assertThat(cr.getRules()).noneSatisfy(r -> assertThat(r.getResources()).contains("secrets"));
        assertThat(role.getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("secrets");
            assertThat(r.getResourceNames()).containsExactly("dbwarden-operator-tls");
            assertThat(r.getVerbs()).containsExactly("get", "update");
        });
        assertThat(cr.getRules()).anySatisfy(r -> {
            assertThat(r.getResources()).containsExactly("mutatingwebhookconfigurations");
            assertThat(r.getResourceNames()).containsExactly("dbwarden-operator");
        });
        // with cert-manager the operator does not touch webhook configurations at all
        ClusterRole external = objects(render("tls.mode", "cert-manager")).stream().filter(o -> o instanceof ClusterRole c
                && c.getMetadata().getName().equals("dbwarden-operator")).map(ClusterRole.class::cast).findFirst()
                .orElseThrow();
        assertThat(external.getRules()).noneSatisfy(r -> assertThat(r.getResources())
                .contains("mutatingwebhookconfigurations"));
    }

    @Test
    void certManagerModeIssuesTheServingCertificateAndInjectsTheCa() {
        String yaml = render("tls.mode", "cert-manager");
        assertThat(yaml).contains("kind: Certificate").contains("secretName: dbwarden-operator-tls")
                .contains("- dbwarden-operator.dbwarden.svc\n")
                .contains("cert-manager.io/inject-ca-from: dbwarden/dbwarden-operator");
        String ownIssuer = render("tls.mode", "cert-manager", "tls.certManager.issuerRef.name", "corp-ca",
                "tls.certManager.issuerRef.kind", "ClusterIssuer");
        assertThat(ownIssuer).contains("name: corp-ca").contains("kind: ClusterIssuer").doesNotContain("selfSigned");
    }

    @Test
    void chartCrdsAreTheGeneratedOnes() throws IOException {
        try (Stream<Path> generated = Files.list(Repo.path("crds/kubernetes"))) {
            for (Path crd : generated.toList()) {
                assertThat(CHART.resolve("crds").resolve(crd.getFileName())).as("copy crds/kubernetes/*.yml into "
                        + "helm/dbwarden/crds").hasSameTextualContentAs(crd);
            }
        }
    }

    private static String env(Container c, String name) {
        return c.getEnv().stream().filter(e -> e.getName().equals(name)).map(EnvVar::getValue).findFirst()
                .orElseThrow(() -> new AssertionError("no env " + name));
    }
}
