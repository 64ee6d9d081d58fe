package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.postgres.PgFrameDecoder;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The pool's timers (idle expiry, reset timeout) never sit on the event loop: a loop with a scheduled task pending
 * arms a kernel timeout with every wait for I/O, which every live session of the loop would pay for. Against a
 * scripted database over real sockets on the configured transport.
 */
@ExtendWith(LeakDetection.class)
class UpstreamPoolTimersTest {
    private static final UpstreamPool.Key KEY = new UpstreamPool.Key(
            ProxyConfig.simple(new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", 5432)),
            Map.of("user", "app", "database", "appdb"));

    private final Transport transport = Transport.configured();
    private EventLoops group;
    private EventLoops.Loop loop;
    private Channel server;
    /** What the scripted database received, per message: its type byte and, for a query, its text. */
    private final List<String> received = new CopyOnWriteArrayList<>();
    private volatile boolean answerReset = true;
    private final List<Channel> databaseSide = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        group = new EventLoops(1, "pool-timers-test", transport.ioHandlers().get());
        loop = (EventLoops.Loop) group.next();
        ServerBootstrap b = new ServerBootstrap().group(group).channel(transport.serverChannel());
        transport.socketOptions().forEach(o -> o.setOnChildren(b));
        server = b.childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        databaseSide.add(ch);
                        ch.pipeline().addLast(new PgFrameDecoder(1 << 20), new ScriptedDatabase());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
    }

    @AfterEach
    void stop() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void aPooledConnectionsIdleTimerWaitsOffTheEventLoopAndLeavesWhenTheConnectionIsTaken() throws Exception {
        UpstreamPool pool = new UpstreamPool(new UpstreamPooling(Duration.ofSeconds(60), 8));
        try {
            Channel up = kept(pool);
            assertThat(received).containsExactly("Q DISCARD ALL");
            assertThat(pool.pendingTimers()).as("the idle deadline, watched off the event loop").isEqualTo(1);
            assertThat(deadline()).as("nothing scheduled on the event loop").isEqualTo(-1L);

            UpstreamHandshake.Result taken = loop.submit(() -> pool.take(loop, KEY)).get(5, TimeUnit.SECONDS);
            assertThat(taken).isNotNull();
            assertThat(taken.channel()).isSameAs(up);
            assertThat(taken.backendPid()).isEqualTo(7);
            assertThat(pool.idleConnections()).isZero();
            assertThat(pool.pendingTimers()).as("a taken connection's timer is gone at once").isZero();
            assertThat(up.isActive()).isTrue();
            assertThat(deadline()).isEqualTo(-1L);
            // with no deadline left the timer thread stops looking (the tick is a second here)
            await().atMost(5, TimeUnit.SECONDS).until(() -> !pool.watching());
        } finally {
            pool.close();
        }
    }

    @Test
    void anIdleConnectionExpiresOnItsEventLoopAfterTheIdleTimeout() throws Exception {
        UpstreamPool pool = new UpstreamPool(new UpstreamPooling(Duration.ofMillis(300), 8));
        try {
            Channel up = kept(pool);
            assertThat(deadline()).isEqualTo(-1L);
            await().atMost(10, TimeUnit.SECONDS).until(() -> pool.idleConnections() == 0 && !up.isActive());
            assertThat(received).containsExactly("Q DISCARD ALL", "X"); // ended the way a client ends a session
            assertThat(pool.pendingTimers()).isZero();
            await().atMost(5, TimeUnit.SECONDS).until(() -> !pool.watching());
            assertThat(loop.submit(() -> pool.take(loop, KEY)).get(5, TimeUnit.SECONDS)).isNull();
        } finally {
            pool.close();
        }
    }

