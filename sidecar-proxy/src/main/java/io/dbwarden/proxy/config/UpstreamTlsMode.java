package io.dbwarden.proxy.config;

/** TLS towards the database, with libpq's sslmode meanings. */
public enum UpstreamTlsMode {
    /** Plain TCP. */
    DISABLE,
    /** TLS if the server offers it, plain otherwise; certificate not verified. */
    PREFER,
    /** TLS or fail; certificate not verified. */
    REQUIRE,
    /** TLS or fail; certificate chain verified against the root CA file. */
    VERIFY_CA,
    /** TLS or fail; chain verified and the host name must match the certificate. */
    VERIFY_FULL;

    public static UpstreamTlsMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "disable" -> DISABLE;
            case "prefer" -> PREFER;
            case "require" -> REQUIRE;
            case "verify-ca" -> VERIFY_CA;
            case "verify-full" -> VERIFY_FULL;
            default -> throw new IllegalArgumentException("unknown upstream TLS mode '" + s
                    + "': use disable, prefer, require, verify-ca or verify-full");
        };
    }

    public boolean required() {
        return this != DISABLE && this != PREFER;
    }

    public boolean verifiesChain() {
        return this == VERIFY_CA || this == VERIFY_FULL;
    }
}
