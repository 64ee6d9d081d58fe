package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.FilterChain;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** Event loops, the listening socket and the per-connection pipeline of one proxy instance. */
public final class ProxyBootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(ProxyBootstrap.class);

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Channel serverChannel;
    private final ChannelGroup clients;

    private ProxyBootstrap(EventLoopGroup boss, EventLoopGroup workers, Channel serverChannel, ChannelGroup clients) {
        this.boss = boss;
        this.workers = workers;
        this.serverChannel = serverChannel;
        this.clients = clients;
    }

    public static ProxyBootstrap start(ProxyConfig config, FilterChain chain, ProxyMetrics metrics,
                                       java.util.function.Supplier<java.util.Map<String, String>> sessionSettings) {
        boolean epoll = Epoll.isAvailable() && !"nio".equals(System.getProperty("dbwarden.transport"));
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1,
                epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
        // one event loop per core by default: client and upstream channels of a session share one loop
        int threads = Integer.getInteger("dbwarden.worker.threads", Runtime.getRuntime().availableProcessors());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(threads,
                epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
        Class<? extends ServerChannel> serverType = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        Class<? extends Channel> clientType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        try {
            ProxyRuntime runtime = new ProxyRuntime(config, chain, new CancelRegistry(), metrics,
                    TlsContexts.forClients(config), TlsContexts.forUpstream(config), clientType,
                    new StatementCache(16_384, 64 * 1024), new AtomicLong(), sessionSettings);
            ChannelGroup clients = new DefaultChannelGroup("dbwarden-clients", GlobalEventExecutor.INSTANCE);
            ServerBootstrap b = new ServerBootstrap()
                    .group(boss, workers)
                    .channel(serverType)
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            clients.add(ch);
                            ch.pipeline().addLast("startup", new StartupHandler(runtime));
                        }
                    });
            Channel server = b.bind(config.listen().host(), config.listen().port()).syncUninterruptibly().channel();
            LOG.info("dbwarden proxy listening: address={} upstream={} transport={} identity={}",
                    server.localAddress(), config.upstream(), epoll ? "epoll" : "nio", config.identity());
            return new ProxyBootstrap(boss, workers, server, clients);
        } catch (RuntimeException e) {
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    public void close() {
        serverChannel.close().syncUninterruptibly();
        clients.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
