package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.DetectorType;
import io.dbwarden.api.v1alpha1.MaskStrategy;
import io.dbwarden.api.v1alpha1.MaskingAction;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.HexFormat;

/** One strategy with its parameters, applied to a text value (or a detected part of one). */
final class Masker {
    static final String REDACTED = "[redacted]";

    private final MaskStrategy strategy;
    private final int keepPrefix;
    private final int keepSuffix;
    private final String fixed;
    private final byte[] hashKey;

    private Masker(MaskStrategy strategy, int keepPrefix, int keepSuffix, String fixed, byte[] hashKey) {
        this.strategy = strategy;
        this.keepPrefix = keepPrefix;
        this.keepSuffix = keepSuffix;
        this.fixed = fixed;
        this.hashKey = hashKey;
    }

    static Masker of(MaskingAction a, DetectorType detector, byte[] hashKey) {
        boolean card = detector == DetectorType.CREDIT_CARD || detector == DetectorType.IBAN;
        int prefix = a.getKeepPrefix() != null ? a.getKeepPrefix() : card ? 0 : 1;
        int suffix = a.getKeepSuffix() != null ? a.getKeepSuffix() : card ? 4 : 0;
        if (a.getStrategy() == MaskStrategy.HASH && hashKey == null) {
            throw new IllegalArgumentException("masking strategy 'hash' needs a key (--masking-key-file, or "
                    + "spec.masking.hashKeySecret in Kubernetes)");
        }
        return new Masker(a.getStrategy(), prefix, suffix, a.getValue(), hashKey);
    }

    MaskStrategy strategy() {
        return strategy;
    }

    /** Whether the result is SQL NULL (the whole column value goes). */
    boolean nulls() {
        return strategy == MaskStrategy.NULL;
    }

    /** The masked form of a text value; never returns the input unchanged for non-empty input. */
    String mask(String value) {
        return switch (strategy) {
            case REDACT -> REDACTED;
            case FIXED -> fixed;
            case HASH -> "h:" + hmac(value);
            case NULL -> null;
            case PARTIAL -> partial(value);
        };
    }

    private String partial(String value) {
        int at = value.indexOf('@');
        if (at > 0 && value.indexOf('@', at + 1) < 0 && value.indexOf('.', at) > at && address(value, at)) {
            // e-mail: keep the first characters of the local part and the whole domain
            String local = value.substring(0, at);
            int keep = Math.min(keepPrefix, Math.max(0, local.length() - 1));
            return local.substring(0, keep) + "***" + value.substring(at);
        }
        int alnum = 0;
        for (int i = 0; i < value.length(); i++) {
            if (Character.isLetterOrDigit(value.charAt(i))) {
                alnum++;
            }
        }
        int keepStart = keepPrefix;
        int keepEnd = keepSuffix;
        if (keepStart + keepEnd >= alnum) {
            // too short to keep anything without revealing it all
            keepStart = 0;
            keepEnd = 0;
        }
        StringBuilder sb = new StringBuilder(value.length());
        int seen = 0;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (!Character.isLetterOrDigit(c)) {
                sb.append(c); // keep separators so formats stay recognisable: ****-****-****-4242
                continue;
            }
            boolean keep = seen < keepStart || seen >= alnum - keepEnd;
            sb.append(keep ? c : '*');
            seen++;
        }
        return sb.toString();
    }

    /**
     * Whether the value is one e-mail address and nothing else: its domain keeps only letters, digits, dots and
     * hyphens, its local part no separators. What else a value holds around an '@' ("{ann@x.org,bo" from a truncated
     * list) would otherwise pass as "domain".
     */
    private static boolean address(String value, int at) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean ok = i < at ? !Character.isWhitespace(c) && ",;:<>()[]{}\"'".indexOf(c) < 0
                    : i == at || Character.isLetterOrDigit(c) || c == '.' || c == '-';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** One initialised Mac per thread (event loops): provider lookup and key setup are not per value. */
    private final ThreadLocal<Mac> macs = ThreadLocal.withInitial(this::newMac);

    private Mac newMac() {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(hashKey, "HmacSHA256"));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    private String hmac(String value) {
        return HexFormat.of().formatHex(macs.get().doFinal(value.getBytes(StandardCharsets.UTF_8)), 0, 12);
    }

    /** Short label for audit counters. */
    String label() {
        return strategy.yamlName();
    }
}
