package io.dbwarden.proxy.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Bytes of protocol messages for tests that drive the proxy over a raw socket. */
public final class RawPg {
    private RawPg() {
    }

    /** A typed message: type byte, length, {@code body} as ISO-8859-1 bytes (write \0 for terminators). */
    public static byte[] message(char type, String body) {
        return message(type, body.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** A typed message: type byte, length, {@code body}. */
    public static byte[] message(char type, byte[] body) {
        return ByteBuffer.allocate(5 + body.length).put((byte) type).putInt(4 + body.length).put(body).array();
    }

    /** Each part as UTF-8 with its NUL terminator, one after the other. */
    public static byte[] cstrings(String... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (String p : parts) {
            b.writeBytes(p.getBytes(StandardCharsets.UTF_8));
            b.write(0);
        }
        return b.toByteArray();
    }

    /**
     * What a server answers a StartupMessage with when it asks for no password: AuthenticationOk, the usual
     * ParameterStatus messages (UTF8, standard_conforming_strings on), BackendKeyData and ReadyForQuery (idle).
     */
    public static ByteArrayOutputStream serverGreeting(int pid, int secret) {
        ByteArrayOutputStream hello = new ByteArrayOutputStream();
        hello.writeBytes(message('R', ByteBuffer.allocate(4).putInt(0).array()));
        for (String[] p : new String[][] {{"server_version", "16.0"}, {"server_encoding", "UTF8"},
                {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"}, {"DateStyle", "ISO, MDY"},
                {"integer_datetimes", "on"}, {"TimeZone", "UTC"}}) {
            hello.writeBytes(message('S', cstrings(p)));
        }
        hello.writeBytes(message('K', ByteBuffer.allocate(8).putInt(pid).putInt(secret).array()));
        hello.writeBytes(message('Z', new byte[] {'I'}));
        return hello;
    }

    /** A Parse message's body: statement name, text, and no parameter types. */
    public static byte[] parse(String name, String sql) {
        byte[] strings = cstrings(name, sql);
        return java.util.Arrays.copyOf(strings, strings.length + 2);
    }

    /** The server's messages up to and including ReadyForQuery, each as its type and body (ISO-8859-1 text). */
    public static java.util.List<String> untilReady(java.io.DataInputStream in) throws java.io.IOException {
        java.util.List<String> messages = new java.util.ArrayList<>();
        while (true) {
            char type = (char) in.readByte();
            byte[] body = in.readNBytes(in.readInt() - 4);
            messages.add(type + new String(body, StandardCharsets.ISO_8859_1));
            if (type == 'Z') {
                return messages;
            }
        }
    }

    /** A client session over a plain socket to the proxy, started up as user "app" (10 s read timeout). */
    public static final class Session implements AutoCloseable {
        private final java.net.Socket socket;
        private final java.io.OutputStream out;
        private final java.io.DataInputStream in;

        public Session(int port) throws java.io.IOException {
            socket = new java.net.Socket("127.0.0.1", port);
            socket.setSoTimeout(10_000);
            out = socket.getOutputStream();
            in = new java.io.DataInputStream(socket.getInputStream());
            out.write(startup());
            untilReady();
        }

        /** Writes messages as they are. */
        public void send(byte[]... messages) throws java.io.IOException {
            for (byte[] m : messages) {
                out.write(m);
            }
        }

        /** The server's messages up to and including ReadyForQuery (see {@link RawPg#untilReady}). */
        public java.util.List<String> untilReady() throws java.io.IOException {
            return RawPg.untilReady(in);
        }

        @Override
        public void close() throws java.io.IOException {
            socket.close();
        }
    }

    /** A protocol 3.0 StartupMessage for user "app" and the test database. */
    public static byte[] startup() {
        return startup("app");
    }

    /** A protocol 3.0 StartupMessage for {@code user} and the test database. */
    public static byte[] startup(String user) {
        byte[] p = cstrings("user", user, "database", EmbeddedPg.DATABASE, "");
        return ByteBuffer.allocate(8 + p.length).putInt(8 + p.length).putInt(196608).put(p).array();
    }

    /**
     * Typed messages one after the other, for a failure's message: type, length word and printable content of each
     * (up to a length word that cannot be right).
     */
    public static String describe(byte[] messages) {
        StringBuilder d = new StringBuilder();
        ByteBuffer b = ByteBuffer.wrap(messages);
        for (int i = 0; i + 5 <= messages.length; ) {
            int length = b.getInt(i + 1);
            int end = (int) Math.min(messages.length, (long) i + 1 + Math.max(length, 4));
            d.append("\n  ").append((char) messages[i]).append(" len=").append(length).append(' ');
            for (int k = i + 5; k < end; k++) {
                d.append(messages[k] >= 32 && messages[k] < 127 ? (char) messages[k] : '.');
            }
            if (length < 4 || length > 65_536) {
                break;
            }
            i = end;
        }
        return d.toString();
    }
}
