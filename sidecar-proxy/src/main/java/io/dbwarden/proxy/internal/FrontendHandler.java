package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.ClientAuthMode;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.postgres.FrontendMessageType;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.postgres.PgProtocolException;
import io.dbwarden.proxy.postgres.PgFrameDecoder;
import io.dbwarden.proxy.postgres.StartupPacket;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.Map;
import java.util.Set;

/**
 * The client side of a proxied connection: client authentication, the upstream connection, and then the relay
 * of client messages through the statement filters ({@link ClientRelay}).
 */
final class FrontendHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(FrontendHandler.class);

    /** Startup parameters passed on to the database; anything else (options, GUCs) could bypass policy. */
    private static final Set<String> FORWARDED_STARTUP_PARAMETERS = Set.of("application_name", "client_encoding",
            "DateStyle", "datestyle", "TimeZone", "timezone", "IntervalStyle", "extra_float_digits",
            "fallback_application_name");

    private final ProxyRuntime runtime;
    private final StartupPacket.StartupMessage startup;
    private final boolean clientTls;
    /** When the client's start-up limit ends (System.nanoTime), set when it connected. */
    private final long startupDueNanos;
    private ConnectionState state;
    /** The policy's session settings the upstream session was started with (see {@link SessionInfo}). */
    private Map<String, String> pinnedSettings;
    private ChannelHandlerContext ctx;
    private Channel upstream;
    private ClientRelay relay;
    private final List<ByteBuf> heldDuringConnect = new ArrayList<>();
    private int[] proxyCancelKey;
    /** The database's cancel key of the upstream connection {pid, secret}. */
    private int[] upstreamCancelKey;
    /** What the upstream connection was made with (see {@link UpstreamPool}). */
    private UpstreamPool.Key poolKey;
    private final ChannelFutureListener upstreamCloseListener = cf -> onUpstreamClosed();
    /** A cancel request of this session went to the database: it may still arrive, so the connection is not reused. */
    private volatile boolean cancelForwarded;
    private boolean counted;
    /** What ended the session, for the audit of statements the server had not answered (null: the client). */
    private PgError endedBy;

    FrontendHandler(ProxyRuntime runtime, StartupPacket.StartupMessage startup, boolean clientTls,
                    long startupDueNanos) {
        this.runtime = runtime;
        this.startup = startup;
        this.clientTls = clientTls;
        this.startupDueNanos = startupDueNanos;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        runtime.metrics().connectionOpened();
        counted = true;
        ProxyConfig cfg = runtime.config();
        List<String> unsupportedOptions = startup.parameters().keySet().stream()
                .filter(k -> k.startsWith("_pq_.")).toList();
        if (startup.minorVersion() > 0 || !unsupportedOptions.isEmpty()) {
            ctx.write(PgMessages.negotiateProtocolVersion(ctx.alloc(), StartupPacket.PROTOCOL_3_0, unsupportedOptions));
        }
        boolean loopback = isLoopback(ctx.channel());
        if (cfg.clientAuth() == ClientAuthMode.TRUST) {
            if (!loopback && !cfg.allowRemoteTrust()) {
                runtime.metrics().clientAuthFailed();
                fatal(PgError.fatal(PgError.INVALID_AUTHORIZATION,
                        "dbwarden: trust authentication is accepted only from loopback clients",
                        "Connect through localhost (sidecar), or configure client password authentication."));
                return;
            }
            connectUpstream();
        } else {
            if (!loopback && !clientTls) {
                runtime.metrics().clientAuthFailed();
                fatal(PgError.fatal(PgError.INVALID_AUTHORIZATION,
                        "dbwarden: password authentication from a remote client requires TLS",
                        "Connect with sslmode=require; the proxy needs a client TLS certificate configured."));
                return;
            }
            state = new ConnectionState.AwaitingPassword();
            // what is left of the start-up limit covers the password too (PostgreSQL's authentication_timeout): a
            // client that never answers does not hold its connection for good
            runtime.timeouts().set(this, ctx.executor(), this::onAuthenticationTimeout,
                    Math.max(0, TimeUnit.NANOSECONDS.toMillis(startupDueNanos - System.nanoTime())));
            ctx.writeAndFlush(PgMessages.authenticationRequest(ctx.alloc(), 3));
        }
    }

    private static String addressText(java.net.SocketAddress a) {
        if (a instanceof InetSocketAddress isa) {
            return (isa.getAddress() != null ? isa.getAddress().getHostAddress() : isa.getHostString()) + ":"
                    + isa.getPort();
        }
        return a == null ? null : a.toString();
    }

    private static boolean isLoopback(Channel ch) {
        return !(ch.remoteAddress() instanceof InetSocketAddress isa)
                || (isa.getAddress() != null && isa.getAddress().isLoopbackAddress());
    }

    /** A batch of whole client messages (see {@link PgFrameDecoder}), each handled in the state it finds. */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf batch = (ByteBuf) msg;
        try {
            int end = batch.writerIndex();
            for (int i = batch.readerIndex(); i < end; ) {
                int length = PgFrameDecoder.frameLength(batch, i);
                ByteBuf frame = batch.retainedSlice(i, length);
                switch (state) {
                    case ConnectionState.Relaying ignored -> relay.onClientFrame(frame, batch, i, length);
                    case ConnectionState.AwaitingPassword ignored -> onPassword(frame);
                    case ConnectionState.ConnectingUpstream ignored -> heldDuringConnect.add(frame);
                    case ConnectionState.Closed ignored -> frame.release();
                    case null -> frame.release();
                }
                i += length;
            }
        } finally {
            if (relay != null) {
                relay.endClientBatch(); // before the batch goes: the run is a slice of it
            }
            batch.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (relay != null) {
            relay.flush();
        }
        ctx.fireChannelReadComplete();
    }

    private void onAuthenticationTimeout() {
        if (state instanceof ConnectionState.AwaitingPassword && ctx.channel().isActive()) {
            runtime.metrics().clientAuthFailed();
            LOG.info("client did not answer the password request in time: user={} remote={}",
                    startup.parameters().get("user"), ctx.channel().remoteAddress());
            fatal(PgError.fatal("57014", "dbwarden: canceling authentication due to timeout"));
        }
    }

    private void onPassword(ByteBuf frame) {
        runtime.timeouts().clear(this);
        try {
            if (FrontendMessageType.of(PgMessages.type(frame)) != FrontendMessageType.PASSWORD) {
                throw new PgProtocolException(PgError.PROTOCOL_VIOLATION,
                        "expected password response, got message type " + (char) PgMessages.type(frame));
            }
            ByteBuf body = frame.slice(frame.readerIndex() + 5, frame.readableBytes() - 5);
            String given = PgMessages.readCString(body, StandardCharsets.UTF_8);
            boolean ok = MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                    runtime.config().clientPassword().getBytes(StandardCharsets.UTF_8));
            if (!ok) {
                runtime.metrics().clientAuthFailed();
                LOG.info("client password authentication failed: user={} remote={}", startup.parameters().get("user"),
                        ctx.channel().remoteAddress());
                fatal(PgError.fatal(PgError.INVALID_PASSWORD, "password authentication failed for user \""
                        + startup.parameters().get("user") + "\""));
                return;
            }
        } finally {
            frame.release();
        }
        connectUpstream();
    }

    // ------------------------------------------------------------------ upstream connection

    private void connectUpstream() {
        state = new ConnectionState.ConnectingUpstream();
        ctx.channel().config().setAutoRead(false);
        ProxyConfig cfg = runtime.config();
        Map<String, String> params = upstreamStartupParameters(cfg);
        poolKey = new UpstreamPool.Key(cfg, params);
        UpstreamHandshake.Result reused = runtime.upstreamPool().take(ctx.channel().eventLoop(), poolKey);
        if (reused != null) {
            upstream = reused.channel();
            runtime.metrics().upstreamReused();
            // continued as a new connection's handshake would be: after this handler's start-up is done
            ctx.executor().execute(() -> onUpstreamReady(ctx.executor().newSucceededFuture(reused), params));
            return;
        }
        Promise<UpstreamHandshake.Result> ready = ctx.executor().newPromise();
        ready.addListener((Future<UpstreamHandshake.Result> f) -> onUpstreamReady(f, params));
        Bootstrap b = new Bootstrap()
                .group(ctx.channel().eventLoop())
                .channel(runtime.upstreamChannelType())
                .option(ChannelOption.TCP_NODELAY, true)
                // timed below, off the event loop (Netty's own connect timeout is a task scheduled on the loop)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 0)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        runtime.watchReceiveRing(ch);
                        ch.pipeline().addLast("handshake", new UpstreamHandshake(cfg.upstream(), cfg.upstreamTls(),
                                runtime.upstreamSslContext(), params, cfg.upstreamPassword(), cfg.maxMessageLength(),
                                cfg.handshakeTimeout().toMillis(), runtime.timeouts(), ready));
                    }
                });
        runtime.upstreamSocketOptions().forEach(o -> o.setOn(b));
        ChannelFuture connecting = b.connect(cfg.upstream().host(), cfg.upstream().port());
        long connectMillis = cfg.connectTimeout().toMillis();
        runtime.timeouts().set(connecting, ctx.executor(), () -> {
            if (!connecting.isDone()) { // this failure first: closing the channel then fails the connect too
                ready.tryFailure(new UpstreamHandshake.HandshakeException(PgError.CANNOT_CONNECT,
                        "could not connect to the database at " + cfg.upstream() + ": timed out after "
                                + connectMillis + " ms"));
                connecting.channel().close();
            }
        }, connectMillis);
        connecting.addListener((ChannelFutureListener) f -> {
            runtime.timeouts().clear(connecting);
            if (!f.isSuccess()) {
                ready.tryFailure(new UpstreamHandshake.HandshakeException(PgError.CANNOT_CONNECT,
                        "could not connect to the database at " + cfg.upstream() + ": "
                                + UpstreamHandshake.rootMessage(f.cause())));
            } else {
                upstream = f.channel();
            }
        });
    }

    private Map<String, String> upstreamStartupParameters(ProxyConfig cfg) {
        Map<String, String> params = new LinkedHashMap<>();
        String user = cfg.upstreamUser() != null ? cfg.upstreamUser() : startup.parameters().get("user");
        String database = cfg.upstreamDatabase() != null ? cfg.upstreamDatabase()
                : startup.parameters().getOrDefault("database", startup.parameters().get("user"));
        params.put("user", user);
        params.put("database", database);
        startup.parameters().forEach((k, v) -> {
            if (FORWARDED_STARTUP_PARAMETERS.contains(k)) {
                params.put(k, v);
            } else if (!k.equals("user") && !k.equals("database") && !k.startsWith("_pq_.")) {
                LOG.debug("startup parameter not forwarded upstream: name={}", k);
            }
        });
        Map<String, String> settings = runtime.sessionSettings().get();
        pinnedSettings = settings;
        if (!settings.isEmpty()) {
            StringBuilder options = new StringBuilder();
            settings.forEach((k, v) -> options.append(options.isEmpty() ? "" : " ").append("-c ")
                    .append(escapeOption(k)).append('=').append(escapeOption(v)));
            params.put("options", options.toString());
        }
        return params;
    }

    /** Backslash-escapes spaces and backslashes, as the server expects inside the options startup parameter. */
    private static String escapeOption(String s) {
        return s.replace("\\", "\\\\").replace(" ", "\\ ");
    }

    /**
     * What the client is told to look at when the proxy's own connection to the database failed, by the SQLSTATE the
     * database (or the proxy, for a connection that never got that far) gave: a full database and one that is
     * starting or stopping are worth a retry, wrong credentials or a missing database are not.
     */
    static String upstreamRefusalHint(String sqlState) {
        if (sqlState.startsWith("53")) {
            return "The database has no connection slot left for the proxy (max_connections, or the connection limit "
                    + "of the role or database); retry later, or raise the limit.";
        }
        if (sqlState.equals("57P03")) {
            return "The database is starting up, shutting down or in recovery; retry shortly.";
        }
        if (sqlState.startsWith("28")) {
            return "The database did not accept the proxy's own credentials; check the proxy's upstream user and "
                    + "password, and the database's pg_hba.conf entry for the proxy.";
        }
        if (sqlState.equals("3D000")) {
            return "The database named for the proxy's own connection does not exist; check the database the client "
                    + "asked for, or the proxy's --upstream-database.";
        }
        return "The proxy could not open its own connection to the database; check the proxy's upstream settings and "
                + "credentials.";
    }

    private void onUpstreamReady(Future<UpstreamHandshake.Result> f, Map<String, String> params) {
        if (!ctx.channel().isActive()) {
            if (f.isSuccess()) {
                f.getNow().notices().forEach(ByteBuf::release);
            }
            closeUpstream();
            return;
        }
        if (!f.isSuccess()) {
            runtime.metrics().upstreamFailed();
            String sqlState = f.cause() instanceof UpstreamHandshake.HandshakeException h ? h.sqlState : "08006";
            if (PgError.INVALID_PASSWORD.equals(sqlState) && runtime.configs().watchesFiles()) {
                // the password may have been rotated: look at the files now rather than at the next check
                GlobalEventExecutor.INSTANCE.execute(runtime.configs()::refresh);
            }
            LOG.warn("upstream connection failed: identity={} upstream={} error={}", runtime.config().identity(),
                    runtime.config().upstream(), f.cause().getMessage());
            fatal(PgError.fatal(sqlState, "dbwarden: " + f.cause().getMessage(), upstreamRefusalHint(sqlState)));
            return;
        }
        UpstreamHandshake.Result result = f.getNow();
        Channel up = result.channel();
        upstream = up;
        SessionInfo session = new SessionInfo(runtime.config().identity(), startup.parameters().get("user"),
                params.get("database"), params.get("user"), startup.parameters().getOrDefault("application_name", ""),
                addressText(ctx.channel().remoteAddress()), runtime.connectionIds().incrementAndGet(),
                pinnedSettings);
        relay = new ClientRelay(runtime, ctx, up, session);
        relay.onTerminate(this::handOffUpstream);
        for (Map.Entry<String, String> p : result.parameters().entrySet()) {
            if (!relay.acceptParameter(p.getKey(), p.getValue())) {
                result.notices().forEach(ByteBuf::release);
                return;
            }
        }
        if (up.pipeline().get("frame") == null) { // a reused connection has its decoder already
            up.pipeline().addLast("frame", new PgFrameDecoder(runtime.config().maxMessageLength()));
        }
        up.pipeline().addLast("backend", new BackendHandler(relay));
        up.closeFuture().addListener(upstreamCloseListener);
        upstreamCancelKey = new int[] {result.backendPid(), result.backendSecret()};
        Runnable onCancel = relay.cancelListener();
        proxyCancelKey = runtime.cancelRegistry().register(runtime.config().upstream(), result.backendPid(),
                result.backendSecret(), () -> {
                    cancelForwarded = true;
                    onCancel.run();
                });
        boolean notices = !result.notices().isEmpty();
        ctx.write(PgMessages.sessionStart(ctx.alloc(), result.parameters(), proxyCancelKey[0], proxyCancelKey[1],
                !notices));
        if (notices) { // the server's notices of the start-up, before the first ReadyForQuery as the server sent them
            result.notices().forEach(ctx::write);
            ctx.write(PgMessages.readyForQuery(ctx.alloc(), 'I'));
        }
        ctx.flush();
        state = new ConnectionState.Relaying();
        LOG.debug("session ready: connection={} identity={} database={} user={}", session.connectionId(),
                session.identity(), session.database(), session.upstreamUser());
        try {
            while (!heldDuringConnect.isEmpty()) {
                relay.onClientFrame(heldDuringConnect.remove(0)); // out of the list first: the relay owns it now
            }
        } catch (RuntimeException e) {
            // a malformed message sent behind the start-up: this runs in a listener, not a read, so the session is
            // ended here as a read error would end it (what is still held is released when the channel closes)
            exceptionCaught(ctx, e);
            return;
        }
        relay.flush();
        relay.updateClientAutoRead();
    }

    /**
     * The client ended the session with Terminate: if nothing is owed and the connection may serve another session,
     * it goes to the {@link UpstreamPool} (which resets it) and true is returned; else the caller sends Terminate.
     */
    private boolean handOffUpstream() {
        UpstreamPool pool = runtime.upstreamPool();
        Channel up = upstream;
        BackendHandler backend = up == null ? null : up.pipeline().get(BackendHandler.class);
        if (!pool.enabled() || backend == null || proxyCancelKey == null || !up.isActive() || cancelForwarded
                || !backend.idle() || !relay.upstreamReusable() || runtime.shuttingDown().get()
                || !poolKey.config().equals(runtime.config())) {
            return false;
        }
        // from now on a cancel request with this session's key goes nowhere (the next session gets its own key)
        runtime.cancelRegistry().unregister(proxyCancelKey[0]);
        proxyCancelKey = null;
        if (cancelForwarded) { // one came in meanwhile
            return false;
        }
        upstream = null;
        up.closeFuture().removeListener(upstreamCloseListener);
        up.pipeline().remove(backend);
        pool.reset(up, poolKey, relay.serverParameters(), upstreamCancelKey[0], upstreamCancelKey[1]);
        return true;
    }

    private void onUpstreamClosed() {
        if (state instanceof ConnectionState.Closed || !ctx.channel().isActive()) {
            return;
        }
        if (relay != null && !relay.terminating()) {
            LOG.info("database closed the connection: connection={}", relay.session().connectionId());
        }
        state = new ConnectionState.Closed();
        if (endedBy == null) {
            endedBy = PgError.fatal(PgError.CONNECTION_FAILURE,
                    "the database closed the connection before it answered");
        }
        if (relay != null && (relay.terminating() || relay.isEndExplained())) {
            ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        // lost without a word from the server (a crash, a network failure): the client is told rather than cut off
        ctx.writeAndFlush(PgMessages.errorResponse(ctx.alloc(), PgError.fatal(PgError.CONNECTION_FAILURE,
                "dbwarden: the database closed the connection unexpectedly",
                "The statement in progress, if any, may or may not have run. Connect again.")))
                .addListener(ChannelFutureListener.CLOSE);
    }

    /**
     * Ends the session on {@code client} at proxy shutdown (on its event loop). As a server's fast shutdown does: a
     * statement that may be running is cancelled in the database (closing the connection alone would let it run on,
     * and commit, unseen), the client gets FATAL 57P01, and the database connection ends with Terminate once the
     * cancel is sent, which rolls back an open transaction. A connection still in start-up is closed.
     */
    static void terminate(Channel client) {
        FrontendHandler h = client.pipeline().get(FrontendHandler.class);
        if (h == null) {
            client.close();
        } else {
            h.terminate();
        }
    }

    private void terminate() {
        if (state instanceof ConnectionState.Closed) {
            return;
        }
        PgError error = PgError.fatal(PgError.ADMIN_SHUTDOWN,
                "terminating connection because the dbwarden proxy is shutting down");
        endedBy = error;
        state = new ConnectionState.Closed(); // what the client sends from now on is dropped
        Channel up = upstream;
        upstream = null; // ended here, after the cancel, not by the client connection's close
        detachUpstream(up);
        boolean running = up != null && up.isActive() && relay != null && relay.tracker().statementMayBeRunning();
        Future<?> cancelled = running && proxyCancelKey != null
                ? runtime.cancelRegistry().cancelUpstream(proxyCancelKey[0], ctx.channel().eventLoop(),
                        runtime.upstreamChannelType())
                : ctx.executor().newSucceededFuture(null);
        ctx.writeAndFlush(PgMessages.errorResponse(ctx.alloc(), error));
        boolean established = relay != null; // before that the connection is still in its start-up exchange
        cancelled.addListener(f -> {
            if (up != null && up.isActive()) {
                if (running) {
                    // a COPY FROM STDIN waits for the client's data, not for the cancel: it fails (and rolls back)
                    up.write(PgMessages.copyFail(up.alloc(), "dbwarden proxy is shutting down"));
                }
                up.writeAndFlush(established ? PgMessages.terminate(up.alloc()) : io.netty.buffer.Unpooled.EMPTY_BUFFER)
                        .addListener(ChannelFutureListener.CLOSE);
            }
            ctx.close();
        });
    }

    /** No answer of the database is read for this session any more (it is ending). */
    private static void detachUpstream(Channel up) {
        if (up != null && up.pipeline().get("backend") != null) {
            up.pipeline().remove("backend");
        }
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (relay != null) {
            relay.updateUpstreamAutoRead();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        state = new ConnectionState.Closed();
        runtime.timeouts().clear(this);
        heldDuringConnect.forEach(ReferenceCountUtil::release);
        heldDuringConnect.clear();
        if (relay != null) {
            detachUpstream(upstream);
            PgError end = endedBy != null ? endedBy : PgError.fatal(PgError.CONNECTION_FAILURE,
                    "the client closed the connection before the database answered");
            relay.abandon(end.sqlState(), end.message());
            relay.release();
        }
        if (proxyCancelKey != null) {
            runtime.cancelRegistry().unregister(proxyCancelKey[0]);
        }
        if (counted) {
            counted = false;
            runtime.metrics().connectionClosed();
        }
        closeUpstream();
    }

    private void closeUpstream() {
        if (upstream != null && upstream.isActive()) {
            upstream.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof PgProtocolException p) {
            runtime.metrics().protocolError();
            LOG.info("closing client connection: remote={} reason={}", ctx.channel().remoteAddress(), p.getMessage());
            fatal(PgError.fatal(p.sqlState(), p.getMessage()));
        } else if (c instanceof IOException) {
            LOG.debug("client connection error: remote={} error={}", ctx.channel().remoteAddress(), c.toString());
            ctx.close();
        } else {
            LOG.error("unexpected error on client connection, closing it: remote={}", ctx.channel().remoteAddress(), c);
            fatal(PgError.fatal("XX000", "dbwarden: internal proxy error; the connection was closed"));
        }
    }

    private void fatal(PgError error) {
        state = new ConnectionState.Closed();
        if (endedBy == null) {
            endedBy = error;
        }
        ctx.writeAndFlush(PgMessages.errorResponse(ctx.alloc(), error)).addListener(ChannelFutureListener.CLOSE);
    }
}
