package io.dbwarden.operator.tls;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.common.annotation.Identifier;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Instance;
import org.eclipse.microprofile.config.Config;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the serving certificate fresh while the operator runs: checks the certificate Secret periodically, renews it
 * when due (self-signed mode), puts it in force in the running HTTPS server (through {@link ServingKeyStoreProvider},
 * without rebuilding the server's SSL context, so no connection is refused during the swap), and keeps the webhook
 * caBundles and the published sidecar CA ConfigMaps in step. {@link OperatorMain} does the first issue before the
 * server starts. With {@code dbwarden.tls.managed=false} (tests, or TLS files provided by other means) it only
 * reads the CA bundle from {@code dbwarden.tls.dir}/ca.crt for publishing.
 */
@ApplicationScoped
public class OperatorCertificates {
    /** The name of the TLS configuration the HTTPS server uses (quarkus.http.tls-configuration-name). */
    public static final String TLS_CONFIGURATION = "operator";
    private static final Logger LOG = Logger.getLogger(OperatorCertificates.class);

    private final KubernetesClient client;
    private final Config config;
    private final boolean managed;
    private final Duration checkInterval;
    private final Instance<ServingKeyStoreProvider> serving;
    private volatile WebhookCertificates certificates;
    private volatile String caBundle;
    private ScheduledExecutorService timer;

    public OperatorCertificates(KubernetesClient client, Config config,
                                @Identifier(TLS_CONFIGURATION) Instance<ServingKeyStoreProvider> serving,
                                @ConfigProperty(name = "dbwarden.tls.managed", defaultValue = "true") boolean managed,
                                @ConfigProperty(name = "dbwarden.tls.check-interval", defaultValue = "PT10M")
                                Duration checkInterval) {
        this.client = client;
        this.config = config;
        this.serving = serving;
        this.managed = managed;
        this.checkInterval = checkInterval;
    }

    void start(@Observes StartupEvent event) {
        certificates = new WebhookCertificates(client, WebhookCertificates.Settings.from(
                k -> config.getOptionalValue(k, String.class)));
        if (!managed) {
            return;
        }
        sync();
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dbwarden-certificates");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::syncQuietly, checkInterval.toMillis(), checkInterval.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    void stop(@Observes ShutdownEvent event) {
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    private void syncQuietly() {
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.errorf("certificate check failed (retrying in %s): %s", checkInterval, e.toString());
        }
    }

    /** One check: renew if due, reload the server when the files changed, refresh caBundles and ConfigMaps. */
    public synchronized void sync() {
        Optional<WebhookCertificates.State> state = certificates.ensure(Instant.now());
        if (state.isEmpty()) {
            LOG.warnf("certificate Secret %s/%s not issued yet (external mode)", certificates.settings().namespace(),
                    certificates.settings().secretName());
            return;
        }
        WebhookCertificates.State s = state.get();
        caBundle = s.caBundle();
        if (serving.isResolvable()) {
            // every check, not only when this one wrote the files: a pair that could not be used is retried
            ServingKeyStoreProvider server = serving.get();
            try {
                if (server.reload()) {
                    LOG.infof("serving certificate %s now in use (valid until %s)", s.serial(), s.notAfter());
                }
            } catch (IllegalArgumentException e) {
                X509Certificate inForce = server.keyManager().certificate();
                LOG.errorf("the serving certificate in %s cannot be used (%s); still serving %s",
                        certificates.settings().dir(), e.getMessage(),
                        inForce == null ? "none" : inForce.getSerialNumber().toString(16));
            }
        }
        if (certificates.settings().mode() == WebhookCertificates.Mode.SELF_SIGNED) {
            certificates.patchWebhooks(s.caBundle());
        }
        int n = certificates.refreshPublished(s.caBundle());
        if (n > 0) {
            LOG.infof("refreshed the CA bundle in %d namespace(s)", n);
        }
    }

    /** The CA bundle sidecars must trust, if known. */
    public Optional<String> caBundle() {
        if (caBundle != null) {
            return Optional.of(caBundle);
        }
        Path file = certificates.settings().dir().resolve(WebhookCertificates.CA_KEY);
        try {
            return Files.isRegularFile(file) ? Optional.of(Files.readString(file)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Makes sure pods in {@code namespace} can mount the CA bundle ConfigMap (called on injection). */
    public void publishCa(String namespace) {
        caBundle().ifPresentOrElse(ca -> certificates.publishCa(namespace, ca),
                () -> LOG.warnf("no CA bundle known yet; %s/%s not published", namespace,
                        certificates.settings().caConfigMap()));
    }
}
