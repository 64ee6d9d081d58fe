package io.dbwarden.proxy.postgres;

/**
 * Typed messages the server sends (protocol 3.0), one constant per type byte.
 *
 * @see <a href="https://www.postgresql.org/docs/current/protocol-message-formats.html">Message Formats</a>
 */
public enum BackendMessageType {
    AUTHENTICATION('R'),
    BACKEND_KEY_DATA('K'),
    BIND_COMPLETE('2'),
    CLOSE_COMPLETE('3'),
    COMMAND_COMPLETE('C'),
    COPY_DATA('d'),
    COPY_DONE('c'),
    COPY_IN_RESPONSE('G'),
    COPY_OUT_RESPONSE('H'),
    COPY_BOTH_RESPONSE('W'),
    DATA_ROW('D'),
    EMPTY_QUERY_RESPONSE('I'),
    ERROR_RESPONSE('E'),
    FUNCTION_CALL_RESPONSE('V'),
    NEGOTIATE_PROTOCOL_VERSION('v'),
    NO_DATA('n'),
    NOTICE_RESPONSE('N'),
    NOTIFICATION_RESPONSE('A'),
    PARAMETER_DESCRIPTION('t'),
    PARAMETER_STATUS('S'),
    PARSE_COMPLETE('1'),
    PORTAL_SUSPENDED('s'),
    READY_FOR_QUERY('Z'),
    ROW_DESCRIPTION('T'),
    UNKNOWN((char) 0);

    private static final BackendMessageType[] BY_BYTE = new BackendMessageType[128];

    static {
        for (BackendMessageType t : values()) {
            if (t != UNKNOWN) {
                BY_BYTE[t.code] = t;
            }
        }
    }

    private final char code;

    BackendMessageType(char code) {
        this.code = code;
    }

    public char code() {
        return code;
    }

    public static BackendMessageType of(byte b) {
        if (b < 0) {
            return UNKNOWN;
        }
        BackendMessageType t = BY_BYTE[b];
        return t == null ? UNKNOWN : t;
    }
}
