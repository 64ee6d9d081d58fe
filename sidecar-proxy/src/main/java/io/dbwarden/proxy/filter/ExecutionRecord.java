package io.dbwarden.proxy.filter;

/**
 * What happened to one statement: the input of audit and metrics listeners.
 *
 * @param session        connection identity
 * @param statement      the statement
 * @param protocol       how it arrived
 * @param verdict        the filter chain's verdict
 * @param startedAtMillis wall-clock time the statement was forwarded (or blocked)
 * @param durationNanos  time from forwarding to completion; 0 when blocked
 * @param executed       whether the database ran it
 * @param rows           rows returned or affected, -1 when unknown
 * @param commandTag     the server's command tag, null when none
 * @param errorSqlState  SQLSTATE of the error the client received, null on success
 * @param errorMessage   message of that error with quoted values removed, null on success
 * @param resultSummary  counters from result filters (e.g. masked values per column and strategy), empty if none
 * @param runs           what the server ran for it (see {@link StatementContext#runs()}); {@code statement} itself
 *                       unless it was EXECUTE or FETCH/MOVE of a query the session defined under a name
 */
public record ExecutionRecord(SessionInfo session, StatementInfo statement, Protocol protocol, Verdict verdict,
                              long startedAtMillis, long durationNanos, boolean executed, long rows,
                              String commandTag, String errorSqlState, String errorMessage,
                              java.util.Map<String, Long> resultSummary, StatementInfo runs) {

    /** A statement that ran as sent. */
    public ExecutionRecord(SessionInfo session, StatementInfo statement, Protocol protocol, Verdict verdict,
                           long startedAtMillis, long durationNanos, boolean executed, long rows, String commandTag,
                           String errorSqlState, String errorMessage, java.util.Map<String, Long> resultSummary) {
        this(session, statement, protocol, verdict, startedAtMillis, durationNanos, executed, rows, commandTag,
                errorSqlState, errorMessage, resultSummary, statement);
    }
}
