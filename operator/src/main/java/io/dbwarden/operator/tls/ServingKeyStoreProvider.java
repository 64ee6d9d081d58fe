package io.dbwarden.operator.tls;

import io.quarkus.arc.profile.IfBuildProfile;
import io.quarkus.tls.runtime.KeyStoreAndKeyCertOptions;
import io.quarkus.tls.runtime.KeyStoreProvider;
import io.smallrye.common.annotation.Identifier;
import io.vertx.core.Vertx;
import io.vertx.core.net.KeyCertOptions;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;

import java.nio.file.Path;

/**
 * The TLS configuration {@value OperatorCertificates#TLS_CONFIGURATION} of the HTTPS server (webhooks, sidecar policy
 * API): the serving certificate from {@code dbwarden.tls.dir}, behind a {@link ServingKeyManager} that
 * {@link OperatorCertificates} updates in place on renewal. Production build only; tests run without HTTPS.
 */
@Singleton
@IfBuildProfile("prod")
@Identifier(OperatorCertificates.TLS_CONFIGURATION)
public class ServingKeyStoreProvider implements KeyStoreProvider {
    private final ServingKeyManager keys = new ServingKeyManager();
    private final Path dir;

    public ServingKeyStoreProvider(@ConfigProperty(name = "dbwarden.tls.dir") Path dir) {
        this.dir = dir;
    }

    /** Called by the TLS registry when the server starts: the files must be there (OperatorMain puts them there). */
    @Override
    public KeyStoreAndKeyCertOptions getKeyStore(Vertx vertx) {
        keys.load(dir);
        return new KeyStoreAndKeyCertOptions(keys.keyStore(), KeyCertOptions.wrap(keys));
    }

    /** Puts the certificate now in {@code dbwarden.tls.dir} in force; true if it differs from the one in force. */
    public boolean reload() {
        return keys.load(dir);
    }

    public ServingKeyManager keyManager() {
        return keys;
    }
}
