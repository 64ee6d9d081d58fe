package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/**
 * The TLS contexts of one proxy instance: towards clients (certificate and key) and towards the database (the root
 * certificates that verify it). Built at start-up, where a bad file fails the start; afterwards {@link #refresh()}
 * rebuilds a context when its files changed (a rotated Kubernetes Secret or ConfigMap, a renewed certificate), so
 * new connections use the new certificate without a restart and open ones keep theirs. A change that cannot be used
 * (unreadable, half-written, a key that does not belong to the certificate) leaves the context in force and is
 * retried at the next refresh.
 */
final class TlsContexts {
    private static final Logger LOG = LoggerFactory.getLogger(TlsContexts.class);

    private final ProxyConfig config;
    private volatile SslContext client;
    private volatile SslContext upstream;
    private volatile X509Certificate clientCertificate;
    /** The files behind each context; null when the context comes from no file. */
    private final Watched clientFiles;
    private final Watched upstreamFiles;

    TlsContexts(ProxyConfig config) {
        this.config = config;
        clientFiles = config.clientTlsCert() == null ? null
                : new Watched(List.of(config.clientTlsCert(), config.clientTlsKey()), "client TLS certificate/key");
        if (clientFiles != null) {
            buildClient();
        }
        Path roots = config.upstreamTls().verifiesChain() ? config.upstreamRootCert() : null;
        upstreamFiles = roots == null ? null : new Watched(List.of(roots), "upstream root certificates " + roots);
        upstream = forUpstream(config);
    }

    /** Files a context was built from: the digest of the version in force, and of the last one that was refused. */
    private static final class Watched {
        private final List<Path> files;
        private final String what;
        private byte[] inForce;
        private byte[] refused;

        Watched(List<Path> files, String what) {
            this.files = files;
            this.what = what;
            this.inForce = digest(files);
        }

        /** Runs {@code rebuild} when the files changed to a version not refused before; true if it succeeded. */
        boolean refresh(Runnable rebuild) {
            byte[] now = digest(files);
            if (now == null || Arrays.equals(now, inForce) || Arrays.equals(now, refused)) {
                return false;
            }
            try {
                rebuild.run();
                inForce = now;
                return true;
            } catch (IllegalArgumentException e) {
                refused = now;
                LOG.error("changed {} not used, what was in force stays: {}", what, e.getMessage());
                return false;
            }
        }
    }

    /** Offered to clients that ask for TLS; null when client TLS is not configured. */
    SslContext client() {
        return client;
    }

    /** Towards the database; null with {@code --upstream-tls disable}. */
    SslContext upstream() {
        return upstream;
    }

    /** The certificate clients are offered now, or null. */
    X509Certificate clientCertificate() {
        return clientCertificate;
    }

    /** Whether any context comes from files that can change. */
    boolean watchesFiles() {
        return clientFiles != null || upstreamFiles != null;
    }

    /**
     * Rebuilds the contexts whose files changed since they were built.
     *
     * @return whether a context was replaced
     */
    synchronized boolean refresh() {
        boolean replaced = false;
        if (clientFiles != null) {
            replaced = clientFiles.refresh(() -> {
                X509Certificate before = clientCertificate;
                buildClient();
                LOG.info("client TLS certificate replaced: serial={} notAfter={} (was serial={})",
                        clientCertificate.getSerialNumber().toString(16),
                        clientCertificate.getNotAfter().toInstant(), before.getSerialNumber().toString(16));
            });
        }
        if (upstreamFiles != null && upstreamFiles.refresh(() -> upstream = forUpstream(config))) {
            LOG.info("upstream root certificates reloaded from {}", config.upstreamRootCert());
            replaced = true;
        }
        return replaced;
    }

    private void buildClient() {
        Path certFile = config.clientTlsCert();
        Path keyFile = config.clientTlsKey();
        try {
            List<X509Certificate> chain = PemFiles.certificates(certFile);
            PrivateKey key = PemFiles.privateKey(keyFile);
            PemFiles.requireMatching(chain.getFirst(), key);
            if (chain.getFirst().getNotAfter().toInstant().isBefore(Instant.now())) {
                LOG.warn("client TLS certificate {} expired at {}", certFile,
                        chain.getFirst().getNotAfter().toInstant());
            }
            client = SslContextBuilder.forServer(key, chain.toArray(X509Certificate[]::new))
                    .protocols("TLSv1.3", "TLSv1.2")
                    .build();
            clientCertificate = chain.getFirst();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot load client TLS certificate/key (" + certFile + ", " + keyFile
                    + "): " + e.getMessage(), e);
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

    /** SHA-256 over the files' contents; null while one cannot be read (mid-rotation: try again later). */
    private static byte[] digest(List<Path> files) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Path f : files) {
                byte[] content = Files.readAllBytes(f);
                md.update(Integer.toString(content.length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                md.update((byte) 0);
                md.update(content);
            }
            return md.digest();
        } catch (IOException e) {
            return null;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
