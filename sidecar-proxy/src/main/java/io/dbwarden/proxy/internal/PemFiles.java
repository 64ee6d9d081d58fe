package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.ConfigFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * PEM certificates and private keys as issuers write them: keys in PKCS#8 ({@code PRIVATE KEY}), PKCS#1
 * ({@code RSA PRIVATE KEY}) or SEC1 ({@code EC PRIVATE KEY}, cert-manager's and openssl's default), unencrypted.
 */
final class PemFiles {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    /** rsaEncryption and id-ecPublicKey, DER-encoded with their tags. */
    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    private static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02,
            0x01};

    private PemFiles() {
    }

    /** Every certificate in the file, in file order (a chain: the leaf first). */
    static List<X509Certificate> certificates(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            List<X509Certificate> out = new ArrayList<>();
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("no certificate in " + file);
            }
            return out;
        } catch (IOException | CertificateException e) {
            String problem = e instanceof IOException ioe ? ConfigFiles.describe(ioe) : e.getMessage();
            throw new IllegalArgumentException("cannot read certificates from " + file + ": " + problem, e);
        }
    }

    /** The first private key in the file. */
    static PrivateKey privateKey(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read private key " + file + ": " + e.getMessage(), e);
        }
        Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) {
                continue;
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("private key " + file + " is not valid base64", e);
            }
            return switch (type) {
                case "PRIVATE KEY" -> pkcs8(der, file);
                case "RSA PRIVATE KEY" -> pkcs8(wrap(RSA_ALGORITHM, der), file);
                case "EC PRIVATE KEY" -> pkcs8(wrap(ecAlgorithm(der, file), der), file);
                case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException("private key " + file
                        + " is encrypted; give the proxy an unencrypted key (the Secret holding it protects it)");
                default -> throw new IllegalArgumentException("unsupported private key type " + type + " in " + file);
            };
        }
        throw new IllegalArgumentException("no PEM private key in " + file);
    }

    /** Fails unless {@code key} is the private key of {@code certificate}. */
    static void requireMatching(X509Certificate certificate, PrivateKey key) {
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            default -> throw new IllegalArgumentException("unsupported key type " + key.getAlgorithm());
        };
        String serial = certificate.getSerialNumber().toString(16);
        try {
            byte[] probe = "dbwarden key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw new IllegalArgumentException("the private key does not belong to certificate " + serial);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("the private key does not belong to certificate " + serial + ": "
                    + e.getMessage(), e);
        }
    }

    private static PrivateKey pkcs8(byte[] der, Path file) {
        for (String algorithm : new String[] {"EC", "RSA", "EdDSA"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (InvalidKeySpecException | NoSuchAlgorithmException e) {
                // not this algorithm
            }
        }
        throw new IllegalArgumentException("cannot read private key " + file + " (not an RSA, EC or EdDSA key)");
    }

    /** PrivateKeyInfo { version 0, algorithm, OCTET STRING key }. */
    private static byte[] wrap(byte[] algorithm, byte[] key) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0x02, 0x01, 0x00});
        body.writeBytes(algorithm);
        body.writeBytes(tlv(0x04, key));
        return tlv(0x30, body.toByteArray());
    }

    /** The algorithm identifier of a SEC1 ECPrivateKey: id-ecPublicKey with the curve from its [0] parameters. */
    private static byte[] ecAlgorithm(byte[] sec1, Path file) {
        try {
            int[] seq = header(sec1, 0, 0x30);
            int pos = seq[0];
            int end = seq[0] + seq[1];
            pos = skip(sec1, pos, 0x02);
            pos = skip(sec1, pos, 0x04);
            while (pos < end) {
                int tag = sec1[pos] & 0xff;
                int[] h = header(sec1, pos, tag);
                if (tag == 0xa0) {
                    int[] oid = header(sec1, h[0], 0x06);
                    byte[] curve = Arrays.copyOfRange(sec1, h[0], oid[0] + oid[1]);
                    ByteArrayOutputStream id = new ByteArrayOutputStream();
                    id.writeBytes(EC_PUBLIC_KEY_OID);
                    id.writeBytes(curve);
                    return tlv(0x30, id.toByteArray());
                }
                pos = h[0] + h[1];
            }
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            throw new IllegalArgumentException("private key " + file + " is not a valid EC key", e);
        }
        throw new IllegalArgumentException("EC private key " + file + " does not name its curve");
    }

    /** {content start, content length} of the element at {@code pos}, which must have tag {@code tag}. */
    private static int[] header(byte[] der, int pos, int tag) {
        if ((der[pos] & 0xff) != tag) {
            throw new IllegalArgumentException("unexpected DER tag");
        }
        int len = der[pos + 1] & 0xff;
        int start = pos + 2;
        if (len >= 0x80) {
            int n = len & 0x7f;
            if (n == 0 || n > 3) {
                throw new IllegalArgumentException("unsupported DER length");
            }
            len = 0;
            for (int i = 0; i < n; i++) {
                len = (len << 8) | (der[start + i] & 0xff);
            }
            start += n;
        }
        if (start + len > der.length) {
            throw new IllegalArgumentException("truncated DER");
        }
        return new int[] {start, len};
    }

    private static int skip(byte[] der, int pos, int tag) {
        int[] h = header(der, pos, tag);
        return h[0] + h[1];
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int len = content.length;
        if (len < 0x80) {
            out.write(len);
        } else if (len < 0x100) {
            out.write(0x81);
            out.write(len);
        } else if (len < 0x10000) {
            out.write(0x82);
            out.write(len >> 8);
            out.write(len);
        } else {
            out.write(0x83);
            out.write(len >> 16);
            out.write(len >> 8);
            out.write(len);
        }
        out.writeBytes(content);
        return out.toByteArray();
    }
}
