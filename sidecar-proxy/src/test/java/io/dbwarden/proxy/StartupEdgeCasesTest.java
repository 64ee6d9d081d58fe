package io.dbwarden.proxy;

import io.dbwarden.proxy.postgres.StartupPacket;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Start-up phase over a raw socket: what libpq and other clients may send before the typed protocol. */
@ExtendWith(LeakDetection.class)
class StartupEdgeCasesTest {
    static RunningProxy proxy;

    @BeforeAll
    static void start() {
        proxy = RunningProxy.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static byte[] startup(int version, Map<String, String> params) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(body);
        d.writeInt(version);
        for (var e : params.entrySet()) {
            d.write(e.getKey().getBytes(StandardCharsets.UTF_8));
            d.write(0);
            d.write(e.getValue().getBytes(StandardCharsets.UTF_8));
            d.write(0);
        }
        d.write(0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new DataOutputStream(out).writeInt(body.size() + 4);
        out.write(body.toByteArray());
        return out.toByteArray();
    }

    private static Map<String, String> params(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("user", "app");
        m.put("database", EmbeddedPg.DATABASE);
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    /** Reads typed messages until ReadyForQuery or ErrorResponse; returns the type bytes seen. */
    private static String readUntilReadyOrError(DataInputStream in, StringBuilder errorText) throws IOException {
        StringBuilder types = new StringBuilder();
        while (true) {
            char type = (char) in.readByte();
            int len = in.readInt();
            byte[] body = in.readNBytes(len - 4);
            types.append(type);
            if (type == 'E') {
                errorText.append(new String(body, StandardCharsets.UTF_8));
                return types.toString();
            }
            if (type == 'Z') {
                return types.toString();
            }
        }
    }

    @Test
    void gssEncryptionAndSslAreRefusedCleanlyThenStartupWorks() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.writeInt(8);
            out.writeInt(StartupPacket.GSSENC_REQUEST_CODE);
            assertThat(in.readByte()).isEqualTo((byte) 'N');
            out.writeInt(8);
            out.writeInt(StartupPacket.SSL_REQUEST_CODE);
            assertThat(in.readByte()).isEqualTo((byte) 'N'); // no client TLS configured
            out.write(startup(StartupPacket.PROTOCOL_3_0, params()));
            String types = readUntilReadyOrError(in, new StringBuilder());
            assertThat(types).startsWith("R").contains("S").contains("K").endsWith("Z");
        }
    }

    @Test
    void newerMinorProtocolVersionIsNegotiatedDownToThreeZero() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.write(startup(StartupPacket.PROTOCOL_3_0 + 2, params("_pq_.some_option", "x")));
            assertThat((char) in.readByte()).isEqualTo('v');
            int len = in.readInt();
            assertThat(in.readInt()).isEqualTo(StartupPacket.PROTOCOL_3_0);
            assertThat(in.readInt()).isEqualTo(1);
            assertThat(new String(in.readNBytes(len - 12), StandardCharsets.UTF_8)).startsWith("_pq_.some_option");
            assertThat(readUntilReadyOrError(in, new StringBuilder())).endsWith("Z");
        }
    }

    @Test
    void replicationConnectionsAreRefused() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.getOutputStream().write(startup(StartupPacket.PROTOCOL_3_0, params("replication", "database")));
            StringBuilder err = new StringBuilder();
            String types = readUntilReadyOrError(new DataInputStream(s.getInputStream()), err);
            assertThat(types).isEqualTo("E");
            assertThat(err.toString()).contains("replication connections are not allowed");
        }
    }

    @Test
    void garbageInsteadOfStartupGetsAProtocolErrorAndClose() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            DataInputStream in = new DataInputStream(s.getInputStream());
            StringBuilder err = new StringBuilder();
            assertThat(readUntilReadyOrError(in, err)).isEqualTo("E");
            assertThat(err.toString()).contains("08P01");
            assertThat(in.read()).isEqualTo(-1);
        } catch (EOFException e) {
            throw new AssertionError("expected an ErrorResponse before the close", e);
        }
    }

    @Test
    void unknownMessageTypeAfterStartupClosesWithProtocolViolation() throws Exception {
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.write(startup(StartupPacket.PROTOCOL_3_0, params()));
            assertThat(readUntilReadyOrError(in, new StringBuilder())).endsWith("Z");
            out.writeByte('@');
            out.writeInt(4);
            StringBuilder err = new StringBuilder();
            assertThat(readUntilReadyOrError(in, err)).isEqualTo("E");
            assertThat(err.toString()).contains("invalid frontend message type");
        }
    }
}
