package io.dbwarden.proxy.filter;

/**
 * Sees the results of statements: RowDescription, DataRow and CommandComplete messages. Asked once per executed
 * statement; returning null means "not interested", and the rows then pass as raw buffers without being decoded.
 */
public interface ResultFilter {
    ResultHandler forStatement(StatementContext context);

    /**
     * A server message text (error or notice field) with what this filter would mask in a result value masked; the
     * same instance when nothing changes.
     */
    default String maskMessage(String text) {
        return text;
    }

    /** False while the filter would decline every statement (lets the proxy skip bookkeeping it only needs for filters). */
    default boolean active() {
        return true;
    }
}
