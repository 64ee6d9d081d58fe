package io.dbwarden.proxy.filter;

/**
 * What a {@link StatementFilter} is asked about.
 *
 * @param session           the connection's identity and database
 * @param statement         the statement
 * @param protocol          how it arrived
 * @param transactionStatus the server's last reported transaction status: 'I' idle, 'T' in a block, 'E' failed block
 */
public record StatementContext(SessionInfo session, StatementInfo statement, Protocol protocol, char transactionStatus) {
}
