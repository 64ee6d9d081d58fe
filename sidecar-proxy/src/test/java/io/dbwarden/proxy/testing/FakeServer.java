package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.config.HostPort;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A scripted PostgreSQL server for one session, and the reads of a raw client, for tests of what the proxy does
 * with answers a real server gives rarely (a crash mid-statement) or only when the proxy misread the client.
 */
public final class FakeServer {
    private FakeServer() {
    }

    /** What the fake server does with one message of the proxy; false hangs up (without answering). */
    public interface Answer {
        boolean answer(byte type, byte[] body, OutputStream out) throws IOException;
    }

    /** A proxy without filters whose database is the fake server listening on {@code fake}. */
    public static RunningProxy proxyInFrontOf(ServerSocket fake) {
        return RunningProxy.start(c -> c.withUpstream(new HostPort("127.0.0.1", fake.getLocalPort())), List.of(),
                List.of());
    }

    /** Accepts one session without authentication and answers its messages with {@code answer}. */
    public static void serveOneSession(ServerSocket fake, Answer answer) {
        try (Socket upstream = fake.accept()) {
            DataInputStream in = new DataInputStream(upstream.getInputStream());
            OutputStream out = upstream.getOutputStream();
            in.readNBytes(in.readInt() - 4);
            out.write(RawPg.serverGreeting(4242, 7).toByteArray());
            out.flush();
            while (true) {
                byte type = in.readByte();
                boolean goOn = answer.answer(type, in.readNBytes(in.readInt() - 4), out);
                out.flush();
                if (!goOn) {
                    return; // closes the socket
                }
            }
        } catch (EOFException expected) {
            // the proxy hung up first
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A RowDescription message of text columns. */
    public static byte[] rowDescription(String... columns) {
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(ByteBuffer.allocate(2).putShort((short) columns.length).array());
        for (String column : columns) {
            body.writeBytes(RawPg.cstrings(column));
            body.writeBytes(ByteBuffer.allocate(18).putInt(0).putShort((short) 0).putInt(25).putShort((short) -1)
                    .putInt(-1).putShort((short) 0).array());
        }
        return RawPg.message('T', body.toByteArray());
    }

    /** A DataRow message of text values. */
    public static byte[] dataRow(String... values) {
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(ByteBuffer.allocate(2).putShort((short) values.length).array());
        for (String value : values) {
            byte[] v = value.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            body.writeBytes(ByteBuffer.allocate(4).putInt(v.length).array());
            body.writeBytes(v);
        }
        return RawPg.message('D', body.toByteArray());
    }

    /** Starts a session over a raw socket to the proxy and reads up to its first ReadyForQuery. */
    public static DataInputStream startSession(Socket s) throws IOException {
        s.setSoTimeout(10_000);
        DataInputStream in = new DataInputStream(s.getInputStream());
        s.getOutputStream().write(RawPg.startup());
        s.getOutputStream().flush();
        readUntilReady(in);
        return in;
    }

    /** Whole messages (type byte, length, body) up to and including the next ReadyForQuery. */
    public static List<byte[]> readUntilReady(DataInputStream in) throws IOException {
        List<byte[]> messages = new ArrayList<>();
        while (true) {
            byte[] m = readMessage(in);
            messages.add(m);
            if (m[0] == 'Z') {
                return messages;
            }
        }
    }

    /** Whole messages up to the end of the stream. */
    public static List<byte[]> readUntilEnd(DataInputStream in) throws IOException {
        List<byte[]> messages = new ArrayList<>();
        try {
            while (true) {
                messages.add(readMessage(in));
            }
        } catch (EOFException end) {
            return messages;
        }
    }

    public static byte[] readMessage(DataInputStream in) throws IOException {
        byte type = in.readByte();
        int length = in.readInt();
        byte[] m = new byte[1 + length];
        m[0] = type;
        ByteBuffer.wrap(m, 1, 4).putInt(length);
        in.readFully(m, 5, length - 4);
        return m;
    }
}
