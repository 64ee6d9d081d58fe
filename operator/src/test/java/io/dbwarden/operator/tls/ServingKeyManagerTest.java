package io.dbwarden.operator.tls;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ServingKeyManagerTest {
    private static final List<String> NAMES = List.of("localhost");
    private final CertificateAuthority.KeyMaterial ca =
            CertificateAuthority.newAuthority("test-ca", Instant.now(), Duration.ofHours(1));
    private SSLServerSocket listener;
    private Thread acceptor;

    @AfterEach
    void stopServer() throws Exception {
        if (listener != null) {
            listener.close();
            acceptor.join(5000);
        }
    }

    @Test
    void aRunningServerServesEachNewCertificateFromTheNextHandshakeOn() throws Exception {
        ServingKeyManager keys = new ServingKeyManager();
        CertificateAuthority.KeyMaterial first = issue();
        assertThat(keys.install(List.of(first.certificate()), first.privateKey())).isTrue();
        int port = serve(keys);
        assertThat(servedSerial(port)).isEqualTo(first.certificate().getSerialNumber());

        CertificateAuthority.KeyMaterial second = issue();
        assertThat(keys.install(List.of(second.certificate()), second.privateKey())).isTrue();
        assertThat(servedSerial(port)).isEqualTo(second.certificate().getSerialNumber());
        assertThat(keys.install(List.of(second.certificate()), second.privateKey())).as("already in force").isFalse();
    }

    @Test
    void aHandshakeThatChoseThePreviousCertificateCanStillFinishWithIt() {
        ServingKeyManager keys = new ServingKeyManager();
        CertificateAuthority.KeyMaterial first = issue();
        keys.install(List.of(first.certificate()), first.privateKey());
        String chosen = keys.chooseEngineServerAlias("EC", null, null);
        assertThat(chosen).isNotNull();

        CertificateAuthority.KeyMaterial second = issue();
        keys.install(List.of(second.certificate()), second.privateKey());
        assertThat(keys.getCertificateChain(chosen)).containsExactly(first.certificate());
        assertThat(keys.getPrivateKey(chosen)).isEqualTo(first.privateKey());
        String now = keys.chooseEngineServerAlias("EC", null, null);
        assertThat(now).isNotEqualTo(chosen);
        assertThat(keys.getCertificateChain(now)).containsExactly(second.certificate());
        assertThat(keys.chooseEngineServerAlias("RSA", null, null)).as("no RSA key held").isNull();
        assertThat(keys.chooseEngineClientAlias(new String[] {"EC"}, null, null)).as("never a client key").isNull();
    }

    @Test
    void aKeyOfAnotherCertificateIsRefusedAndTheCertificateInForceStays() {
        ServingKeyManager keys = new ServingKeyManager();
        CertificateAuthority.KeyMaterial first = issue();
        keys.install(List.of(first.certificate()), first.privateKey());
        CertificateAuthority.KeyMaterial second = issue();
        CertificateAuthority.KeyMaterial third = issue();

        assertThatThrownBy(() -> keys.install(List.of(second.certificate()), third.privateKey()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not belong to certificate");
        assertThat(keys.certificate()).isEqualTo(first.certificate());
    }

    @Test
    void readsTheKeyFormatsIssuersWrite(@TempDir Path dir) throws Exception {
        ServingKeyManager keys = new ServingKeyManager();
        assertThatThrownBy(() -> keys.load(dir)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(dir.toString());

        // our own issuer: PKCS#8 EC
        CertificateAuthority.KeyMaterial own = issue();
        Files.writeString(dir.resolve("tls.crt"), own.certificatePem());
        Files.writeString(dir.resolve("tls.key"), own.privateKeyPem());
        assertThat(keys.load(dir)).isTrue();
        assertThat(keys.load(dir)).as("same files").isFalse();

        // cert-manager / openssl defaults: PKCS#1 RSA ("RSA PRIVATE KEY") and SEC1 EC ("EC PRIVATE KEY")
        int port = serve(keys);
        for (String algorithm : List.of("RSA", "EC")) {
            KeyPair pair = keyPair(algorithm);
            X509Certificate cert = selfSigned(pair, algorithm);
            Files.writeString(dir.resolve("tls.crt"), CertificateAuthority.pem(cert));
            String pem = traditionalPem(pair);
            assertThat(pem).startsWith("-----BEGIN " + algorithm + " PRIVATE KEY-----");
            Files.writeString(dir.resolve("tls.key"), pem);
            assertThat(keys.load(dir)).isTrue();
            assertThat(servedSerial(port, cert)).isEqualTo(cert.getSerialNumber());
        }

        Files.writeString(dir.resolve("tls.key"),
                "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        X509Certificate inForce = keys.certificate();
        Files.writeString(dir.resolve("tls.crt"), own.certificatePem());
        assertThatThrownBy(() -> keys.load(dir)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a PEM private key");
        assertThat(keys.certificate()).isEqualTo(inForce);
    }

    private CertificateAuthority.KeyMaterial issue() {
        return CertificateAuthority.issueServer(ca, NAMES, Instant.now(), Duration.ofMinutes(30));
    }

    /** A TLS server whose context holds {@code keys}; each connection completes a handshake and is closed. */
    private int serve(ServingKeyManager keys) throws Exception {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(new KeyManager[] {keys}, null, null);
        listener = (SSLServerSocket) context.getServerSocketFactory().createServerSocket(0);
        acceptor = new Thread(() -> {
            while (!listener.isClosed()) {
                try (SSLSocket s = (SSLSocket) listener.accept()) {
                    s.startHandshake();
                    s.getInputStream().read();
                } catch (IOException e) {
                    // the client hangs up after its handshake, or the listener was closed
                }
            }
        }, "tls-acceptor");
        acceptor.start();
        return listener.getLocalPort();
    }

    private BigInteger servedSerial(int port) throws Exception {
        return servedSerial(port, ca.certificate());
    }

    /** Handshakes as a client trusting only {@code anchor}, with host name verification. */
    private static BigInteger servedSerial(int port, X509Certificate anchor) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("anchor", anchor);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext client = SSLContext.getInstance("TLS");
        client.init(null, tmf.getTrustManagers(), null);
        try (SSLSocket socket = (SSLSocket) client.getSocketFactory().createSocket("localhost", port)) {
            SSLParameters p = socket.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(p);
            socket.startHandshake();
            return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    private static KeyPair keyPair(String algorithm) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance(algorithm);
        g.initialize("RSA".equals(algorithm) ? 2048 : 256);
        return g.generateKeyPair();
    }

    private static X509Certificate selfSigned(KeyPair pair, String algorithm) throws Exception {
        X500Name name = new X500Name("CN=localhost");
        Instant now = Instant.now();
        var builder = new JcaX509v3CertificateBuilder(name, BigInteger.valueOf(now.toEpochMilli()),
                Date.from(now.minusSeconds(60)), Date.from(now.plusSeconds(3600)), name, pair.getPublic())
                .addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(new GeneralName(GeneralName.dNSName, "localhost")));
        return new JcaX509CertificateConverter().getCertificate(builder.build(
                new JcaContentSignerBuilder("RSA".equals(algorithm) ? "SHA256withRSA" : "SHA256withECDSA")
                        .build(pair.getPrivate())));
    }

    /**
     * The traditional OpenSSL encoding cert-manager writes by default: PKCS#1 for RSA; SEC1 for EC, with the curve and
     * the public key inside as openssl writes them.
     */
    private static String traditionalPem(KeyPair pair) throws IOException {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            if (pair.getPrivate().getAlgorithm().equals("EC")) {
                PrivateKeyInfo info = PrivateKeyInfo.getInstance(pair.getPrivate().getEncoded());
                ECPrivateKey inner = ECPrivateKey.getInstance(info.parsePrivateKey());
                ECPrivateKey sec1 = new ECPrivateKey(256, inner.getKey(),
                        SubjectPublicKeyInfo.getInstance(pair.getPublic().getEncoded()).getPublicKeyData(),
                        info.getPrivateKeyAlgorithm().getParameters());
                writer.writeObject(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
            } else {
                writer.writeObject(pair.getPrivate());
            }
        }
        return out.toString();
    }
}
