package io.dbwarden.proxy.testing;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;

/** A throw-away CA and a server certificate for DNS name localhost only (not 127.0.0.1), written as PEM files. */
public record TestCertificates(Path caCert, Path serverCert, Path serverKey, Path otherCaCert) {

    public static TestCertificates create(Path dir) {
        try {
            KeyPair ca = keyPair();
            X509CertificateHolder caHolder = certificate("CN=dbwarden test CA", ca, "CN=dbwarden test CA", ca, true,
                    null);
            KeyPair server = keyPair();
            X509CertificateHolder serverHolder = certificate("CN=localhost", server, "CN=dbwarden test CA", ca, false,
                    new GeneralNames(new GeneralName(GeneralName.dNSName, "localhost")));
            KeyPair other = keyPair();
            X509CertificateHolder otherHolder = certificate("CN=other CA", other, "CN=other CA", other, true, null);
            Path caFile = write(dir.resolve("ca.crt"), pem(caHolder));
            Path certFile = write(dir.resolve("server.crt"), pem(serverHolder));
            Path keyFile = write(dir.resolve("server.key"), pem(server.getPrivate()));
            Path otherCa = write(dir.resolve("other-ca.crt"), pem(otherHolder));
            Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
            return new TestCertificates(caFile, certFile, keyFile, otherCa);
        } catch (Exception e) {
            throw new IllegalStateException("cannot create test certificates", e);
        }
    }

    /** A CA that issues server certificates on demand (certificate rotation tests). */
    public record Authority(String name, KeyPair keys, String certificatePem) {
        public static Authority create(String commonName) {
            try {
                KeyPair keys = keyPair();
                return new Authority(commonName, keys, pem(certificate("CN=" + commonName, keys, "CN=" + commonName,
                        keys, true, null)));
            } catch (Exception e) {
                throw new IllegalStateException("cannot create a test CA", e);
            }
        }

        /** A new key pair and a certificate for DNS name {@code dnsName}; the key as PKCS#8 PEM. */
        public Issued issue(String dnsName) {
            try {
                KeyPair server = keyPair();
                X509CertificateHolder cert = certificate("CN=" + dnsName, server, "CN=" + name, keys, false,
                        new GeneralNames(new GeneralName(GeneralName.dNSName, dnsName)));
                return new Issued(pem(cert), pem(server.getPrivate()), server, cert.getSerialNumber());
            } catch (Exception e) {
                throw new IllegalStateException("cannot issue a test certificate", e);
            }
        }
    }

    /** An issued server certificate and its key. */
    public record Issued(String certificatePem, String privateKeyPem, KeyPair keys, BigInteger serial) {
    }

    private static KeyPair keyPair() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(256);
        return g.generateKeyPair();
    }

    private static X509CertificateHolder certificate(String subject, KeyPair subjectKeys, String issuer,
                                                     KeyPair issuerKeys, boolean ca, GeneralNames san) throws Exception {
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(new X500Name(issuer),
                new BigInteger(63, new java.security.SecureRandom()).add(BigInteger.ONE),
                Date.from(now.minus(1, ChronoUnit.HOURS)), Date.from(now.plus(2, ChronoUnit.DAYS)),
                new X500Name(subject), subjectKeys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
        if (ca) {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        } else {
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
        }
        if (san != null) {
            b.addExtension(Extension.subjectAlternativeName, false, san);
        }
        return b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKeys.getPrivate()));
    }

    private static String pem(Object o) throws IOException {
        StringWriter sw = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
            if (o instanceof PrivateKey k) {
                w.writeObject(new org.bouncycastle.openssl.jcajce.JcaPKCS8Generator(k, null));
            } else {
                w.writeObject(o);
            }
        }
        return sw.toString();
    }

    private static Path write(Path p, String content) throws IOException {
        Files.writeString(p, content);
        return p;
    }
}
