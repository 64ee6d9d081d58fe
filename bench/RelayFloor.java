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
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;

/**
 * The floor of a Netty io_uring proxy on the benchmark's path: one event-loop thread relaying bytes between each
 * client and its own upstream connection, with no parsing, policy or audit. A measuring tool, not a product
 * (docs/benchmarks.md, "Eighth session"); the upstream must trust the client (no authentication is done here):
 * {@code java -cp sidecar-proxy/target/dbwarden-proxy.jar bench/RelayFloor.java LISTEN_PORT UPSTREAM_PORT [epoll]}
 * (io_uring unless the third argument says epoll).
 */
public final class RelayFloor {
    public static void main(String[] args) throws InterruptedException {
        int listen = Integer.parseInt(args[0]);
        int upstreamPort = Integer.parseInt(args[1]);
        boolean epoll = args.length > 2 && args[2].equals("epoll");
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1,
                epoll ? EpollIoHandler.newFactory() : IoUringIoHandler.newFactory());
        Class<? extends ServerChannel> server = epoll ? EpollServerSocketChannel.class
                : IoUringServerSocketChannel.class;
        Class<? extends Channel> socket = epoll ? EpollSocketChannel.class : IoUringSocketChannel.class;
        new ServerBootstrap().group(group).channel(server)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel client) {
                        client.pipeline().addLast(new ClientSide(upstreamPort, socket));
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

        ClientSide(int upstreamPort, Class<? extends Channel> socket) {
            super(null);
            this.upstreamPort = upstreamPort;
            this.socket = socket;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel client = ctx.channel();
            new Bootstrap().group(client.eventLoop()).channel(socket)
                    .option(ChannelOption.TCP_NODELAY, true)
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
