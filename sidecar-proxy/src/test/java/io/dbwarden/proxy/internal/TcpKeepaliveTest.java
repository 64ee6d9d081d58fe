package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A peer gone without a word is noticed in minutes, not hours: the proxy's sockets on both sides probe an idle
 * peer, and its database connections can also be told to give up on data the database never acknowledges.
 */
@ExtendWith(LeakDetection.class)
class TcpKeepaliveTest {

    @Test
    void defaultsGiveUpOnASilentPeerAfterTwoMinutes() {
        TcpKeepalive k = TcpKeepalive.configured();
        assertThat(k).isEqualTo(new TcpKeepalive(60, 10, 6, 0));
        assertThat(k.deadAfterSeconds()).isEqualTo(120);
        assertThatThrownBy(() -> new TcpKeepalive(0, 10, 6, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-Ddbwarden.tcp.keepalive-idle-seconds");
        assertThatThrownBy(() -> new TcpKeepalive(60, 10, 200, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new TcpKeepalive(60, 10, 6, -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("-Ddbwarden.tcp.user-timeout-seconds");
        // no user timeout unless asked for: a database that stops reading (a COPY waiting on a lock) is not gone
        for (Transport t : List.of(Transport.IO_URING, Transport.EPOLL, Transport.NIO)) {
            assertThat(k.options(t, true)).noneMatch(o -> o.option().name().equals("TCP_USER_TIMEOUT"));
        }
        System.setProperty(TcpKeepalive.INTERVAL, "ten");
        try {
            assertThatThrownBy(TcpKeepalive::configured).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("-Ddbwarden.tcp.keepalive-interval-seconds must be a whole number, got 'ten'");
            System.setProperty(TcpKeepalive.INTERVAL, " 5 ");
            assertThat(TcpKeepalive.configured().deadAfterSeconds()).isEqualTo(90);
        } finally {
            System.clearProperty(TcpKeepalive.INTERVAL);
        }
    }

    /** The options each transport is given are the ones its sockets then have (read back from the kernel). */
    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "epoll", "nio"})
    void theOptionsTakeEffectOnARealSocket(String name) throws Exception {
        Transport transport = Transport.select(name);
        assumeTrue(transport.name().equals(name), name + " is not available here");
        TcpKeepalive keepalive = new TcpKeepalive(42, 7, 3, 9);
        List<TcpKeepalive.Option<?>> options = keepalive.options(transport, true);
        assertThat(options).hasSize(transport == Transport.NIO ? 4 : 5);
        assertThat(keepalive.options(transport, false)).as("the client side gets no user timeout").hasSize(4);
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, transport.ioHandlers().get());
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Bootstrap b = new Bootstrap().group(group).channel(transport.socketChannel())
                    .handler(new ChannelInboundHandlerAdapter());
            options.forEach(o -> o.setOn(b));
            Channel ch = b.connect(InetAddress.getLoopbackAddress(), server.getLocalPort()).sync().channel();
            try {
                for (TcpKeepalive.Option<?> o : options) {
                    assertThat(ch.config().getOption(o.option())).as(o.option().name()).isEqualTo(o.value());
                }
            } finally {
                ch.close().sync();
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    /**
     * Both sockets of a session through the proxy have the keepalive timer running with the proxy's idle time
     * (seen with {@code ss}, as an operator would look): the kernel's default would show two hours.
     */
    @Test
    void theProxysClientAndDatabaseSocketsProbeAnIdlePeer() throws Exception {
        assumeTrue(ssWorks(), "ss (iproute2) is not installed");
        try (RunningProxy proxy = RunningProxy.start(); Connection c = proxy.connect();
             Statement s = c.createStatement()) {
            s.execute("SELECT 1");
            // while data awaits its acknowledgement the socket shows the retransmission timer instead: wait for idle
            await().atMost(10, TimeUnit.SECONDS).until(() -> keepaliveSeconds("sport = :" + proxy.port()).size() == 1
                    && !keepaliveSeconds("dport = :" + EmbeddedPg.get().port()).isEmpty());
            assertThat(keepaliveSeconds("sport = :" + proxy.port())).as("the proxy's end of the client connection")
                    .singleElement().satisfies(seconds -> assertThat(seconds).isBetween(1, 60));
            assertThat(keepaliveSeconds("dport = :" + EmbeddedPg.get().port()))
                    .as("the proxy's connection to the database (no other has keepalive on)")
                    .anySatisfy(seconds -> assertThat(seconds).isBetween(1, 60));
        }
    }

    private static final Pattern KEEPALIVE = Pattern.compile("timer:\\(keepalive,(?:(\\d+)min)?(?:(\\d+)(sec|ms))?");

    /** Seconds left on the keepalive timer of each established TCP socket matching {@code filter}. */
    private static List<Integer> keepaliveSeconds(String filter) throws IOException, InterruptedException {
        List<Integer> seconds = new ArrayList<>();
        for (String line : ss("-tnoH", "state", "established", filter).split("\n")) {
            Matcher m = KEEPALIVE.matcher(line);
            if (m.find()) {
                int minutes = m.group(1) == null ? 0 : Integer.parseInt(m.group(1));
                int rest = m.group(2) == null ? 0 : "ms".equals(m.group(3)) ? 1 : Integer.parseInt(m.group(2));
                seconds.add(minutes * 60 + rest);
            }
        }
        return seconds;
    }

    private static boolean ssWorks() {
        try {
            ss("-V");
            return true;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static String ss(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ss"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("ss failed: " + out);
        }
        return out;
    }
}
