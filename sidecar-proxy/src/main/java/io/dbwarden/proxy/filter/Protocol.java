package io.dbwarden.proxy.filter;

/** How a statement reached the proxy. */
public enum Protocol {
    /** Simple query protocol (Query message), possibly one of several statements in the message. */
    SIMPLE,
    /** Extended query protocol (Parse message; executed later by Bind/Execute). */
    EXTENDED
}
