package io.dbwarden.operator.tls;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

class WebhookCertificatesTest {
    static KubernetesMockServer server;
    static KubernetesClient client;

    @BeforeAll
    static void startApiServer() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        client = server.createClient();
    }

    @AfterAll
    static void stopApiServer() {
        client.close();
        try {
            server.destroy();
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // fabric8's mock web server can race its own Vert.x shutdown; nothing of the test depends on it
        }
    }

    @TempDir
    Path dir;

    private WebhookCertificates certs;
    private final Instant t0 = Instant.parse("2026-11-25T12:00:00Z");

    @BeforeEach
    void setUp() {
        certs = new WebhookCertificates(client, settings(WebhookCertificates.Mode.SELF_SIGNED));
        client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").delete();
        client.configMaps().inAnyNamespace().delete();
        client.admissionRegistration().v1().mutatingWebhookConfigurations().delete();
    }

    private WebhookCertificates.Settings settings(WebhookCertificates.Mode mode) {
        Map<String, String> cfg = Map.of("dbwarden.tls.mode", mode == WebhookCertificates.Mode.SELF_SIGNED
                ? "self-signed" : "external", "dbwarden.tls.dir", dir.toString());
        return WebhookCertificates.Settings.from(k -> Optional.ofNullable(cfg.get(k)));
    }

    @Test
    void issuesAVerifiableCertificateForTheServiceOnce() throws Exception {
        WebhookCertificates.State s = certs.ensure(t0).orElseThrow();
        assertThat(s.filesChanged()).isTrue();

        Secret secret = client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").get();
        assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");
        assertThat(secret.getData()).containsOnlyKeys("ca.crt", "ca.key", "tls.crt", "tls.key");
        assertThat(Files.readString(dir.resolve("tls.crt"))).isEqualTo(decode(secret, "tls.crt"));
        assertThat(Files.readString(dir.resolve("tls.key"))).isEqualTo(decode(secret, "tls.key"));
        assertThat(Files.readString(dir.resolve("ca.crt"))).isEqualTo(s.caBundle());
        assertThat(Files.getPosixFilePermissions(dir.resolve("tls.key")).toString()).isEqualTo("[OWNER_READ, OWNER_WRITE]");

        X509Certificate leaf = CertificateAuthority.parseCertificates(decode(secret, "tls.crt")).getFirst();
        assertThat(CertificateAuthority.dnsNames(leaf)).contains("dbwarden-operator.dbwarden.svc",
                "dbwarden-operator.dbwarden.svc.cluster.local");
        assertThat(leaf.getNotAfter().toInstant()).isEqualTo(t0.plus(Duration.ofDays(90)));
        assertThat(leaf.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        validates(leaf, s.caBundle(), t0.plus(Duration.ofDays(1)));
        // the private key belongs to the certificate
        var sig = java.security.Signature.getInstance("SHA256withECDSA");
        sig.initSign(CertificateAuthority.parsePrivateKey(decode(secret, "tls.key")));
        sig.update(new byte[] {1, 2, 3});
        byte[] signature = sig.sign();
        sig.initVerify(leaf.getPublicKey());
        sig.update(new byte[] {1, 2, 3});
        assertThat(sig.verify(signature)).isTrue();

        String rv = secret.getMetadata().getResourceVersion();
        WebhookCertificates.State again = certs.ensure(t0.plus(Duration.ofDays(10))).orElseThrow();
        assertThat(again.serial()).isEqualTo(s.serial());
        assertThat(again.filesChanged()).isFalse();
        assertThat(client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").get().getMetadata()
                .getResourceVersion()).isEqualTo(rv);
    }

    @Test
    void renewsTheLeafBeforeExpiryUnderTheSameAuthority() throws Exception {
        WebhookCertificates.State first = certs.ensure(t0).orElseThrow();
        Instant later = t0.plus(Duration.ofDays(61));
        WebhookCertificates.State renewed = certs.ensure(later).orElseThrow();
        assertThat(renewed.serial()).isNotEqualTo(first.serial());
        assertThat(renewed.filesChanged()).isTrue();
        assertThat(renewed.caBundle()).isEqualTo(first.caBundle());
        assertThat(renewed.notAfter()).isEqualTo(later.plus(Duration.ofDays(90)));
        X509Certificate leaf = CertificateAuthority.parseCertificates(Files.readString(dir.resolve("tls.crt"))).getFirst();
        validates(leaf, first.caBundle(), later.plus(Duration.ofDays(1)));
    }

    @Test
    void rotatesTheAuthorityKeepingTheOldOneTrustedUntilItExpires() throws Exception {
        WebhookCertificates.State first = certs.ensure(t0).orElseThrow();
        X509Certificate oldCa = CertificateAuthority.parseCertificates(first.caBundle()).getFirst();
        Instant nearCaEnd = t0.plus(Duration.ofDays(3650 - 300));
        WebhookCertificates.State rotated = certs.ensure(nearCaEnd).orElseThrow();
        List<X509Certificate> bundle = CertificateAuthority.parseCertificates(rotated.caBundle());
        assertThat(bundle).hasSize(2);
        assertThat(bundle.get(1)).isEqualTo(oldCa);
        X509Certificate leaf = CertificateAuthority.parseCertificates(Files.readString(dir.resolve("tls.crt"))).getFirst();
        assertThat(CertificateAuthority.signedBy(leaf, bundle.getFirst())).isTrue();
        validates(leaf, rotated.caBundle(), nearCaEnd.plus(Duration.ofDays(1)));
        // once the old CA has expired it leaves the bundle
        WebhookCertificates.State after = certs.ensure(t0.plus(Duration.ofDays(3651))).orElseThrow();
        assertThat(CertificateAuthority.parseCertificates(after.caBundle())).containsExactly(bundle.getFirst());
    }

    @Test
    void replacesAnUnreadableSecret() {
        client.secrets().inNamespace("dbwarden").resource(new SecretBuilder().withNewMetadata()
                .withName("dbwarden-operator-tls").endMetadata().withType("kubernetes.io/tls")
                .addToStringData("tls.crt", "garbage").addToStringData("tls.key", "garbage").build()).create();
        WebhookCertificates.State s = certs.ensure(t0).orElseThrow();
        X509Certificate leaf = CertificateAuthority.parseCertificates(
                decode(client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").get(), "tls.crt"))
                .getFirst();
        assertThat(leaf.getSerialNumber().toString(16)).isEqualTo(s.serial());
    }

    @Test
    void patchesOnlyOurWebhooksCaBundleAndOnlyWhenItChanged() {
        client.admissionRegistration().v1().mutatingWebhookConfigurations().resource(
                new MutatingWebhookConfigurationBuilder().withNewMetadata().withName("dbwarden-operator").endMetadata()
                        .addNewWebhook().withName("pods.dbwarden.io").withNewClientConfig().withNewService()
                        .withName("dbwarden-operator").withNamespace("dbwarden").withPath("/mutate/pods").endService()
                        .endClientConfig().withAdmissionReviewVersions("v1").withSideEffects("NoneOnDryRun").endWebhook()
                        .addNewWebhook().withName("other.example.com").withNewClientConfig().withNewService()
                        .withName("other").withNamespace("elsewhere").endService().withCaBundle("b3RoZXI=")
                        .endClientConfig().withAdmissionReviewVersions("v1").withSideEffects("None").endWebhook()
                        .build()).create();
        String bundle = certs.ensure(t0).orElseThrow().caBundle();
        certs.patchWebhooks(bundle);
        MutatingWebhookConfiguration cfg = client.admissionRegistration().v1().mutatingWebhookConfigurations()
                .withName("dbwarden-operator").get();
        assertThat(new String(Base64.getDecoder().decode(cfg.getWebhooks().get(0).getClientConfig().getCaBundle()),
                StandardCharsets.US_ASCII)).isEqualTo(bundle);
        assertThat(cfg.getWebhooks().get(1).getClientConfig().getCaBundle()).isEqualTo("b3RoZXI=");
        String rv = cfg.getMetadata().getResourceVersion();
        certs.patchWebhooks(bundle);
        assertThat(client.admissionRegistration().v1().mutatingWebhookConfigurations().withName("dbwarden-operator")
                .get().getMetadata().getResourceVersion()).isEqualTo(rv);
        // a missing configuration is not an error (the chart may not be installed yet)
        new WebhookCertificates(client, WebhookCertificates.Settings.from(k -> k.equals("dbwarden.tls.mutating-webhooks")
                ? Optional.of("absent") : Optional.empty())).patchWebhooks(bundle);
    }

    @Test
    void publishesAndRefreshesTheSidecarCaButLeavesForeignConfigMapsAlone() {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop").endMetadata().build())
                .create();
        String bundle = certs.ensure(t0).orElseThrow().caBundle();
        certs.publishCa("shop", bundle);
        assertThat(client.configMaps().inNamespace("shop").withName("dbwarden-ca").get().getData())
                .containsEntry("ca.crt", bundle);
        client.configMaps().inNamespace("legacy").resource(new ConfigMapBuilder().withNewMetadata()
                .withName("dbwarden-ca").endMetadata().addToData("ca.crt", "hand-made").build()).create();

        String rotated = certs.ensure(t0.plus(Duration.ofDays(3650 - 100))).orElseThrow().caBundle();
        assertThat(rotated).isNotEqualTo(bundle);
        assertThat(certs.refreshPublished(rotated)).isEqualTo(1);
        assertThat(client.configMaps().inNamespace("shop").withName("dbwarden-ca").get().getData())
                .containsEntry("ca.crt", rotated);
        assertThat(client.configMaps().inNamespace("legacy").withName("dbwarden-ca").get().getData())
                .containsEntry("ca.crt", "hand-made");
        certs.publishCa("legacy", rotated);
        assertThat(client.configMaps().inNamespace("legacy").withName("dbwarden-ca").get().getData())
                .containsEntry("ca.crt", "hand-made");
    }

    @Test
    void externalModeServesTheIssuersSecretWithoutTouchingIt() throws Exception {
        WebhookCertificates external = new WebhookCertificates(client, settings(WebhookCertificates.Mode.EXTERNAL));
        assertThat(external.ensure(t0)).isEmpty();
        CertificateAuthority.KeyMaterial ca = CertificateAuthority.newAuthority("cert-manager-ca", t0, Duration.ofDays(30));
        CertificateAuthority.KeyMaterial leaf = CertificateAuthority.issueServer(ca,
                List.of("dbwarden-operator.dbwarden.svc"), t0, Duration.ofDays(10));
        client.secrets().inNamespace("dbwarden").resource(new SecretBuilder().withNewMetadata()
                .withName("dbwarden-operator-tls").endMetadata().withType("kubernetes.io/tls")
                .addToStringData("tls.crt", leaf.certificatePem()).addToStringData("tls.key", leaf.privateKeyPem())
                .addToStringData("ca.crt", ca.certificatePem()).build()).create();
        String rv = client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").get().getMetadata()
                .getResourceVersion();
        // even a certificate close to expiry is the issuer's business in external mode
        WebhookCertificates.State s = external.ensure(t0.plus(Duration.ofDays(9))).orElseThrow();
        assertThat(s.caBundle()).isEqualTo(ca.certificatePem());
        assertThat(Files.readString(dir.resolve("tls.crt"))).isEqualTo(leaf.certificatePem());
        assertThat(client.secrets().inNamespace("dbwarden").withName("dbwarden-operator-tls").get().getMetadata()
                .getResourceVersion()).isEqualTo(rv);
    }

    @Test
    void rejectsAnUnknownMode() {
        assertThatCode(() -> WebhookCertificates.Settings.from(k -> k.equals("dbwarden.tls.mode")
                ? Optional.of("acme") : Optional.empty())).hasMessageContaining("self-signed or external");
    }

    private static String decode(Secret s, String key) {
        if (s.getData() != null && s.getData().containsKey(key)) {
            return new String(Base64.getDecoder().decode(s.getData().get(key)), StandardCharsets.UTF_8);
        }
        return s.getStringData().get(key);
    }

    private static void validates(X509Certificate leaf, String caBundle, Instant at) throws Exception {
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        int i = 0;
        for (X509Certificate ca : CertificateAuthority.parseCertificates(caBundle)) {
            anchors.setCertificateEntry("ca" + i++, ca);
        }
        PKIXParameters params = new PKIXParameters(anchors);
        params.setRevocationEnabled(false);
        params.setDate(Date.from(at));
        CertPathValidator.getInstance("PKIX").validate(
                CertificateFactory.getInstance("X.509").generateCertPath(List.of(leaf)), params);
    }
}
