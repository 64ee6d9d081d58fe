package io.dbwarden.proxy.internal;

import javax.crypto.Mac;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.text.Normalizer;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Client side of SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL uses it: no channel binding, user name taken
 * from the startup message. The server signature is verified, so a server that does not know the password
 * cannot impersonate the database. Salted passwords are cached per (password, salt, iterations) because PBKDF2
 * is deliberately slow and runs on the event loop.
 */
final class ScramSha256Client {
    static final String MECHANISM = "SCRAM-SHA-256";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int SALTED_CACHE_LIMIT = 64;
    private static final Map<String, byte[]> SALTED_CACHE = new ConcurrentHashMap<>();

    private final String password;
    private final String clientNonce;
    private String clientFirstBare;
    private byte[] expectedServerSignature;

    ScramSha256Client(String password) {
        this.password = password;
        byte[] nonce = new byte[18];
        RANDOM.nextBytes(nonce);
        this.clientNonce = Base64.getEncoder().encodeToString(nonce);
    }

    byte[] clientFirstMessage() {
        clientFirstBare = "n=,r=" + clientNonce;
        return ("n,," + clientFirstBare).getBytes(StandardCharsets.UTF_8);
    }

    byte[] clientFinalMessage(String serverFirst) throws ScramException {
        Map<Character, String> attrs = attributes(serverFirst);
        String nonce = attrs.get('r');
        String salt = attrs.get('s');
        String iterations = attrs.get('i');
        if (nonce == null || salt == null || iterations == null) {
            throw new ScramException("malformed SCRAM server-first-message");
        }
        if (!nonce.startsWith(clientNonce) || nonce.length() == clientNonce.length()) {
            throw new ScramException("SCRAM server nonce does not extend the client nonce");
        }
        int iter;
        byte[] saltBytes;
        try {
            iter = Integer.parseInt(iterations);
            saltBytes = Base64.getDecoder().decode(salt);
        } catch (IllegalArgumentException e) {
            throw new ScramException("malformed SCRAM salt or iteration count");
        }
        if (iter < 1 || iter > 10_000_000) {
            throw new ScramException("SCRAM iteration count out of range: " + iter);
        }
        try {
            byte[] salted = saltedPassword(saltBytes, iter);
            byte[] clientKey = hmac(salted, "Client Key");
            byte[] storedKey = MessageDigest.getInstance("SHA-256").digest(clientKey);
            String withoutProof = "c=biws,r=" + nonce;
            String authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
            byte[] clientSignature = hmac(storedKey, authMessage);
            byte[] proof = new byte[clientKey.length];
            for (int i = 0; i < proof.length; i++) {
                proof[i] = (byte) (clientKey[i] ^ clientSignature[i]);
            }
            byte[] serverKey = hmac(salted, "Server Key");
            expectedServerSignature = hmac(serverKey, authMessage);
            return (withoutProof + ",p=" + Base64.getEncoder().encodeToString(proof)).getBytes(StandardCharsets.UTF_8);
        } catch (GeneralSecurityException e) {
            throw new ScramException("SCRAM computation failed: " + e.getMessage());
        }
    }

    void verifyServerFinal(String serverFinal) throws ScramException {
        Map<Character, String> attrs = attributes(serverFinal);
        if (attrs.containsKey('e')) {
            throw new ScramException("SCRAM authentication rejected by server: " + attrs.get('e'));
        }
        String v = attrs.get('v');
        if (v == null || expectedServerSignature == null) {
            throw new ScramException("malformed SCRAM server-final-message");
        }
        byte[] signature;
        try {
            signature = Base64.getDecoder().decode(v);
        } catch (IllegalArgumentException e) {
            throw new ScramException("malformed SCRAM server signature");
        }
        if (!MessageDigest.isEqual(signature, expectedServerSignature)) {
            throw new ScramException("SCRAM server signature mismatch: the server does not know the password");
        }
    }

    private byte[] saltedPassword(byte[] salt, int iterations) throws GeneralSecurityException {
        String key = Base64.getEncoder().encodeToString(sha256(password)) + ':'
                + Base64.getEncoder().encodeToString(salt) + ':' + iterations;
        byte[] cached = SALTED_CACHE.get(key);
        if (cached != null) {
            return cached;
        }
        // SASLprep subset: NFKC normalization (PostgreSQL falls back to the raw bytes for invalid input)
        String normalized = Normalizer.normalize(password, Normalizer.Form.NFKC);
        PBEKeySpec spec = new PBEKeySpec(normalized.toCharArray(), salt, iterations, 256);
        byte[] salted = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        spec.clearPassword();
        if (SALTED_CACHE.size() >= SALTED_CACHE_LIMIT) {
            SALTED_CACHE.clear();
        }
        SALTED_CACHE.put(key, salted);
        return salted;
    }

    private static byte[] sha256(String s) throws GeneralSecurityException {
        return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] hmac(byte[] key, String data) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    }

    private static Map<Character, String> attributes(String message) {
        Map<Character, String> attrs = new java.util.HashMap<>();
        for (String part : message.split(",")) {
            if (part.length() >= 2 && part.charAt(1) == '=') {
                attrs.put(part.charAt(0), part.substring(2));
            }
        }
        return attrs;
    }

    static final class ScramException extends Exception {
        ScramException(String message) {
            super(message);
        }
    }
}
