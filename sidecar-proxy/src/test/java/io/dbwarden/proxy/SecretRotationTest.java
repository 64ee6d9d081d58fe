package io.dbwarden.proxy;

import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestCertificates;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Certificates and credentials rotated on disk (a renewed Kubernetes Secret, a database CA bundle with a new CA, a
 * changed database password) take effect in a running proxy for new connections, without a restart and without
 * disturbing open ones; a rotation that cannot be used leaves what is in force.
 */
@ExtendWith(LeakDetection.class)
class SecretRotationTest {
    private static final String RELOAD_PROPERTY = "dbwarden.files.reload-seconds";

    @BeforeAll
    static void checkEverySecond() {
        System.setProperty(RELOAD_PROPERTY, "1");
    }

    @AfterAll
    static void restore() {
        System.clearProperty(RELOAD_PROPERTY);
    }

    @Test
    void aRenewedClientCertificateIsServedToNewConnections(@TempDir Path dir) throws Exception {
        TestCertificates.Authority ca = TestCertificates.Authority.create("rotation CA");
        Path caFile = Files.writeString(dir.resolve("ca.crt"), ca.certificatePem());
        Path cert = dir.resolve("tls.crt");
        Path key = dir.resolve("tls.key");
        TestCertificates.Issued first = ca.issue("localhost");
        install(dir, first.certificatePem(), first.privateKeyPem());

        try (RunningProxy proxy = RunningProxy.start(c -> c.withClientTls(cert, key, true), java.util.List.of(),
                java.util.List.of())) {
            assertThat(servedSerial(proxy.port(), ca)).isEqualTo(first.serial());
            Connection open = DriverManager.getConnection(tlsUrl(proxy, caFile), props());
            assertThat(expiryGauge(proxy)).isEqualTo(notAfter(first.certificatePem()));

            TestCertificates.Issued second = ca.issue("localhost");
            install(dir, second.certificatePem(), second.privateKeyPem());
            await().atMost(Duration.ofSeconds(15)).until(() -> servedSerial(proxy.port(), ca).equals(second.serial()));
            assertThat(expiryGauge(proxy)).isEqualTo(notAfter(second.certificatePem()));
            try (ResultSet rs = open.createStatement().executeQuery("SELECT 41 + 1")) {
                rs.next();
                assertThat(rs.getInt(1)).as("a connection from before the rotation keeps working").isEqualTo(42);
            }
            open.close();

            // a certificate with the key of another one (e.g. the files replaced one by one): not used
            TestCertificates.Issued third = ca.issue("localhost");
            install(dir, third.certificatePem(), second.privateKeyPem());
            Thread.sleep(2500);
            assertThat(servedSerial(proxy.port(), ca)).isEqualTo(second.serial());
            try (Connection c = DriverManager.getConnection(tlsUrl(proxy, caFile), props());
                 ResultSet rs = c.createStatement().executeQuery("SELECT 1")) {
                assertThat(rs.next()).as("clients still connect with the certificate in force").isTrue();
            }
            // ... until the matching key arrives
            Files.writeString(key, third.privateKeyPem());
            await().atMost(Duration.ofSeconds(15)).until(() -> servedSerial(proxy.port(), ca).equals(third.serial()));
        }
    }

