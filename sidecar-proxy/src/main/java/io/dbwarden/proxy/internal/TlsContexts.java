package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;

import javax.net.ssl.SSLException;

/** Builds the TLS contexts from configuration; fails at start-up, not at first connection. */
final class TlsContexts {
    private TlsContexts() {
    }

    static SslContext forClients(ProxyConfig config) {
        if (config.clientTlsCert() == null) {
            return null;
        }
        try {
            return SslContextBuilder.forServer(config.clientTlsCert().toFile(), config.clientTlsKey().toFile())
                    .protocols("TLSv1.3", "TLSv1.2")
                    .build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot load client TLS certificate/key ("
                    + config.clientTlsCert() + ", " + config.clientTlsKey() + "): " + e.getMessage(), e);
        }
    }

    static SslContext forUpstream(ProxyConfig config) {
        UpstreamTlsMode mode = config.upstreamTls();
        if (mode == UpstreamTlsMode.DISABLE) {
            return null;
        }
        try {
            SslContextBuilder b = SslContextBuilder.forClient().protocols("TLSv1.3", "TLSv1.2");
            if (mode.verifiesChain()) {
                if (config.upstreamRootCert() != null) {
                    b.trustManager(config.upstreamRootCert().toFile());
                }
                b.endpointIdentificationAlgorithm(mode == UpstreamTlsMode.VERIFY_FULL ? "HTTPS" : null);
            } else {
                // prefer / require: encryption without authentication, as libpq does for these modes
                b.trustManager(InsecureTrustManagerFactory.INSTANCE);
                b.endpointIdentificationAlgorithm(null);
            }
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot set up upstream TLS (mode " + mode + ", root cert "
                    + config.upstreamRootCert() + "): " + e.getMessage(), e);
        }
    }
}
