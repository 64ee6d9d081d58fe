package io.dbwarden.operator.tls;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509KeyManager;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The HTTPS server's key and certificate, swapped in place when the certificate is renewed.
 * <p>
 * The server's SSL context is built once around this key manager; every handshake asks it for the certificate in
 * force at that moment. Renewing therefore never touches the server: no handshake sees a half-updated server. (The
 * alternative, reloading the TLS registry and letting Vert.x rebuild the server's SSL context, closes the connections
 * Vert.x 4.5 accepts while the new context is being built: each renewal failed a burst of admission calls.)
 * <p>
 * The previous certificate stays resolvable by its alias, so a handshake that chose it just before a swap completes
 * with it. Aliases are {@code serving-<serial>}.
 */
public final class ServingKeyManager extends X509ExtendedKeyManager {
    /** One certificate chain with its key, wrapped in the JDK's key manager for key-type and issuer matching. */
    private record Material(String alias, X509KeyManager keys, X509Certificate leaf, KeyStore store) {
    }

    private volatile Material current;
    private volatile Material previous;

    /**
     * Reads {@code tls.crt} (the leaf first, then any intermediates) and {@code tls.key} (PKCS#8, PKCS#1 RSA or SEC1
     * EC, as cert-manager and our own issuer write them) from {@code dir} and puts them in force.
     *
     * @return whether the certificate in force changed
     * @throws IllegalArgumentException when the files are missing, unreadable, or the key does not belong to the
     *                                  certificate (the certificate in force, if any, stays in force)
     */
    public boolean load(Path dir) {
        String certificates;
        String key;
        try {
            certificates = Files.readString(dir.resolve("tls.crt"), StandardCharsets.US_ASCII);
            key = Files.readString(dir.resolve("tls.key"), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the serving certificate in " + dir + ": " + e, e);
        }
        return install(CertificateAuthority.parseCertificates(certificates), CertificateAuthority.parsePrivateKey(key));
    }

    /** Puts {@code chain} (leaf first) and its private key in force; false if that certificate already is. */
    public synchronized boolean install(List<X509Certificate> chain, PrivateKey key) {
        X509Certificate leaf = chain.getFirst();
        Material now = current;
        if (now != null && now.leaf().equals(leaf)) {
            return false;
        }
        requireMatching(leaf, key);
        String alias = "serving-" + leaf.getSerialNumber().toString(16);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            char[] password = "in-memory".toCharArray(); // never written anywhere
            store.setKeyEntry(alias, key, password, chain.toArray(X509Certificate[]::new));
            KeyManagerFactory factory = KeyManagerFactory.getInstance("SunX509");
            factory.init(store, password);
            X509KeyManager keys = (X509KeyManager) factory.getKeyManagers()[0];
            previous = now;
            current = new Material(alias, keys, leaf, store);
            return true;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("cannot use the serving certificate: " + e.getMessage(), e);
        }
    }

    /** The certificate in force, or null before the first {@link #load}/{@link #install}. */
    public X509Certificate certificate() {
        Material m = current;
        return m == null ? null : m.leaf();
    }

    /** A key store holding the certificate in force (what the TLS registry shows of this configuration). */
    public KeyStore keyStore() {
        Material m = current;
        if (m == null) {
            throw new IllegalStateException("no serving certificate loaded");
        }
        return m.store();
    }

    private static void requireMatching(X509Certificate leaf, PrivateKey key) {
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            case "Ed448" -> "Ed448";
            default -> throw new IllegalArgumentException("unsupported serving key type " + key.getAlgorithm());
        };
        try {
            byte[] probe = "dbwarden serving key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(leaf.getPublicKey());
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw new IllegalArgumentException("the serving key does not belong to certificate "
                        + leaf.getSerialNumber().toString(16));
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("the serving key does not belong to certificate "
                    + leaf.getSerialNumber().toString(16) + ": " + e.getMessage(), e);
        }
    }

    private Material byAlias(String alias) {
        Material m = current;
        if (m != null && m.alias().equals(alias)) {
            return m;
        }
        Material p = previous;
        return p != null && p.alias().equals(alias) ? p : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return chooseServerAlias(keyType, issuers, null);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        Material m = current;
        return m == null ? null : m.keys().chooseServerAlias(keyType, issuers, socket);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        Material m = current;
        return m == null ? null : m.keys().getServerAliases(keyType, issuers);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        Material m = byAlias(alias);
        return m == null ? null : m.keys().getCertificateChain(alias);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        Material m = byAlias(alias);
        return m == null ? null : m.keys().getPrivateKey(alias);
    }

    /** A server key: never offered for client authentication. */
    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return null;
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return null;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        return null;
    }
}
