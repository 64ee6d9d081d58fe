import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
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

/**
 * The floor of a Netty io_uring proxy on the benchmark's path: one event-loop thread relaying bytes between each
 * client and its own upstream connection, with no parsing, policy or audit. A measuring tool, not a product
 * (docs/benchmarks.md, "Eighth session"); the upstream must trust the client (no authentication is done here):
 * {@code java -cp sidecar-proxy/target/dbwarden-proxy.jar bench/RelayFloor.java LISTEN_PORT UPSTREAM_PORT [MODE]}
 * with MODE {@code poll-first} (io_uring, the default), {@code ring} (io_uring receiving into a provided-buffer ring as
 * the proxy does by default: group 0, 32 buffers growing to 256) or {@code epoll}.
 */
public final class RelayFloor {
    public static void main(String[] args) throws InterruptedException {
        int listen = Integer.parseInt(args[0]);
        int upstreamPort = Integer.parseInt(args[1]);
        String mode = args.length > 2 ? args[2] : "poll-first";
        boolean epoll = mode.equals("epoll");
        boolean ring = mode.equals("ring");
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
                        client.pipeline().addLast(new ClientSide(upstreamPort, socket, ring));
                    }
                })
                .bind("127.0.0.1", listen).sync().channel().closeFuture().sync();
    }

    /** Writes what one side reads to the other side, flushes at the end of each read, closes it with this one. */
    private static class Forward extends ChannelInboundHandlerAdapter {
        Channel peer;

        Forward(Channel peer) {
            this.peer = peer;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            peer.write(msg);
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

        ClientSide(int upstreamPort, Class<? extends Channel> socket, boolean ring) {
            super(null);
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
                    .handler(new Forward(client))
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
}
