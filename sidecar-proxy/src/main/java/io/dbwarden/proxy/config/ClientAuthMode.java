package io.dbwarden.proxy.config;

/** How clients authenticate to the proxy (independent of how the proxy authenticates upstream). */
public enum ClientAuthMode {
    /** No password; accepted only from loopback addresses unless remote trust is allowed explicitly. */
    TRUST,
    /** Cleartext password checked against the configured client password (use with client TLS off loopback). */
    PASSWORD;

    public static ClientAuthMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "trust" -> TRUST;
            case "password" -> PASSWORD;
            default -> throw new IllegalArgumentException("unknown client auth mode '" + s + "': use trust or password");
        };
    }
}
