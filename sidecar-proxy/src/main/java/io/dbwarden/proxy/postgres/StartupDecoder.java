package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Decodes one untyped start-up packet ({@code int32 length, int32 code, body}). */
public final class StartupDecoder {
    /** PostgreSQL's own limit for start-up packets (MAX_STARTUP_PACKET_LENGTH). */
    public static final int MAX_STARTUP_PACKET_LENGTH = 10_000;

    private StartupDecoder() {
    }

    /**
     * Reads one packet if it is complete, else returns null and leaves {@code in} untouched.
     *
     * @throws PgProtocolException on malformed input
     */
    public static StartupPacket decode(ByteBuf in) {
        if (in.readableBytes() < 8) {
            return null;
        }
        int start = in.readerIndex();
        int length = in.getInt(start);
        if (length < 8 || length > MAX_STARTUP_PACKET_LENGTH) {
            throw new PgProtocolException("08P01", "invalid length of startup packet: " + length);
        }
        if (in.readableBytes() < length) {
            return null;
        }
        int code = in.getInt(start + 4);
        ByteBuf body = in.slice(start + 8, length - 8);
        in.skipBytes(length);
        return switch (code) {
            case StartupPacket.SSL_REQUEST_CODE -> expectEmpty(body, new StartupPacket.SslRequest());
            case StartupPacket.GSSENC_REQUEST_CODE -> expectEmpty(body, new StartupPacket.GssEncRequest());
            case StartupPacket.CANCEL_REQUEST_CODE -> {
                if (body.readableBytes() != 8) {
                    throw new PgProtocolException("08P01", "unsupported cancel request length " + length);
                }
                yield new StartupPacket.CancelRequest(body.getInt(body.readerIndex()), body.getInt(body.readerIndex() + 4));
            }
            default -> {
                if ((code >>> 16) != 3) {
                    throw new PgProtocolException("0A000", "unsupported frontend protocol " + (code >>> 16) + "."
                            + (code & 0xFFFF) + ": server supports 3.0 to 3.0");
                }
                yield new StartupPacket.StartupMessage(code, readParameters(body));
            }
        };
    }

    private static StartupPacket expectEmpty(ByteBuf body, StartupPacket packet) {
        if (body.isReadable()) {
            throw new PgProtocolException("08P01", "invalid length of startup packet");
        }
        return packet;
    }

    private static Map<String, String> readParameters(ByteBuf body) {
        Map<String, String> params = new LinkedHashMap<>();
        while (body.isReadable()) {
            String name = PgMessages.readCString(body, StandardCharsets.UTF_8);
            if (name.isEmpty()) {
                if (body.isReadable()) {
                    throw new PgProtocolException("08P01", "invalid startup packet layout: data after terminator");
                }
                return params;
            }
            if (!body.isReadable()) {
                throw new PgProtocolException("08P01", "invalid startup packet layout: missing value for " + name);
            }
            params.put(name, PgMessages.readCString(body, StandardCharsets.UTF_8));
        }
        throw new PgProtocolException("08P01", "invalid startup packet layout: expected terminator as last byte");
    }
}
