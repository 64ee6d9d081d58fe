package io.dbwarden.proxy.filter;

/**
 * What a {@link StatementFilter} is asked about.
 *
 * @param session           the connection's identity and database
 * @param statement         the statement
 * @param protocol          how it arrived
 * @param transactionStatus the server's last reported transaction status: 'I' idle, 'T' in a block, 'E' failed block
 * @param cancelled         true once the client has cancelled this statement (any thread may ask): a filter that
 *                          waits for something (an approval) stops waiting
 */
public record StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus,
                               java.util.function.BooleanSupplier cancelled) {
    private static final java.util.function.BooleanSupplier NEVER = () -> false;

    /** A statement that cannot be cancelled while the proxy holds it. */
    public StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus) {
        this(session, statement, protocol, transactionStatus, NEVER);
    }
}
