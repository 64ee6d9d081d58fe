package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.dbwarden.proxy.testing.FakeServer.proxyInFrontOf;
import static io.dbwarden.proxy.testing.FakeServer.readMessage;
import static io.dbwarden.proxy.testing.FakeServer.readUntilReady;
import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.message;
import static io.dbwarden.proxy.testing.RawPg.startup;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the client gets once its session is set up: the server's parameters (values the proxy decoded and encodes
 * again, multi-byte ones included), the proxy's own cancel key instead of the server's, the server's start-up
 * notices before the first ReadyForQuery, in the order a server sends them. Byte for byte over a raw socket against a
 * scripted server.
 */
@ExtendWith(LeakDetection.class)
class SessionStartTest {
    private static final String[][] PARAMETERS = {
            {"server_version", "16.4"}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
            {"standard_conforming_strings", "on"}, {"application_name", "räksmörgås ☃ 𝄞 app"},
            {"session_authorization", "ünïcode_user"}, {"TimeZone", "Europe/Zürich"}};

    @Test
    void theClientGetsTheServersParametersTheProxysCancelKeyAndReadyInOneGreeting() throws Exception {
        List<byte[]> greeting = greetingFrom(utf8Parameters(), false);
        assertThat(types(greeting)).isEqualTo("R" + "S".repeat(PARAMETERS.length) + "KZ");
        assertThat(ByteBuffer.wrap(greeting.get(0), 5, 4).getInt()).as("AuthenticationOk").isZero();
        assertThat(parameters(greeting)).containsExactlyInAnyOrderEntriesOf(expectedParameters());
        byte[] key = greeting.get(greeting.size() - 2);
        assertThat(key).hasSize(13);
        assertThat(ByteBuffer.wrap(key, 5, 4).getInt()).as("not the server's pid").isNotEqualTo(4242);
        assertThat(greeting.get(greeting.size() - 1)).containsExactly('Z', 0, 0, 0, 5, 'I');
    }

    @Test
    void theServersStartUpNoticesComeAfterTheCancelKeyAndBeforeReady() throws Exception {
        List<byte[]> greeting = greetingFrom(utf8Parameters(), true);
        assertThat(types(greeting)).isEqualTo("R" + "S".repeat(PARAMETERS.length) + "KNZ");
        assertThat(parameters(greeting)).containsExactlyInAnyOrderEntriesOf(expectedParameters());
        String notice = new String(greeting.get(greeting.size() - 2), StandardCharsets.UTF_8);
        assertThat(notice).contains("Mwelcome, ünïcode_user");
        assertThat(greeting.get(greeting.size() - 1)).containsExactly('Z', 0, 0, 0, 5, 'I');
    }

    @Test
    void parameterValuesInTheClientsSingleByteEncodingReachItByteForByte() throws Exception {
        // the server sends values in the client's encoding: here LATIN1, where é is the single byte 0xE9
        List<byte[]> sent = List.of(message('S', "server_encoding\0UTF8\0"), message('S', "client_encoding\0LATIN1\0"),
                message('S', "standard_conforming_strings\0on\0"), message('S', "application_name\0café crème\0"),
                message('S', "session_authorization\0jürgen\0"));
        List<byte[]> greeting = greetingFrom(sent, false);
        assertThat(types(greeting)).isEqualTo("RSSSSSKZ");
        for (byte[] s : sent) {
            assertThat(greeting).as("exactly as the server sent it").anySatisfy(m -> assertThat(m).isEqualTo(s));
        }
    }

    private static List<byte[]> utf8Parameters() {
        List<byte[]> messages = new ArrayList<>();
        for (String[] p : PARAMETERS) {
            messages.add(message('S', cstrings(p)));
        }
        return messages;
    }

    /** Everything the proxy sends a raw client up to its first ReadyForQuery, the server scripted. */
    private static List<byte[]> greetingFrom(List<byte[]> parameters, boolean withNotice) throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofPlatform().daemon().start(() -> serve(fake, parameters, withNotice));
            try (RunningProxy proxy = proxyInFrontOf(fake); Socket s = new Socket("127.0.0.1", proxy.port())) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write(startup());
                s.getOutputStream().flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                List<byte[]> greeting = readUntilReady(in);
                // and the session works
                s.getOutputStream().write(message('Q', cstrings("SELECT 1")));
                s.getOutputStream().flush();
                assertThat(types(readUntilReady(in))).isEqualTo("CZ");
                return greeting;
            } finally {
                server.join(5_000);
            }
        }
    }

    private static void serve(ServerSocket fake, List<byte[]> parameters, boolean withNotice) {
        try (Socket upstream = fake.accept()) {
            DataInputStream in = new DataInputStream(upstream.getInputStream());
            OutputStream out = upstream.getOutputStream();
            in.readNBytes(in.readInt() - 4);
            ByteArrayOutputStream hello = new ByteArrayOutputStream();
            hello.writeBytes(message('R', ByteBuffer.allocate(4).putInt(0).array()));
            parameters.forEach(hello::writeBytes);
            hello.writeBytes(message('K', ByteBuffer.allocate(8).putInt(4242).putInt(7).array()));
            if (withNotice) {
                hello.writeBytes(message('N',
                        cstrings("SNOTICE", "VNOTICE", "C00000", "Mwelcome, ünïcode_user", "")));
            }
            hello.writeBytes(message('Z', new byte[] {'I'}));
            out.write(hello.toByteArray());
            out.flush();
            while (true) {
                byte[] m = readMessage(in);
                if (m[0] == 'X') {
                    return;
                }
                if (m[0] == 'Q') {
                    out.write(message('C', cstrings("SELECT 1")));
                    out.write(message('Z', new byte[] {'I'}));
                    out.flush();
                }
            }
        } catch (java.io.IOException e) {
            // the proxy hung up
        }
    }

    private static String types(List<byte[]> messages) {
        StringBuilder b = new StringBuilder();
        messages.forEach(m -> b.append((char) m[0]));
        return b.toString();
    }

    private static Map<String, String> parameters(List<byte[]> messages) {
        Map<String, String> found = new LinkedHashMap<>();
        for (byte[] m : messages) {
            if (m[0] == 'S') {
                assertThat(ByteBuffer.wrap(m, 1, 4).getInt()).as("length").isEqualTo(m.length - 1);
                List<String> parts = new ArrayList<>();
                int start = 5;
                for (int i = 5; i < m.length; i++) {
                    if (m[i] == 0) {
                        parts.add(new String(m, start, i - start, StandardCharsets.UTF_8));
                        start = i + 1;
                    }
                }
                assertThat(parts).as("name and value, each NUL-terminated, nothing after").hasSize(2);
                assertThat(start).isEqualTo(m.length);
                found.put(parts.get(0), parts.get(1));
            }
        }
        return found;
    }

    private static Map<String, String> expectedParameters() {
        Map<String, String> expected = new LinkedHashMap<>();
        for (String[] p : PARAMETERS) {
            expected.put(p[0], p[1]);
        }
        return expected;
    }
}
