package io.dbwarden.proxy.filter;

/** How a statement reached the proxy. */
public enum Protocol {
    /** Simple query protocol (Query message), possibly one of several statements in the message. */
    SIMPLE,
    /** Extended query protocol (Parse message; executed later by Bind/Execute). */
    EXTENDED,
    /**
     * The function-call message (the "fast-path" interface of libpq's large-object functions and pgjdbc's
     * LargeObjectManager): decided as {@code SELECT schema.function($1, ...)} of the function it calls.
     */
    FUNCTION_CALL
}
