package io.dbwarden.proxy.admin;

import io.dbwarden.proxy.config.HostPort;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Health and metrics over plain HTTP on a separate port: {@code /healthz} (liveness), {@code /readyz} (ready to
 * serve: listening, policy loaded) and {@code /metrics} (Prometheus text format).
 */
public final class AdminServer implements AutoCloseable {
    private final EventLoopGroup group;
    private final Channel channel;

    private AdminServer(EventLoopGroup group, Channel channel) {
        this.group = group;
        this.channel = channel;
    }

    public static AdminServer start(HostPort listen, ProxyMetrics metrics, BooleanSupplier ready) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            Channel ch = io.dbwarden.proxy.internal.Listening.bind(new ServerBootstrap().group(group)
                    .channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            c.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192),
                                    new Handler(metrics, ready));
                        }
                    }), listen, "--admin-listen");
            return new AdminServer(group, ch);
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
    }

    public int port() {
        return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final ProxyMetrics metrics;
        private final BooleanSupplier ready;

        Handler(ProxyMetrics metrics, BooleanSupplier ready) {
            this.metrics = metrics;
            this.ready = ready;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            String path = new QueryStringDecoder(req.uri()).path();
            FullHttpResponse resp;
            if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
                resp = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "only GET is supported\n", "text/plain");
            } else {
                resp = switch (path) {
                    case "/healthz", "/livez" -> text(HttpResponseStatus.OK, "ok\n", "text/plain");
                    case "/readyz" -> ready.getAsBoolean()
                            ? text(HttpResponseStatus.OK, "ready\n", "text/plain")
                            : text(HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n", "text/plain");
                    case "/metrics" -> text(HttpResponseStatus.OK, metrics.render(),
                            "text/plain; version=0.0.4; charset=utf-8");
                    default -> text(HttpResponseStatus.NOT_FOUND, "not found\n", "text/plain");
                };
            }
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            HttpUtil.setKeepAlive(resp, keepAlive);
            var f = ctx.writeAndFlush(resp);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }

        private static FullHttpResponse text(HttpResponseStatus status, String body, String contentType) {
            FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                    Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            return r;
        }
    }
}