    @Test
    void aResetTheDatabaseDoesNotAnswerInTimeClosesTheConnection() throws Exception {
        answerReset = false;
        UpstreamPool pool = new UpstreamPool(new UpstreamPooling(Duration.ofSeconds(60), 8), 300);
        try {
            Channel up = connect();
            pool(pool, up);
            await().atMost(10, TimeUnit.SECONDS).until(() -> received.contains("Q DISCARD ALL"));
            assertThat(pool.pendingTimers()).as("the reset deadline, watched off the event loop").isEqualTo(1);
            assertThat(deadline()).isEqualTo(-1L);
            await().atMost(10, TimeUnit.SECONDS).until(() -> !up.isActive());
            assertThat(pool.idleConnections()).isZero();
            assertThat(pool.pendingTimers()).isZero();
        } finally {
            pool.close();
        }
    }

    @Test
    void aClosedPoolEndsConnectionsWhoseResetCompletesAfterwards() throws Exception {
        UpstreamPool pool = new UpstreamPool(new UpstreamPooling(Duration.ofSeconds(60), 8));
        answerReset = false;
        Channel up = connect();
        pool(pool, up);
        await().atMost(10, TimeUnit.SECONDS).until(() -> received.contains("Q DISCARD ALL"));
        pool.close(); // shutdown: the deadlines are dropped, nothing more is kept
        assertThat(pool.pendingTimers()).isZero();
        databaseSide.get(0).writeAndFlush(resetAnswer(databaseSide.get(0)));
        await().atMost(10, TimeUnit.SECONDS).until(() -> !up.isActive());
        assertThat(pool.idleConnections()).isZero();
        assertThat(received).containsExactly("Q DISCARD ALL", "X");
    }

    private Channel connect() {
        Bootstrap b = new Bootstrap().group(loop).channel(transport.socketChannel());
        transport.socketOptions().forEach(o -> o.setOn(b));
        return b.handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("frame", new PgFrameDecoder(1 << 20));
                    }
                })
                .connect(server.localAddress()).syncUninterruptibly().channel();
    }

    /** A new connection handed to {@code pool} as after a clean session, once the pool keeps it. */
    private Channel kept(UpstreamPool pool) throws Exception {
        Channel up = connect();
        pool(pool, up);
        await().atMost(10, TimeUnit.SECONDS).until(() -> pool.idleConnections() == 1);
        return up;
    }

    /** Hands {@code up} to the pool as a session that ended cleanly would, on its event loop. */
    private void pool(UpstreamPool pool, Channel up) throws Exception {
        loop.submit(() -> pool.reset(up, KEY, Map.of("server_version", "16.0"), 7, 8)).get(5, TimeUnit.SECONDS);
    }

    private long deadline() throws Exception {
        return loop.submit(loop::deadlineNanos).get(5, TimeUnit.SECONDS);
    }

    private static ByteBuf resetAnswer(Channel ch) {
        byte[] tag = "DISCARD ALL\0".getBytes(StandardCharsets.US_ASCII);
        ByteBuf out = ch.alloc().buffer();
        out.writeByte('C').writeInt(4 + tag.length).writeBytes(tag);
        ByteBuf ready = PgMessages.readyForQuery(ch.alloc(), 'I');
        try {
            out.writeBytes(ready); // copies: the message itself is ours to release
        } finally {
            ready.release();
        }
        return out;
    }

    /** Answers DISCARD ALL (unless told not to) and closes on Terminate. */
    private final class ScriptedDatabase extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf batch = (ByteBuf) msg;
            try {
                for (int i = batch.readerIndex(); i < batch.writerIndex(); i += PgFrameDecoder.frameLength(batch, i)) {
                    char type = (char) batch.getByte(i);
                    if (type == 'Q') {
                        ByteBuf frame = batch.slice(i, PgFrameDecoder.frameLength(batch, i));
                        String text = PgMessages.queryText(frame, StandardCharsets.UTF_8);
                        received.add("Q " + text);
                        if (answerReset) {
                            ctx.writeAndFlush(resetAnswer(ctx.channel()));
                        }
                    } else {
                        received.add(String.valueOf(type));
                        if (type == 'X') {
                            ctx.close();
                        }
                    }
                }
            } finally {
                batch.release();
            }
        }
    }
}
