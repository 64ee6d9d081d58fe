package io.dbwarden.proxy;

import io.dbwarden.proxy.config.ClientAuthMode;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.EOFException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.dbwarden.proxy.testing.FakeServer.readMessage;
import static io.dbwarden.proxy.testing.FakeServer.readUntilReady;
import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.message;
import static io.dbwarden.proxy.testing.RawPg.startup;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The start-up limits, per side: a client that connects and does not complete its start-up (or does not answer the
 * password request) is disconnected; a database that takes no connection, or does not complete the proxy's handshake,
 * fails the session with a clear error; a session that did start in time is not touched by its start-up's limit
 * afterwards. Over real sockets, with a 400 ms limit.
 */
@ExtendWith(LeakDetection.class)
class HandshakeTimeoutTest {
    private static final Duration LIMIT = Duration.ofMillis(400);

    @Test
    void aClientThatSaysNothingIsDisconnectedAfterTheLimit() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withTimeouts(Duration.ofSeconds(5), LIMIT), List.of(),
                List.of()); Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(10_000);
            long start = System.nanoTime();
            assertThat(s.getInputStream().read()).as("closed without a word").isEqualTo(-1);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(millis).as("not before the limit, and at most a tick or so after it")
                    .isGreaterThanOrEqualTo(LIMIT.toMillis() - 50).isLessThan(5_000);
        }
    }

    @Test
    void aClientThatStopsHalfWayThroughItsStartupIsDisconnectedToo() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withTimeouts(Duration.ofSeconds(5), LIMIT), List.of(),
                List.of()); Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(10_000);
            byte[] startup = startup();
            s.getOutputStream().write(startup, 0, startup.length - 3); // the length says more is coming
            s.getOutputStream().flush();
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
    }

    @Test
    void aClientThatNeverAnswersThePasswordRequestIsDisconnectedWithTheReason() throws Exception {
        try (RunningProxy proxy = passwordProxy(); Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataInputStream in = sendStartup(s);
            byte[] request = readMessage(in);
            assertThat((char) request[0]).isEqualTo('R');
            assertThat(ByteBuffer.wrap(request, 5, 4).getInt()).as("cleartext password requested").isEqualTo(3);
            byte[] error = readMessage(in); // after the limit, without an answer
            assertThat(new String(error, StandardCharsets.UTF_8)).contains("FATAL").contains("C57014")
                    .contains("canceling authentication due to timeout");
            assertThatThrownBy(() -> readMessage(in)).isInstanceOf(EOFException.class);
            assertThat(proxy.metrics.render()).contains("dbwarden_client_auth_failures_total 1");
        }
    }

    @Test
    void thePasswordPhaseGetsWhatIsLeftOfTheLimitNotAFreshOne() throws Exception {
        Duration limit = Duration.ofSeconds(1);
        try (RunningProxy proxy = RunningProxy.start(c -> c.withTimeouts(Duration.ofSeconds(5), limit)
                .withClientAuth(ClientAuthMode.PASSWORD, "client-pw", false), List.of(), List.of());
             Socket s = new Socket("127.0.0.1", proxy.port())) {
            long connected = System.nanoTime();
            Thread.sleep(800); // most of the limit spent before the StartupMessage
            DataInputStream in = sendStartup(s);
            assertThat((char) readMessage(in)[0]).isEqualTo('R');
            assertThat(new String(readMessage(in), StandardCharsets.UTF_8)).contains("C57014");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - connected))
                    .as("the limit counts from the connection (a fresh one would end after 1.8 s)").isLessThan(1_600);
        }
    }

    @Test
    void aClientThatAnswersThePasswordInTimeIsNotTouchedByTheLimitLater() throws Exception {
        try (RunningProxy proxy = passwordProxy(); Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(startup());
            s.getOutputStream().write(message('p', cstrings("client-pw")));
            s.getOutputStream().flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            assertThat((char) readMessage(in)[0]).isEqualTo('R');
            readUntilReady(in);
            Thread.sleep(LIMIT.toMillis() * 3);
            s.getOutputStream().write(message('Q', cstrings("SELECT 1")));
            s.getOutputStream().flush();
            List<byte[]> answer = readUntilReady(in);
            assertThat(answer.stream().map(m -> (char) m[0]).toList()).containsExactly('T', 'D', 'C', 'Z');
        }
    }

    @Test
    void aDatabaseThatTakesNoConnectionFailsTheSessionAfterTheConnectLimit() throws Exception {
        // a listening socket whose accept queue is full drops new connection requests: the connect hangs
        try (ServerSocket full = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            List<Socket> queued = new java.util.ArrayList<>();
            try {
                for (int i = 0; i < 4; i++) {
                    Socket filler = new Socket();
                    queued.add(filler);
                    try {
                        filler.connect(full.getLocalSocketAddress(), 300);
                    } catch (java.net.SocketTimeoutException queueFull) {
                        break;
                    }
                }
                try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstream(new HostPort("127.0.0.1",
                        full.getLocalPort())).withTimeouts(LIMIT, Duration.ofSeconds(5)), List.of(), List.of());
                     Socket s = new Socket("127.0.0.1", proxy.port())) {
                    long start = System.nanoTime();
                    DataInputStream in = sendStartup(s);
                    byte[] error = readMessage(in);
                    assertThat(new String(error, StandardCharsets.UTF_8)).contains("FATAL").contains("C08001")
                            .contains("could not connect to the database at 127.0.0.1:" + full.getLocalPort()
                                    + ": timed out after 400 ms");
                    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
                            .isGreaterThanOrEqualTo(LIMIT.toMillis() - 50).isLessThan(5_000);
                    assertThatThrownBy(() -> readMessage(in)).isInstanceOf(EOFException.class);
                }
            } finally {
                for (Socket q : queued) {
                    q.close();
                }
            }
        }
    }

    /** Sends a StartupMessage over {@code s}; what the proxy answers. */
    private static DataInputStream sendStartup(Socket s) throws java.io.IOException {
        s.setSoTimeout(10_000);
        s.getOutputStream().write(startup());
        s.getOutputStream().flush();
        return new DataInputStream(s.getInputStream());
    }

    /** A proxy asking clients for a password, with the short limit. */
    private static RunningProxy passwordProxy() {
        return RunningProxy.start(c -> c.withTimeouts(Duration.ofSeconds(5), LIMIT)
                .withClientAuth(ClientAuthMode.PASSWORD, "client-pw", false), List.of(), List.of());
    }

    @Test
    void aDatabaseThatNeverAnswersTheHandshakeFailsTheSessionWithAClearError() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            CountDownLatch accepted = new CountDownLatch(1);
            Thread server = Thread.ofPlatform().daemon().start(() -> {
                try (Socket upstream = silent.accept()) {
                    accepted.countDown();
                    upstream.getInputStream().readAllBytes(); // reads the start-up, answers nothing
                } catch (java.io.IOException e) {
                    // the proxy hung up
                }
            });
            try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstream(new HostPort("127.0.0.1",
                    silent.getLocalPort())).withTimeouts(Duration.ofSeconds(5), LIMIT), List.of(), List.of());
                 Socket s = new Socket("127.0.0.1", proxy.port())) {
                DataInputStream in = sendStartup(s);
                byte[] error = readMessage(in);
                assertThat((char) error[0]).isEqualTo('E');
                assertThat(new String(error, StandardCharsets.UTF_8)).contains("FATAL").contains("C08006")
                        .contains("timed out after 400 ms connecting to the database at 127.0.0.1:"
                                + silent.getLocalPort());
                assertThatThrownBy(() -> readMessage(in)).isInstanceOf(EOFException.class);
                assertThat(accepted.await(1, TimeUnit.SECONDS)).isTrue();
            }
            server.join(5_000);
            assertThat(server.isAlive()).as("the proxy closed its database connection too").isFalse();
        }
    }

    @Test
    void aSessionThatStartedInTimeOutlivesTheLimit() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withTimeouts(Duration.ofSeconds(5), LIMIT), List.of(),
                List.of()); Connection c = proxy.connect(); Statement st = c.createStatement()) {
            Thread.sleep(LIMIT.toMillis() * 3);
            try (ResultSet rs = st.executeQuery("SELECT 42")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(42);
            }
        }
    }
}
