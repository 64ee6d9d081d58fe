package io.dbwarden.proxy.postgres;

/**
 * Typed messages a client sends after startup (protocol 3.0), one constant per type byte.
 *
 * @see <a href="https://www.postgresql.org/docs/current/protocol-message-formats.html">Message Formats</a>
 */
public enum FrontendMessageType {
    BIND('B'),
    CLOSE('C'),
    COPY_DATA('d'),
    COPY_DONE('c'),
    COPY_FAIL('f'),
    DESCRIBE('D'),
    EXECUTE('E'),
    FLUSH('H'),
    FUNCTION_CALL('F'),
    PARSE('P'),
    /** PasswordMessage, SASLInitialResponse and SASLResponse share this byte. */
    PASSWORD('p'),
    QUERY('Q'),
    SYNC('S'),
    TERMINATE('X'),
    UNKNOWN((char) 0);

    private static final FrontendMessageType[] BY_BYTE = new FrontendMessageType[128];

    static {
        for (FrontendMessageType t : values()) {
            if (t != UNKNOWN) {
                BY_BYTE[t.code] = t;
            }
        }
    }

    private final char code;

    FrontendMessageType(char code) {
        this.code = code;
    }

    public char code() {
        return code;
    }

    /** Parse, Bind, Describe, Execute, Close: messages of the extended query protocol, which a Sync ends. */
    public boolean extendedQuery() {
        return this == PARSE || this == BIND || this == DESCRIBE || this == EXECUTE || this == CLOSE;
    }

    public static FrontendMessageType of(byte b) {
        if (b < 0) {
            return UNKNOWN;
        }
        FrontendMessageType t = BY_BYTE[b];
        return t == null ? UNKNOWN : t;
    }
}
