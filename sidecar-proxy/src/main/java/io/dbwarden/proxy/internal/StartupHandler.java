package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.postgres.PgFrameDecoder;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.postgres.PgProtocolException;
import io.dbwarden.proxy.postgres.StartupDecoder;
import io.dbwarden.proxy.postgres.StartupPacket;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The start-up phase of a client connection: answers SSLRequest (TLS if configured) and GSSENCRequest (always
 * refused), forwards CancelRequest, and on the StartupMessage hands the connection to {@link FrontendHandler}
 * behind a {@link PgFrameDecoder}, then removes itself.
 */
final class StartupHandler extends ByteToMessageDecoder {
    private static final Logger LOG = LoggerFactory.getLogger(StartupHandler.class);
    private final ProxyRuntime runtime;
    private boolean tlsNegotiated;
    /** When the start-up limit ends (System.nanoTime), password included: the front end takes it over. */
    private long dueNanos;

    StartupHandler(ProxyRuntime runtime) {
        this.runtime = runtime;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        long millis = runtime.config().handshakeTimeout().toMillis();
        dueNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        runtime.timeouts().set(this, ctx.executor(), () -> {
            if (!ctx.isRemoved()) { // not once the start-up is done
                LOG.debug("client did not complete startup in time: remote={}", ctx.channel().remoteAddress());
                ctx.close();
            }
        }, millis);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        runtime.timeouts().clear(this);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        StartupPacket packet = StartupDecoder.decode(in);
        if (packet == null) {
            return;
        }
        switch (packet) {
            case StartupPacket.SslRequest ignored -> onSslRequest(ctx, in);
            case StartupPacket.GssEncRequest ignored -> ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[]{'N'}));
            case StartupPacket.CancelRequest cancel -> {
                runtime.cancelRegistry().cancel(cancel.processId(), cancel.secretKey(), ctx.channel().eventLoop(),
                        runtime.upstreamChannelType());
                in.skipBytes(in.readableBytes());
                ctx.close();
            }
            case StartupPacket.StartupMessage startup -> onStartup(ctx, startup);
        }
    }

    private void onSslRequest(ChannelHandlerContext ctx, ByteBuf in) {
        if (tlsNegotiated) {
            throw new PgProtocolException(PgError.PROTOCOL_VIOLATION, "SSLRequest after TLS was established");
        }
        SslContext tls = runtime.clientSslContext();
        if (tls == null) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[]{'N'}));
            return;
        }
        if (in.isReadable()) {
            // CVE-2021-23214: bytes pipelined before the handshake would be treated as encrypted otherwise
            throw new PgProtocolException(PgError.PROTOCOL_VIOLATION, "received unencrypted data after SSL request");
        }
        tlsNegotiated = true;
        ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[]{'S'}));
        SslHandler ssl = tls.newHandler(ctx.alloc());
        ctx.pipeline().addBefore(ctx.name(), "client-tls", ssl);
    }

    private void onStartup(ChannelHandlerContext ctx, StartupPacket.StartupMessage startup) {
        if (runtime.config().clientTlsRequired() && !tlsNegotiated) {
            fatal(ctx, PgError.fatal(PgError.INVALID_AUTHORIZATION,
                    "dbwarden: this proxy accepts only TLS connections",
                    "Connect with sslmode=require (or stronger)."));
            return;
        }
        if (runtime.shuttingDown().get()) {
            // as a server shutting down answers (open sessions finish; cancel requests still go through)
            fatal(ctx, PgError.fatal(PgError.CANNOT_CONNECT_NOW, "dbwarden: the proxy is shutting down",
                    "Connect again in a moment; open sessions may finish their work meanwhile."));
            return;
        }
        if (startup.parameters().containsKey("replication")
                && !"false".equalsIgnoreCase(startup.parameters().get("replication"))
                && !"0".equals(startup.parameters().get("replication"))) {
            fatal(ctx, PgError.fatal(PgError.FEATURE_NOT_SUPPORTED,
                    "dbwarden: replication connections are not allowed through the proxy"));
            return;
        }
        if (startup.parameters().get("user") == null || startup.parameters().get("user").isEmpty()) {
            fatal(ctx, PgError.fatal(PgError.INVALID_AUTHORIZATION, "no PostgreSQL user name specified in startup packet"));
            return;
        }
        FrontendHandler frontend = new FrontendHandler(runtime, startup, tlsNegotiated, dueNanos);
        ctx.pipeline().addAfter(ctx.name(), "frame", new PgFrameDecoder(runtime.config().maxMessageLength()));
        ctx.pipeline().addAfter("frame", "frontend", frontend);
        ctx.pipeline().remove(this);
    }

    private static void fatal(ChannelHandlerContext ctx, PgError error) {
        ctx.writeAndFlush(PgMessages.errorResponse(ctx.alloc(), error)).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof PgProtocolException p) {
            runtime.metrics().protocolError();
            LOG.info("closing client connection in startup: remote={} reason={}", ctx.channel().remoteAddress(),
                    p.getMessage());
            if (!tlsNegotiated || ctx.pipeline().get(SslHandler.class) != null) {
                fatal(ctx, PgError.fatal(p.sqlState(), p.getMessage()));
                return;
            }
        } else {
            LOG.debug("client connection failed in startup: remote={} error={}", ctx.channel().remoteAddress(),
                    c.toString());
        }
        ctx.close();
    }
}
