package io.dbwarden.proxy.filter;

/**
 * Sees the results of statements: RowDescription, DataRow and CommandComplete messages. Asked once per executed
 * statement; returning null means "not interested", and the rows then pass as raw buffers without being decoded.
 */
public interface ResultFilter {
    ResultHandler forStatement(StatementContext context);

    /** False while the filter would decline every statement (lets the proxy skip bookkeeping it only needs for filters). */
    default boolean active() {
        return true;
    }
}
