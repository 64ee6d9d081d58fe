package io.dbwarden.proxy.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Everything a proxy instance needs to run. Built by the CLI (standalone) or from the pod environment (sidecar).
 *
 * @param listen            where clients connect
 * @param upstream          the database server
 * @param upstreamDatabase  database to connect to upstream; null = the one the client asks for
 * @param upstreamUser      role to log in as upstream; null = the user the client sends
 * @param upstreamPassword  password for that role (never logged); null when the server needs none
 * @param upstreamTls       TLS mode towards the database
 * @param upstreamRootCert  PEM CA bundle for verify-ca / verify-full; null = JDK trust store
 * @param clientTlsCert     PEM certificate chain offered to clients; null = no client TLS
 * @param clientTlsKey      PEM private key (PKCS#8) for that certificate
 * @param clientTlsRequired refuse clients that do not negotiate TLS
 * @param clientAuth        client authentication mode
 * @param clientPassword    password clients must present in PASSWORD mode (never logged)
 * @param allowRemoteTrust  accept TRUST clients from non-loopback addresses
 * @param identity          workload identity stamped on every audit event and matched by policy subjects
 * @param maxMessageLength  largest protocol message accepted from either side, bytes
 * @param connectTimeout    upstream TCP connect timeout
 * @param handshakeTimeout  limit for TLS + startup + authentication, per side
 */
public record ProxyConfig(HostPort listen, HostPort upstream, String upstreamDatabase, String upstreamUser,
                          String upstreamPassword, UpstreamTlsMode upstreamTls, Path upstreamRootCert,
                          Path clientTlsCert, Path clientTlsKey, boolean clientTlsRequired,
                          ClientAuthMode clientAuth, String clientPassword, boolean allowRemoteTrust,
                          String identity, int maxMessageLength, Duration connectTimeout, Duration handshakeTimeout) {

    public static final int DEFAULT_MAX_MESSAGE_LENGTH = 64 * 1024 * 1024;
    /**
     * The identity of the proxy the JIT warm-up relays through between loopback stand-ins: internal to the process
     * (bound to 127.0.0.1 on a free port, gone before the first client), so it is not announced like the real one.
     */
    public static final String WARM_UP_IDENTITY = "dbwarden/warm-up";

    /** Whether this is the warm-up's internal proxy (see {@link #WARM_UP_IDENTITY}). */
    public boolean warmUp() {
        return WARM_UP_IDENTITY.equals(identity);
    }

    public ProxyConfig {
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(upstream, "upstream");
        Objects.requireNonNull(upstreamTls, "upstreamTls");
        Objects.requireNonNull(clientAuth, "clientAuth");
        Objects.requireNonNull(identity, "identity");
        if (clientAuth == ClientAuthMode.PASSWORD && (clientPassword == null || clientPassword.isEmpty())) {
            throw new IllegalArgumentException("client auth 'password' needs a client password");
        }
        if ((clientTlsCert == null) != (clientTlsKey == null)) {
            throw new IllegalArgumentException("client TLS needs both a certificate and a key file");
        }
        if (clientTlsRequired && clientTlsCert == null) {
            throw new IllegalArgumentException("client TLS is required but no certificate is configured");
        }
        if (maxMessageLength < 1024) {
            throw new IllegalArgumentException("max message length must be at least 1024 bytes");
        }
    }

    /** A builder-style start: plain, trust on loopback, standalone identity. */
    public static ProxyConfig simple(HostPort listen, HostPort upstream) {
        return new ProxyConfig(listen, upstream, null, null, null, UpstreamTlsMode.DISABLE, null, null, null,
                false, ClientAuthMode.TRUST, null, false, "standalone/default", DEFAULT_MAX_MESSAGE_LENGTH,
                Duration.ofSeconds(10), Duration.ofSeconds(30));
    }

    public ProxyConfig withUpstream(HostPort address) {
        return new ProxyConfig(listen, address, upstreamDatabase, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword,
                allowRemoteTrust, identity, maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withUpstreamCredentials(String user, String password) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, user, password, upstreamTls, upstreamRootCert,
                clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword, allowRemoteTrust,
                identity, maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withUpstreamDatabase(String database) {
        return new ProxyConfig(listen, upstream, database, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword,
                allowRemoteTrust, identity, maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withUpstreamTls(UpstreamTlsMode mode, Path rootCert) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, upstreamUser, upstreamPassword, mode, rootCert,
                clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword, allowRemoteTrust,
                identity, maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withClientTls(Path cert, Path key, boolean required) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, cert, key, required, clientAuth, clientPassword, allowRemoteTrust, identity,
                maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withClientAuth(ClientAuthMode mode, String password, boolean allowRemote) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, clientTlsCert, clientTlsKey, clientTlsRequired, mode, password, allowRemote,
                identity, maxMessageLength, connectTimeout, handshakeTimeout);
    }

    public ProxyConfig withTimeouts(Duration connect, Duration handshake) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword,
                allowRemoteTrust, identity, maxMessageLength, connect, handshake);
    }

    public ProxyConfig withIdentity(String newIdentity) {
        return new ProxyConfig(listen, upstream, upstreamDatabase, upstreamUser, upstreamPassword, upstreamTls,
                upstreamRootCert, clientTlsCert, clientTlsKey, clientTlsRequired, clientAuth, clientPassword,
                allowRemoteTrust, newIdentity, maxMessageLength, connectTimeout, handshakeTimeout);
    }


    @Override
    public String toString() {
        // never print the passwords
        return "ProxyConfig[listen=" + listen + ", upstream=" + upstream + ", upstreamDatabase=" + upstreamDatabase
                + ", upstreamUser=" + upstreamUser + ", upstreamPassword=" + (upstreamPassword == null ? "none" : "***")
                + ", upstreamTls=" + upstreamTls + ", clientTls=" + (clientTlsCert != null)
                + ", clientTlsRequired=" + clientTlsRequired + ", clientAuth=" + clientAuth
                + ", identity=" + identity + "]";
    }
}
