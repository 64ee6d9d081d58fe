package io.dbwarden.operator;

import io.dbwarden.operator.tls.WebhookCertificates;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.annotations.QuarkusMain;

import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * Entry point: before Quarkus starts its HTTPS server, make sure the serving certificate exists (issued by the
 * operator's own CA, or by cert-manager in external mode) and is on disk, so the server never starts without one.
 * Settings come from system properties or environment variables ({@code dbwarden.tls.dir} or DBWARDEN_TLS_DIR).
 */
@QuarkusMain
public final class OperatorMain {
    private OperatorMain() {
    }

    public static void main(String... args) throws InterruptedException {
        Function<String, Optional<String>> lookup = k -> Optional.ofNullable(System.getProperty(k))
                .or(() -> Optional.ofNullable(System.getenv(k.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_"))));
        if (!"false".equalsIgnoreCase(lookup.apply("dbwarden.tls.managed").orElse("true"))) {
            WebhookCertificates.Settings settings = WebhookCertificates.Settings.from(lookup);
            try (KubernetesClient client = new KubernetesClientBuilder().build()) {
                WebhookCertificates certificates = new WebhookCertificates(client, settings);
                long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
                while (certificates.ensure(Instant.now()).isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        System.err.println("dbwarden: certificate Secret " + settings.namespace() + "/"
                                + settings.secretName() + " did not appear within 5 minutes (tls mode external)");
                        System.exit(1);
                    }
                    Thread.sleep(2000);
                }
            } catch (RuntimeException e) {
                System.err.println("dbwarden: cannot set up the serving certificate: " + e.getMessage());
                System.exit(1);
            }
        }
        Quarkus.run(args);
    }
}
