package io.dbwarden.proxy.filter;

/**
 * Sees the results of statements: RowDescription, DataRow and CommandComplete messages. Asked once per executed
 * statement; returning null means "not interested", and the rows then pass as raw buffers without being decoded.
 */
public interface ResultFilter {
    ResultHandler forStatement(StatementContext context);
}
