package io.dbwarden.proxy.postgres;

import java.util.Map;

/**
 * The untyped first messages of a connection (before the typed protocol starts).
 *
 * @see <a href="https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP">Start-up</a>
 */
public sealed interface StartupPacket {
    int SSL_REQUEST_CODE = 80877103;
    int GSSENC_REQUEST_CODE = 80877104;
    int CANCEL_REQUEST_CODE = 80877102;
    int PROTOCOL_3_0 = 196608;

    record SslRequest() implements StartupPacket {
    }

    record GssEncRequest() implements StartupPacket {
    }

    /** Cancel key as issued to the client (protocol 3.0: 4 bytes of secret). */
    record CancelRequest(int processId, int secretKey) implements StartupPacket {
    }

    /** Protocol version (major &lt;&lt; 16 | minor) and the parameters, insertion-ordered. */
    record StartupMessage(int protocolVersion, Map<String, String> parameters) implements StartupPacket {
        public int majorVersion() {
            return protocolVersion >>> 16;
        }

        public int minorVersion() {
            return protocolVersion & 0xFFFF;
        }
    }
}
