package io.dbwarden.proxy.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;

/**
 * Sidecar mode: policies come from the operator's sidecar API, authenticated with the pod's projected
 * service-account token (re-read for every request: the kubelet rotates it). A long poll with the bundle's ETag
 * brings changes within seconds. Every bundle that validates is applied and written to a cache file (on an
 * emptyDir), so a restart during an operator outage still enforces the last policy; with neither a cached nor a
 * fetched bundle every statement is denied (no policy applies).
 */
final class OperatorPolicySource implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OperatorPolicySource.class);
    /** A long poll answered unchanged sooner than this waits out the rest before the next one. */
    static final long MIN_POLL_MILLIS = 1000;

    private final URI bundleUri;
    private final Path tokenFile;
    private final Path cacheFile;
    private final PolicyReloader applier;
    private final Path caFile;
    private HttpClient http;
    private String trustedCa;
    private final Thread poller;
    private volatile String etag;
    private volatile boolean loaded;
    private volatile boolean closed;

    OperatorPolicySource(URI operator, Path tokenFile, Path caFile, Path cacheFile, PolicyReloader applier) {
        this.bundleUri = operator.resolve("/sidecar/v1/bundle");
        this.tokenFile = tokenFile;
        this.cacheFile = cacheFile;
        this.applier = applier;
        this.caFile = caFile;
        this.http = client();
        this.poller = Thread.ofPlatform().name("dbwarden-policy-source").daemon(true).unstarted(this::run);
    }

    /** Applies the cached bundle, if any, then starts polling the operator. */
    void start() {
        if (cacheFile != null && Files.isRegularFile(cacheFile)) {
            try {
                String cached = Files.readString(cacheFile);
                if (applier.apply(cached, "cache " + cacheFile)) {
                    loaded = true;
                    LOG.info("enforcing the cached policy bundle until the operator answers: file={}", cacheFile);
                }
            } catch (IOException e) {
                LOG.warn("cannot read the cached policy bundle: file={} error={}", cacheFile, e.toString());
            }
        }
        if (!loaded) {
            LOG.warn("no policy bundle yet: every statement is denied until the operator delivers one");
        }
        poller.start();
    }

    /** Ready once some bundle (cached or fetched) is enforced. */
    boolean loaded() {
        return loaded;
    }

    private void run() {
        long backoffMillis = 500;
        while (!closed) {
            try {
                poll();
                backoffMillis = 500;
            } catch (IOException | RuntimeException e) {
                LOG.warn("policy bundle fetch failed, enforcing the last good policy: operator={} error={}",
                        bundleUri, e.toString());
                sleep(backoffMillis);
                backoffMillis = Math.min(backoffMillis * 2, 30_000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void poll() throws IOException, InterruptedException {
        String token = Files.readString(tokenFile).trim();
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(bundleUri + (etag == null ? "" : "?wait=50")))
                .timeout(Duration.ofSeconds(65)).header("Authorization", "Bearer " + token).GET();
        if (etag != null) {
            req.header("If-None-Match", etag);
        }
        long sent = System.nanoTime();
        HttpResponse<String> resp = client().send(req.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        switch (resp.statusCode()) {
            case 200 -> {
                String body = resp.body();
                String newTag = resp.headers().firstValue("ETag").orElse(null);
                if (applier.apply(body, "operator " + bundleUri)) {
                    loaded = true;
                    etag = newTag;
                    writeCache(body);
                } else {
                    etag = newTag; // do not fetch the same invalid bundle in a loop
                }
            }
            case 304 -> {
                // unchanged; an early 304 (an operator replica shutting down answers at once) must not become a
                // busy loop against the next one
                long early = MIN_POLL_MILLIS - Duration.ofNanos(System.nanoTime() - sent).toMillis();
                if (early > 0) {
                    Thread.sleep(early);
                }
            }
            default -> throw new IOException("operator answered " + resp.statusCode() + ": "
                    + resp.body().lines().findFirst().orElse(""));
        }
    }

    /**
     * The HTTP client, rebuilt when the operator's CA bundle file changes (the operator rotates its certificate
     * and the kubelet refreshes the mounted ConfigMap); an unreadable new bundle keeps the previous trust.
     */
    synchronized HttpClient client() {
        if (caFile == null) {
            return http != null ? http : HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        }
        String ca;
        try {
            ca = Files.readString(caFile);
        } catch (IOException e) {
            if (http == null) {
                throw new IllegalArgumentException("cannot read operator CA file " + caFile + ": " + e.getMessage(), e);
            }
            return http;
        }
        if (http != null && ca.equals(trustedCa)) {
            return http;
        }
        try {
            HttpClient next = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).sslContext(trusting(caFile))
                    .build();
            if (http != null) {
                LOG.info("operator CA bundle changed, now trusting the new one: file={}", caFile);
            }
            http = next;
            trustedCa = ca;
        } catch (IllegalArgumentException e) {
            if (http == null) {
                throw e;
            }
            LOG.warn("operator CA bundle changed but cannot be loaded, keeping the previous one: error={}",
                    e.getMessage());
        }
        return http;
    }

    private void writeCache(String body) {
        if (cacheFile == null) {
            return;
        }
        try {
            Path tmp = cacheFile.resolveSibling(cacheFile.getFileName() + ".tmp");
            Files.writeString(tmp, body);
            Files.move(tmp, cacheFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            LOG.warn("cannot cache the policy bundle: file={} error={}", cacheFile, e.toString());
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static SSLContext trusting(Path caFile) {
        try (InputStream in = Files.newInputStream(caFile)) {
            KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                ks.setCertificateEntry("ca-" + i++, c);
            }
            if (i == 0) {
                throw new IllegalArgumentException("no certificate in the file");
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (Exception e) {
            throw new IllegalArgumentException("cannot load operator CA file " + caFile + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        closed = true;
        poller.interrupt();
    }
}
