package io.dbwarden.proxy.postgres;

/** A peer sent bytes that are not valid PostgreSQL protocol; the connection cannot continue. */
public final class PgProtocolException extends RuntimeException {
    private final String sqlState;

    public PgProtocolException(String sqlState, String message) {
        super(message);
        this.sqlState = sqlState;
    }

    public String sqlState() {
        return sqlState;
    }
}
