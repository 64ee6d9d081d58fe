package io.dbwarden.proxy.testing;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Bytes of protocol messages for tests that drive the proxy over a raw socket. */
public final class RawPg {
    private RawPg() {
    }

    /** A typed message: type byte, length, {@code body} as ISO-8859-1 bytes (write \0 for terminators). */
    public static byte[] message(char type, String body) {
        byte[] b = body.getBytes(StandardCharsets.ISO_8859_1);
        return ByteBuffer.allocate(5 + b.length).put((byte) type).putInt(4 + b.length).put(b).array();
    }

    /** A protocol 3.0 StartupMessage for user "app" and the test database. */
    public static byte[] startup() {
        String params = "user\0app\0database\0" + EmbeddedPg.DATABASE + "\0\0";
        byte[] p = params.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + p.length);
        b.putInt(8 + p.length).putInt(196608).put(p);
        return b.array();
    }
}