    @Test
    void aNewDatabaseCaBundleIsTrustedWithoutARestart(@TempDir Path dir) throws Exception {
        TestCertificates certs = EmbeddedPg.get().certs();
        Path roots = dir.resolve("db-ca.crt");
        Files.copy(certs.otherCaCert(), roots);
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstream(new HostPort("localhost",
                c.upstream().port())).withUpstreamTls(UpstreamTlsMode.VERIFY_FULL, roots), java.util.List.of(),
                java.util.List.of())) {
            assertThatThrownBy(proxy::connect).hasMessageContaining("TLS handshake with the database");

            // the bundle gains the database's CA, as during a CA rotation
            String bundle = Files.readString(certs.otherCaCert()) + Files.readString(certs.caCert());
            Path tmp = dir.resolve(".db-ca.tmp");
            Files.writeString(tmp, bundle);
            Files.move(tmp, roots, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            await().atMost(Duration.ofSeconds(15)).ignoreExceptions().untilAsserted(() -> {
                try (Connection c = proxy.connect();
                     ResultSet rs = c.createStatement().executeQuery(
                             "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
                    rs.next();
                    assertThat(rs.getBoolean(1)).isTrue();
                }
            });

            // an unreadable bundle is not applied: the database stays trusted
            Files.writeString(roots, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
            Thread.sleep(2500);
            try (Connection c = proxy.connect()) {
                assertThat(c.isValid(2)).isTrue();
            }
        }
    }

    @Test
    void aRotatedDatabasePasswordIsUsedForNewConnections(@TempDir Path dir) throws Exception {
        Path passwordFile = Files.writeString(dir.resolve("password"), EmbeddedPg.PASSWORD + "\n");
        try (RunningProxy proxy = RunningProxy.startLive(c -> new LiveConfig(
                c.withUpstreamCredentials(EmbeddedPg.ROTATED_USER, EmbeddedPg.PASSWORD), null, passwordFile, null));
             Connection before = proxy.connect()) {
            assertThat(currentUser(before)).isEqualTo(EmbeddedPg.ROTATED_USER);
            try {
                setPassword("rotated-1");
                assertThatThrownBy(proxy::connect).as("the database no longer takes the old password")
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"));
                writeSecret(passwordFile, "rotated-1\n");
                await().atMost(Duration.ofSeconds(15)).ignoreExceptions().untilAsserted(() -> {
                    try (Connection c = proxy.connect()) {
                        assertThat(currentUser(c)).isEqualTo(EmbeddedPg.ROTATED_USER);
                    }
                });
                assertThat(currentUser(before)).as("a session from before the rotation keeps working")
                        .isEqualTo(EmbeddedPg.ROTATED_USER);

                // an emptied file (a Secret being recreated) is not taken for a password
                Files.writeString(passwordFile, "");
                Thread.sleep(2500);
                try (Connection c = proxy.connect()) {
                    assertThat(currentUser(c)).isEqualTo(EmbeddedPg.ROTATED_USER);
                }
            } finally {
                setPassword(EmbeddedPg.PASSWORD);
            }
        }
    }

    @Test
    void aRefusedPasswordMakesTheProxyLookAtTheFileRightAway(@TempDir Path dir) throws Exception {
        Path passwordFile = Files.writeString(dir.resolve("password"), EmbeddedPg.PASSWORD);
        System.setProperty(RELOAD_PROPERTY, "3600"); // the periodic check would not come in time
        try (RunningProxy proxy = RunningProxy.startLive(c -> new LiveConfig(
                c.withUpstreamCredentials(EmbeddedPg.ROTATED_USER, EmbeddedPg.PASSWORD), null, passwordFile, null))) {
            try {
                // the Secret is updated first, the database second, as rotation controllers do
                writeSecret(passwordFile, "rotated-2");
                setPassword("rotated-2");
                assertThatThrownBy(proxy::connect).hasMessageContaining("password authentication failed");
                await().atMost(Duration.ofSeconds(5)).ignoreExceptions().untilAsserted(() -> {
                    try (Connection c = proxy.connect()) {
                        assertThat(currentUser(c)).isEqualTo(EmbeddedPg.ROTATED_USER);
                    }
                });
            } finally {
                setPassword(EmbeddedPg.PASSWORD);
            }
        } finally {
            System.setProperty(RELOAD_PROPERTY, "1");
        }
    }

    private static void setPassword(String password) throws SQLException {
        try (Connection admin = EmbeddedPg.get().direct("postgres"); var st = admin.createStatement()) {
            st.execute("SET password_encryption = 'scram-sha-256'");
            st.execute("ALTER ROLE " + EmbeddedPg.ROTATED_USER + " PASSWORD '" + password + "'");
        }
    }

    private static String currentUser(Connection c) throws SQLException {
        try (ResultSet rs = c.createStatement().executeQuery("SELECT current_user")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** Atomically, as the kubelet updates a Secret volume. */
    private static void writeSecret(Path file, String content) throws Exception {
        Path tmp = Files.writeString(file.resolveSibling("." + file.getFileName() + ".tmp"), content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Replaces both files at once, the way the kubelet swaps a Secret volume's contents. */
    private static void install(Path dir, String certificatePem, String keyPem) throws Exception {
        Path tmpCert = Files.writeString(dir.resolve(".tls.crt.tmp"), certificatePem);
        Path tmpKey = Files.writeString(dir.resolve(".tls.key.tmp"), keyPem);
        Files.move(tmpKey, dir.resolve("tls.key"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Files.move(tmpCert, dir.resolve("tls.crt"), StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
    }

    /** The serial of the certificate the proxy offers: SSLRequest, then a verified TLS handshake. */
    private static BigInteger servedSerial(int port, TestCertificates.Authority ca) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(ca.certificatePem().getBytes(StandardCharsets.US_ASCII))));
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, tmf.getTrustManagers(), null);
        try (Socket plain = new Socket("127.0.0.1", port)) {
            OutputStream out = plain.getOutputStream();
            out.write(new byte[] {0, 0, 0, 8, 0x04, (byte) 0xd2, 0x16, 0x2f});
            out.flush();
            assertThat(new DataInputStream(plain.getInputStream()).readByte()).isEqualTo((byte) 'S');
            try (SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "localhost", port, false)) {
                SSLParameters p = tls.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                tls.setSSLParameters(p);
                tls.startHandshake();
                return ((X509Certificate) tls.getSession().getPeerCertificates()[0]).getSerialNumber();
            }
        }
    }

    private static long expiryGauge(RunningProxy proxy) {
        return proxy.metrics.render().lines()
                .filter(l -> l.startsWith("dbwarden_client_tls_certificate_expiry_seconds "))
                .map(l -> Long.parseLong(l.substring(l.indexOf(' ') + 1))).findFirst().orElseThrow();
    }

    private static long notAfter(String pem) throws Exception {
        X509Certificate c = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
                new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
        return c.getNotAfter().getTime() / 1000;
    }

    private static String tlsUrl(RunningProxy proxy, Path caFile) {
        return "jdbc:postgresql://localhost:" + proxy.port() + "/" + EmbeddedPg.DATABASE + "?sslmode=verify-full"
                + "&sslrootcert=" + caFile;
    }

    private static Properties props() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "app");
        return p;
    }
}
