import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.uring.IoUringAdaptiveBufferRingAllocator;
import io.netty.channel.uring.IoUringBufferRingConfig;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoHandlerConfig;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.channel.unix.UnixChannel;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;

/**
 * The floor of a Netty io_uring proxy on the benchmark's path: one event-loop thread relaying bytes between each
 * client and its own upstream connection, with no parsing, policy or audit. A measuring tool, not a product
 * (docs/benchmarks.md, "Eighth session"); the upstream must trust the client (no authentication is done here):
 * {@code java -cp sidecar-proxy/target/dbwarden-proxy.jar bench/RelayFloor.java LISTEN_PORT UPSTREAM_PORT [MODE]}
 * with MODE {@code poll-first} (io_uring, the default), {@code ring} (io_uring receiving into a provided-buffer ring as
 * the proxy does by default: group 0, 32 buffers growing to 256), {@code ring-direct} (the same, but a message is
 * written to the other socket at once with a {@code write(2)} on the event loop when nothing is queued for it, as an
 * epoll loop does, instead of queueing a send for the end of the loop's batch), {@code epoll}, or {@code blocking}
 * (no Netty: two threads per client blocked in {@code read(2)} on one socket and writing to the other, with
 * {@code -Dspin=NANOS} of busy work added per message; docs/benchmarks.md, "Twenty-fifth session").
 */
public final class RelayFloor {
    public static void main(String[] args) throws InterruptedException {
        int listen = Integer.parseInt(args[0]);
        int upstreamPort = Integer.parseInt(args[1]);
        String mode = args.length > 2 ? args[2] : "poll-first";
        if (mode.equals("blocking")) {
            blocking(listen, upstreamPort, Long.getLong("spin", 0));
            return;
        }
        boolean epoll = mode.equals("epoll");
        boolean ring = mode.startsWith("ring");
        boolean direct = mode.equals("ring-direct");
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, epoll ? EpollIoHandler.newFactory()
                : ring ? IoUringIoHandler.newFactory(new IoUringIoHandlerConfig().setBufferRingConfig(
                        IoUringBufferRingConfig.builder().bufferGroupId((short) 0).bufferRingSize((short) 256)
                                .batchSize(32).allocator(new IoUringAdaptiveBufferRingAllocator()).build()))
                : IoUringIoHandler.newFactory());
        Class<? extends ServerChannel> server = epoll ? EpollServerSocketChannel.class
                : IoUringServerSocketChannel.class;
        Class<? extends Channel> socket = epoll ? EpollSocketChannel.class : IoUringSocketChannel.class;
        ServerBootstrap b = new ServerBootstrap().group(group).channel(server);
        if (ring) {
            b.childOption(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID, (short) 0);
        }
        b.childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel client) {
                        client.pipeline().addLast(new ClientSide(upstreamPort, socket, ring, direct));
                    }
                })
                .bind("127.0.0.1", listen).sync().channel().closeFuture().sync();
    }

    /** Writes what one side reads to the other side, flushes at the end of each read, closes it with this one. */
    private static class Forward extends ChannelInboundHandlerAdapter {
        Channel peer;
        final boolean direct;

        Forward(Channel peer, boolean direct) {
            this.peer = peer;
            this.direct = direct;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (direct && msg instanceof ByteBuf buf && nothingQueued(peer)) {
                ByteBuffer nio = buf.internalNioBuffer(buf.readerIndex(), buf.readableBytes());
                try {
                    buf.skipBytes(((UnixChannel) peer).fd().write(nio, nio.position(), nio.limit()));
                } catch (IOException e) {
                    buf.release();
                    peer.close();
                    return;
                }
                if (!buf.isReadable()) {
                    buf.release();
                    return;
                }
            }
            peer.write(msg); // the rest, after what was written at once
        }

        private static boolean nothingQueued(Channel channel) {
            ChannelOutboundBuffer queued = channel.unsafe().outboundBuffer();
            return queued != null && queued.size() == 0 && queued.totalPendingWriteBytes() == 0;
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer.flush();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (peer != null) {
                peer.close();
            }
        }
    }

    /** The client's side: connects its own upstream connection, then reads (auto-read is off until then). */
    private static final class ClientSide extends Forward {
        private final int upstreamPort;
        private final Class<? extends Channel> socket;
        private final boolean ring;

        ClientSide(int upstreamPort, Class<? extends Channel> socket, boolean ring, boolean direct) {
            super(null, direct);
            this.upstreamPort = upstreamPort;
            this.socket = socket;
            this.ring = ring;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel client = ctx.channel();
            Bootstrap b = new Bootstrap().group(client.eventLoop()).channel(socket);
            if (ring) {
                b.option(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID, (short) 0);
            }
            b.option(ChannelOption.TCP_NODELAY, true)
                    .handler(new Forward(client, direct))
                    .connect("127.0.0.1", upstreamPort)
                    .addListener((ChannelFutureListener) f -> {
                        if (!f.isSuccess()) {
                            client.close();
                            return;
                        }
                        peer = f.channel();
                        client.config().setAutoRead(true);
                    });
        }
    }

    /** Plain blocking sockets, two threads per client; {@code spinNanos} of busy work before each write. */
    private static void blocking(int listen, int upstreamPort, long spinNanos) {
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress("127.0.0.1", listen), 128);
            while (true) {
                Socket client = server.accept();
                Socket upstream = new Socket();
                try {
                    client.setTcpNoDelay(true);
                    upstream.setTcpNoDelay(true);
                    upstream.connect(new InetSocketAddress("127.0.0.1", upstreamPort));
                } catch (IOException e) {
                    client.close();
                    upstream.close();
                    continue;
                }
                Thread.ofPlatform().daemon().start(() -> pump(client, upstream, spinNanos));
                Thread.ofPlatform().daemon().start(() -> pump(upstream, client, spinNanos));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void pump(Socket from, Socket to, long spinNanos) {
        byte[] buffer = new byte[1 << 16];
        try (from; to) {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) > 0; ) {
                for (long until = System.nanoTime() + spinNanos; System.nanoTime() - until < 0; ) {
                    Thread.onSpinWait();
                }
                out.write(buffer, 0, n);
            }
        } catch (IOException e) {
            // either side closed: both are closed on the way out
        }
    }
}
