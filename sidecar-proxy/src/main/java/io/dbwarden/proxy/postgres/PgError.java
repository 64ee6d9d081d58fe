package io.dbwarden.proxy.postgres;

/**
 * An error (or notice) the proxy reports to a client in an ErrorResponse.
 *
 * @param severity ERROR, FATAL or NOTICE
 * @param sqlState five-character SQLSTATE
 * @param message  primary message
 * @param detail   optional detail, null when absent
 * @param hint     optional hint telling the user what to do next, null when absent
 */
public record PgError(String severity, String sqlState, String message, String detail, String hint) {
    public static final String INSUFFICIENT_PRIVILEGE = "42501";
    public static final String PROTOCOL_VIOLATION = "08P01";
    public static final String INVALID_PASSWORD = "28P01";
    public static final String INVALID_AUTHORIZATION = "28000";
    public static final String CONNECTION_FAILURE = "08006";
    public static final String CANNOT_CONNECT = "08001";
    public static final String FEATURE_NOT_SUPPORTED = "0A000";
    /** A session ended by the server's (here: the proxy's) shutdown. */
    public static final String ADMIN_SHUTDOWN = "57P01";
    /** A session refused while the server (here: the proxy) shuts down. */
    public static final String CANNOT_CONNECT_NOW = "57P03";

    public static PgError error(String sqlState, String message, String detail, String hint) {
        return new PgError("ERROR", sqlState, message, detail, hint);
    }

    public static PgError fatal(String sqlState, String message) {
        return new PgError("FATAL", sqlState, message, null, null);
    }

    public static PgError fatal(String sqlState, String message, String hint) {
        return new PgError("FATAL", sqlState, message, null, hint);
    }
}
