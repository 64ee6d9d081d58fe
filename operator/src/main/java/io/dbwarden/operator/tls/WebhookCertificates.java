package io.dbwarden.operator.tls;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.WebhookClientConfig;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Resource;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * The operator's serving certificate, kept in a TLS Secret in its namespace so every replica serves the same one.
 * In {@link Mode#SELF_SIGNED} mode the operator is its own CA: it issues the certificate when the Secret is missing,
 * renews it before expiry (a new CA is added next to the old one, which stays trusted until it expires), writes it
 * to the files the HTTPS server reads, patches the caBundle of its webhook configurations and publishes the CA
 * bundle as the {@code dbwarden-ca} ConfigMap that injected sidecars trust. In {@link Mode#EXTERNAL} mode another
 * issuer (cert-manager) owns the Secret and the webhook caBundle; the operator only serves and publishes it.
 * Concurrent replicas are safe: every write is an optimistic create/update that re-reads on conflict.
 */
public final class WebhookCertificates {
    public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    public static final String MANAGED_BY = "dbwarden-operator";
    public static final String CA_KEY = "ca.crt";
    private static final String CA_PRIVATE_KEY = "ca.key";
    private static final Logger LOG = Logger.getLogger(WebhookCertificates.class);

    public enum Mode { SELF_SIGNED, EXTERNAL }

    /** What the operator needs to know; {@link #from} reads it from configuration keys {@code dbwarden.tls.*}. */
    public record Settings(Mode mode, String namespace, String secretName, String serviceName,
                           List<String> mutatingWebhooks, List<String> validatingWebhooks, String caConfigMap,
                           Path dir, Duration leafValidity, Duration leafRenewBefore, Duration caValidity,
                           Duration caRenewBefore, List<String> extraDnsNames) {
        /** The service's DNS names, then any extra names (e.g. for access from outside the cluster). */
        public List<String> dnsNames() {
            List<String> names = new ArrayList<>(List.of(serviceName + "." + namespace + ".svc",
                    serviceName + "." + namespace + ".svc.cluster.local", serviceName + "." + namespace, serviceName));
            names.addAll(extraDnsNames);
            return names;
        }

        /** Settings from a key lookup (MicroProfile Config inside Quarkus, system properties/env before it). */
        public static Settings from(Function<String, Optional<String>> config) {
            Function<String, String> get = k -> config.apply(k).filter(v -> !v.isBlank()).orElse(null);
            String mode = Objects.requireNonNullElse(get.apply("dbwarden.tls.mode"), "self-signed");
            return new Settings(
                    switch (mode) {
                        case "self-signed" -> Mode.SELF_SIGNED;
                        case "external", "cert-manager" -> Mode.EXTERNAL;
                        default -> throw new IllegalArgumentException(
                                "dbwarden.tls.mode must be self-signed or external, not " + mode);
                    },
                    Objects.requireNonNullElse(get.apply("dbwarden.operator.namespace"), "dbwarden"),
                    Objects.requireNonNullElse(get.apply("dbwarden.tls.secret"), "dbwarden-operator-tls"),
                    Objects.requireNonNullElse(get.apply("dbwarden.tls.service"), "dbwarden-operator"),
                    list(get.apply("dbwarden.tls.mutating-webhooks"), "dbwarden-operator"),
                    list(get.apply("dbwarden.tls.validating-webhooks"), ""),
                    Objects.requireNonNullElse(get.apply("dbwarden.injection.ca-config-map"), "dbwarden-ca"),
                    Path.of(Objects.requireNonNullElse(get.apply("dbwarden.tls.dir"), "/var/run/dbwarden/tls")),
                    duration(get.apply("dbwarden.tls.leaf-validity"), Duration.ofDays(90)),
                    duration(get.apply("dbwarden.tls.leaf-renew-before"), Duration.ofDays(30)),
                    duration(get.apply("dbwarden.tls.ca-validity"), Duration.ofDays(3650)),
                    duration(get.apply("dbwarden.tls.ca-renew-before"), Duration.ofDays(365)),
                    list(get.apply("dbwarden.tls.extra-dns-names"), ""));
        }

        private static List<String> list(String v, String dflt) {
            String s = v == null ? dflt : v;
            return s.isBlank() ? List.of() : List.of(s.trim().split("\\s*,\\s*"));
        }

        private static Duration duration(String v, Duration dflt) {
            return v == null ? dflt : Duration.parse(v.startsWith("P") ? v : "PT" + v);
        }
    }

    /** The certificate now in force: its CA bundle, expiry, and whether this call changed the files. */
    public record State(String caBundle, Instant notAfter, String serial, boolean filesChanged) {
    }

    private final KubernetesClient client;
    private final Settings settings;

    public WebhookCertificates(KubernetesClient client, Settings settings) {
        this.client = client;
        this.settings = settings;
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Makes sure a valid serving certificate exists (issuing or renewing it in self-signed mode) and is on disk.
     * Returns empty in external mode while the issuer has not produced the Secret yet.
     */
    public Optional<State> ensure(Instant now) {
        for (int attempt = 0; attempt < 5; attempt++) {
            Secret current = client.secrets().inNamespace(settings.namespace()).withName(settings.secretName()).get();
            Map<String, String> data = decode(current);
            if (settings.mode() == Mode.EXTERNAL) {
                if (!data.containsKey("tls.crt") || !data.containsKey("tls.key")) {
                    return Optional.empty();
                }
                return Optional.of(writeFiles(data));
            }
            Map<String, String> wanted = renew(data, now);
            if (wanted.equals(data)) {
                return Optional.of(writeFiles(data));
            }
            Secret next = new SecretBuilder().withNewMetadata().withName(settings.secretName())
                    .withNamespace(settings.namespace()).addToLabels(MANAGED_BY_LABEL, MANAGED_BY)
                    .withResourceVersion(current == null ? null : current.getMetadata().getResourceVersion())
                    .endMetadata().withType("kubernetes.io/tls").withData(encode(wanted)).build();
            try {
                if (current == null) {
                    client.secrets().inNamespace(settings.namespace()).resource(next).create();
                } else {
                    client.secrets().inNamespace(settings.namespace()).resource(next).update();
                }
                LOG.infof("issued serving certificate %s for %s (valid until %s)", serialOf(wanted),
                        settings.dnsNames().getFirst(), notAfterOf(wanted));
                return Optional.of(writeFiles(wanted));
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409) {
                    throw e;
                }
                LOG.debugf("certificate Secret changed concurrently, re-reading (attempt %d)", attempt + 1);
            }
        }
        throw new IllegalStateException("could not settle the serving certificate Secret "
                + settings.namespace() + "/" + settings.secretName() + " after 5 concurrent updates");
    }

    /** The Secret contents that should be in force at {@code now}: {@code data} itself when nothing is due. */
    Map<String, String> renew(Map<String, String> data, Instant now) {
        List<X509Certificate> bundle = new ArrayList<>();
        CertificateAuthority.KeyMaterial ca = null;
        try {
            if (data.containsKey(CA_KEY) && data.containsKey(CA_PRIVATE_KEY)) {
                bundle.addAll(CertificateAuthority.parseCertificates(data.get(CA_KEY)));
                ca = new CertificateAuthority.KeyMaterial(CertificateAuthority.pem(bundle.getFirst()),
                        data.get(CA_PRIVATE_KEY));
                ca.privateKey();
            }
        } catch (IllegalArgumentException e) {
            LOG.warnf("certificate Secret %s holds an unreadable CA (%s); issuing a new one", settings.secretName(),
                    e.getMessage());
            bundle.clear();
            ca = null;
        }
        boolean newCa = ca == null || !ca.certificate().getNotAfter().toInstant().isAfter(now.plus(settings.caRenewBefore()));
        if (newCa) {
            ca = CertificateAuthority.newAuthority("dbwarden-operator-ca", now, settings.caValidity());
            bundle.addFirst(ca.certificate());
        }
        boolean leafDue = newCa;
        if (!leafDue) {
            try {
                X509Certificate leaf = CertificateAuthority.parseCertificates(data.getOrDefault("tls.crt", "")).getFirst();
                CertificateAuthority.parsePrivateKey(data.getOrDefault("tls.key", ""));
                leafDue = !CertificateAuthority.signedBy(leaf, ca.certificate())
                        || !leaf.getNotAfter().toInstant().isAfter(now.plus(settings.leafRenewBefore()))
                        || !new HashSet<>(CertificateAuthority.dnsNames(leaf)).containsAll(settings.dnsNames());
            } catch (IllegalArgumentException e) {
                leafDue = true;
            }
        }
        // keep every CA that still verifies certificates in use (rotation overlap); drop expired ones
        List<X509Certificate> trusted = bundle.stream().filter(c -> c.getNotAfter().toInstant().isAfter(now)).toList();
        String bundlePem = String.join("", trusted.stream().map(CertificateAuthority::pem).toList());
        if (!leafDue && bundlePem.equals(data.get(CA_KEY))) {
            return data;
        }
        Map<String, String> out = new LinkedHashMap<>();
        out.put(CA_KEY, bundlePem);
        out.put(CA_PRIVATE_KEY, ca.privateKeyPem());
        if (leafDue) {
            CertificateAuthority.KeyMaterial leaf = CertificateAuthority.issueServer(ca, settings.dnsNames(), now,
                    settings.leafValidity());
            out.put("tls.crt", leaf.certificatePem());
            out.put("tls.key", leaf.privateKeyPem());
        } else {
            out.put("tls.crt", data.get("tls.crt"));
            out.put("tls.key", data.get("tls.key"));
        }
        return out;
    }

    /** Sets the caBundle of every webhook of the configured webhook configurations that calls our service. */
    public void patchWebhooks(String caBundle) {
        byte[] encoded = Base64.getEncoder().encode(caBundle.getBytes(StandardCharsets.US_ASCII));
        String value = new String(encoded, StandardCharsets.US_ASCII);
        for (String name : settings.mutatingWebhooks()) {
            patchBundle("MutatingWebhookConfiguration " + name,
                    client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(name),
                    c -> c.getWebhooks().stream().map(w -> w.getClientConfig()).toList(), value);
        }
        for (String name : settings.validatingWebhooks()) {
            patchBundle("ValidatingWebhookConfiguration " + name,
                    client.admissionRegistration().v1().validatingWebhookConfigurations().withName(name),
                    c -> c.getWebhooks().stream().map(w -> w.getClientConfig()).toList(), value);
        }
    }

    /** Sets caBundle on the client configs of one webhook configuration that point at our service, if any differ. */
    private <T extends HasMetadata> void patchBundle(String what, Resource<T> resource,
                                                     Function<T, List<WebhookClientConfig>> configs, String value) {
        T cfg = resource.get();
        if (cfg == null) {
            LOG.warnf("%s not found; its webhooks cannot be called until it exists", what);
            return;
        }
        if (configs.apply(cfg).stream().anyMatch(cc -> ours(cc) && !value.equals(cc.getCaBundle()))) {
            resource.edit(c -> {
                configs.apply(c).stream().filter(this::ours).forEach(cc -> cc.setCaBundle(value));
                return c;
            });
            LOG.infof("caBundle of %s updated", what);
        }
    }

    private boolean ours(WebhookClientConfig cc) {
        return cc != null && cc.getService() != null && settings.serviceName().equals(cc.getService().getName())
                && settings.namespace().equals(cc.getService().getNamespace());
    }

    /** Creates or refreshes the CA ConfigMap that sidecars in {@code namespace} mount. */
    public void publishCa(String namespace, String caBundle) {
        var resource = client.configMaps().inNamespace(namespace).withName(settings.caConfigMap());
        ConfigMap existing = resource.get();
        if (existing != null && caBundle.equals(existing.getData() == null ? null : existing.getData().get(CA_KEY))) {
            return;
        }
        ConfigMap cm = new ConfigMapBuilder().withNewMetadata().withName(settings.caConfigMap()).withNamespace(namespace)
                .addToLabels(MANAGED_BY_LABEL, MANAGED_BY).endMetadata().addToData(CA_KEY, caBundle).build();
        try {
            if (existing == null) {
                client.configMaps().inNamespace(namespace).resource(cm).create();
            } else {
                if (existing.getMetadata().getLabels() == null
                        || !MANAGED_BY.equals(existing.getMetadata().getLabels().get(MANAGED_BY_LABEL))) {
                    LOG.warnf("ConfigMap %s/%s exists but is not managed by dbwarden; leaving it alone", namespace,
                            settings.caConfigMap());
                    return;
                }
                cm.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
                client.configMaps().inNamespace(namespace).resource(cm).update();
            }
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
            // another replica or admission raced us to it; its content is refreshed on the next sync
        }
    }

    /** Refreshes every CA ConfigMap this operator published (after a rotation or at start). */
    public int refreshPublished(String caBundle) {
        int updated = 0;
        for (ConfigMap cm : client.configMaps().inAnyNamespace().withLabel(MANAGED_BY_LABEL, MANAGED_BY).list()
                .getItems()) {
            if (settings.caConfigMap().equals(cm.getMetadata().getName())
                    && !caBundle.equals(cm.getData() == null ? null : cm.getData().get(CA_KEY))) {
                publishCa(cm.getMetadata().getNamespace(), caBundle);
                updated++;
            }
        }
        return updated;
    }

    private State writeFiles(Map<String, String> data) {
        boolean changed = write("tls.crt", data.get("tls.crt"), false) | write("tls.key", data.get("tls.key"), true)
                | write(CA_KEY, data.getOrDefault(CA_KEY, ""), false);
        return new State(data.getOrDefault(CA_KEY, ""), notAfterOf(data), serialOf(data), changed);
    }

    private boolean write(String name, String content, boolean secret) {
        Path target = settings.dir().resolve(name);
        try {
            Files.createDirectories(settings.dir());
            if (Files.exists(target) && Files.readString(target).equals(content)) {
                return false;
            }
            Path tmp = Files.createTempFile(settings.dir(), "." + name, ".tmp");
            if (secret) {
                try {
                    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException ignored) {
                    // not a POSIX file system
                }
            }
            Files.writeString(tmp, content);
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return true;
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    private static Instant notAfterOf(Map<String, String> data) {
        return CertificateAuthority.parseCertificates(data.get("tls.crt")).getFirst().getNotAfter().toInstant();
    }

    private static String serialOf(Map<String, String> data) {
        return CertificateAuthority.parseCertificates(data.get("tls.crt")).getFirst().getSerialNumber().toString(16);
    }

    private static Map<String, String> decode(Secret s) {
        Map<String, String> out = new LinkedHashMap<>();
        if (s != null && s.getData() != null) {
            s.getData().forEach((k, v) -> out.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
        }
        if (s != null && s.getStringData() != null) {
            out.putAll(s.getStringData());
        }
        return out;
    }

    private static Map<String, String> encode(Map<String, String> data) {
        Map<String, String> out = new LinkedHashMap<>();
        data.forEach((k, v) -> out.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
        return out;
    }
}
