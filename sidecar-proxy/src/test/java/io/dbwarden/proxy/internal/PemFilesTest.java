package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.testing.TestCertificates;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.util.io.pem.PemObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PemFilesTest {
    @TempDir
    Path dir;

    @Test
    void readsPkcs8Pkcs1AndSec1Keys() throws Exception {
        for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
            KeyPair pair = KeyPairGenerator.getInstance(algorithm).generateKeyPair();
            PrivateKey pkcs8 = PemFiles.privateKey(write("pkcs8-" + algorithm, pem(new JcaPKCS8Generator(
                    pair.getPrivate(), null))));
            assertThat(pkcs8.getEncoded()).isEqualTo(pair.getPrivate().getEncoded());
        }

        KeyPair rsa = KeyPairGenerator.getInstance("RSA").generateKeyPair();
        String pkcs1 = pem(rsa.getPrivate()); // BouncyCastle writes the traditional form: RSA PRIVATE KEY
        assertThat(pkcs1).startsWith("-----BEGIN RSA PRIVATE KEY-----");
        assertThat(PemFiles.privateKey(write("rsa.key", pkcs1)).getEncoded()).isEqualTo(rsa.getPrivate().getEncoded());

        KeyPairGenerator ecGenerator = KeyPairGenerator.getInstance("EC");
        ecGenerator.initialize(256);
        KeyPair ec = ecGenerator.generateKeyPair();
        PrivateKeyInfo info = PrivateKeyInfo.getInstance(ec.getPrivate().getEncoded());
        ECPrivateKey inner = ECPrivateKey.getInstance(info.parsePrivateKey());
        ECPrivateKey sec1 = new ECPrivateKey(256, inner.getKey(),
                SubjectPublicKeyInfo.getInstance(ec.getPublic().getEncoded()).getPublicKeyData(),
                info.getPrivateKeyAlgorithm().getParameters());
        String sec1Pem = "some text before the key\n" + pem(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
        PrivateKey read = PemFiles.privateKey(write("ec.key", sec1Pem));
        assertThat(read.getAlgorithm()).isEqualTo("EC");
        assertThat(((java.security.interfaces.ECPrivateKey) read).getS())
                .isEqualTo(((java.security.interfaces.ECPrivateKey) ec.getPrivate()).getS());

        ECPrivateKey noCurve = new ECPrivateKey(256, inner.getKey());
        assertThatThrownBy(() -> PemFiles.privateKey(write("nocurve.key",
                pem(new PemObject("EC PRIVATE KEY", noCurve.getEncoded())))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not name its curve");
    }

    @Test
    void unusableKeysAreExplained() throws Exception {
        // PKCS#8 EncryptedPrivateKeyInfo as openssl pkcs8 -topk8 writes it (contents irrelevant: refused by type)
        Path encrypted = write("enc.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n"
                + "-----END ENCRYPTED PRIVATE KEY-----\n");
        assertThatThrownBy(() -> PemFiles.privateKey(encrypted)).hasMessageContaining("is encrypted");
        assertThatThrownBy(() -> PemFiles.privateKey(write("none.key", "no key here")))
                .hasMessageContaining("no PEM private key");
        assertThatThrownBy(() -> PemFiles.privateKey(write("bad.key",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")))
                .hasMessageContaining("cannot read private key");
        assertThatThrownBy(() -> PemFiles.privateKey(dir.resolve("missing.key"))).hasMessageContaining("missing.key");
        assertThatThrownBy(() -> PemFiles.certificates(write("empty.crt", "")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aKeyMustBelongToItsCertificate() throws Exception {
        TestCertificates.Authority ca = TestCertificates.Authority.create("pem test CA");
        TestCertificates.Issued a = ca.issue("localhost");
        TestCertificates.Issued b = ca.issue("localhost");
        X509Certificate certA = PemFiles.certificates(write("a.crt", a.certificatePem() + ca.certificatePem()))
                .getFirst();
        assertThat(PemFiles.certificates(write("chain.crt", a.certificatePem() + ca.certificatePem()))).hasSize(2);
        PemFiles.requireMatching(certA, PemFiles.privateKey(write("a.key", a.privateKeyPem())));
        assertThatThrownBy(() -> PemFiles.requireMatching(certA, PemFiles.privateKey(write("b.key",
                b.privateKeyPem())))).hasMessageContaining("does not belong to certificate");
    }

    private Path write(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    private static String pem(Object o) throws Exception {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(o);
        }
        return out.toString();
    }
}
