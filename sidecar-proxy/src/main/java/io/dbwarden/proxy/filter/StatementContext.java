package io.dbwarden.proxy.filter;

/**
 * What a {@link StatementFilter} is asked about.
 *
 * @param session           the connection's identity and database
 * @param statement         the statement as the client sent it (what the audit log records)
 * @param protocol          how it arrived
 * @param transactionStatus the server's last reported transaction status: 'I' idle, 'T' in a block, 'E' failed block
 * @param cancelled         true once the client has cancelled this statement (any thread may ask): a filter that
 *                          waits for something (an approval) stops waiting
 * @param runs              what the server runs for it: for {@code EXECUTE name} and {@code FETCH}/{@code MOVE} of
 *                          a cursor, the query the session prepared or declared under that name through this proxy;
 *                          otherwise (and for names the proxy has not seen) the statement itself. Policy decisions
 *                          and masking look at this.
 * @param boundValues       for a prepared statement judged at a Bind (or an Execute of its portal): the values that
 *                          Bind supplied, as sent, with the parameter types its Parse declared (an approval is of
 *                          their digest); null when no values are bound yet (a Parse) or none apply (a simple query)
 */
public record StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus,
                               java.util.function.BooleanSupplier cancelled, StatementInfo runs,
                               io.dbwarden.proxy.postgres.BoundValues boundValues) {
    private static final java.util.function.BooleanSupplier NEVER = () -> false;

    /** A statement judged without bound values. */
    public StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus,
                            java.util.function.BooleanSupplier cancelled, StatementInfo runs) {
        this(session, statement, protocol, transactionStatus, cancelled, runs, null);
    }

    /** A statement that runs as sent. */
    public StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus,
                            java.util.function.BooleanSupplier cancelled) {
        this(session, statement, protocol, transactionStatus, cancelled, statement);
    }

    /** A statement that runs as sent and cannot be cancelled while the proxy holds it. */
    public StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus) {
        this(session, statement, protocol, transactionStatus, NEVER, statement);
    }

    /** True when the statement runs a query prepared or declared earlier under a name (EXECUTE, FETCH, MOVE). */
    public boolean runsNamedQuery() {
        return runs != statement;
    }
}
