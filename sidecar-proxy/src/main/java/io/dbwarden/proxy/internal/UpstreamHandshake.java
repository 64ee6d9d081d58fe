package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.postgres.BackendMessageType;
import io.dbwarden.proxy.postgres.PgMessages;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Brings an upstream connection from TCP-connected to ReadyForQuery: optional TLS (SSLRequest), startup
 * message, and authentication with the credentials the proxy holds (SCRAM-SHA-256, MD5 or cleartext). Completes
 * its promise with the server's parameters and cancel key, then removes itself; frames that follow go to the
 * handlers installed after it.
 *
 * <pre>
 *   connected --SSLRequest--> AWAIT_TLS_ANSWER --'S'--> TLS handshake --+
 *       |                          '--'N' (if allowed)------------------+--> startup --> AUTHENTICATING
 *       '--(tls disabled)---------------------------------------------->'                   |
 *   AUTHENTICATING --AuthenticationOk--> AWAIT_READY --ReadyForQuery--> done (promise success)
 *   any ErrorResponse, timeout, close or bad input --> promise failure, channel closed
 * </pre>
 */
final class UpstreamHandshake extends ByteToMessageDecoder {
    /** What the client session needs of a ready upstream connection. */
    record Result(io.netty.channel.Channel channel, Map<String, String> parameters, int backendPid, int backendSecret, List<ByteBuf> notices) {
    }

    /** Failure with a message fit for the client (no secrets). */
    static final class HandshakeException extends Exception {
        final String sqlState;

        HandshakeException(String sqlState, String message) {
            super(message, null, false, false);
            this.sqlState = sqlState;
        }
    }

    private enum Phase { AWAIT_TLS_ANSWER, TLS_HANDSHAKE, AUTHENTICATING, AWAIT_READY }

    private final HostPort upstream;
    private final UpstreamTlsMode tlsMode;
    private final SslContext sslContext;
    private final Map<String, String> startupParameters;
    private final String password;
    private final int maxMessageLength;
    private final long timeoutMillis;
    private final Deadlines timeouts;
    private final Promise<Result> promise;

    private Phase phase;
    private ScramSha256Client scram;
    private final Map<String, String> parameters = new LinkedHashMap<>();
    private final List<ByteBuf> notices = new ArrayList<>();
    private int backendPid;
    private int backendSecret;

    UpstreamHandshake(HostPort upstream, UpstreamTlsMode tlsMode, SslContext sslContext,
                      Map<String, String> startupParameters, String password, int maxMessageLength,
                      long timeoutMillis, Deadlines timeouts, Promise<Result> promise) {
        this.upstream = upstream;
        this.tlsMode = tlsMode;
        this.sslContext = sslContext;
        this.startupParameters = startupParameters;
        this.password = password;
        this.maxMessageLength = maxMessageLength;
        this.timeoutMillis = timeoutMillis;
        this.timeouts = timeouts;
        this.promise = promise;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        // (a handshake done meanwhile has completed the promise: the failure is then ignored)
        timeouts.set(this, ctx.executor(), () -> fail(ctx, new HandshakeException("08006",
                "timed out after " + timeoutMillis + " ms connecting to the database at " + upstream)), timeoutMillis);
        if (tlsMode == UpstreamTlsMode.DISABLE) {
            sendStartup(ctx);
        } else {
            phase = Phase.AWAIT_TLS_ANSWER;
            ctx.writeAndFlush(PgMessages.sslRequest(ctx.alloc()));
        }
        super.channelActive(ctx);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (promise.isDone()) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (phase == Phase.AWAIT_TLS_ANSWER) {
            byte answer = in.readByte();
            if (in.isReadable()) {
                // CVE-2021-23222: nothing may follow the answer before the TLS handshake
                throw new HandshakeException("08P01", "database sent unencrypted data after its TLS answer");
            }
            if (answer == 'S') {
                phase = Phase.TLS_HANDSHAKE;
                SslHandler ssl = sslContext.newHandler(ctx.alloc(), upstream.host(), upstream.port());
                ctx.pipeline().addFirst("upstream-tls", ssl);
                ssl.handshakeFuture().addListener(f -> {
                    if (f.isSuccess()) {
                        sendStartup(ctx);
                    } else {
                        fail(ctx, new HandshakeException("08006", "TLS handshake with the database at " + upstream
                                + " failed: " + rootMessage(f.cause())));
                    }
                });
            } else if (answer == 'N' && !tlsMode.required()) {
                sendStartup(ctx);
            } else if (answer == 'N') {
                throw new HandshakeException("08001", "the database at " + upstream
                        + " does not support TLS, but upstream TLS mode is " + tlsMode.name().toLowerCase());
            } else {
                throw new HandshakeException("08P01", "unexpected answer to SSLRequest from the database");
            }
            return;
        }
        if (phase == Phase.TLS_HANDSHAKE) {
            throw new HandshakeException("08P01", "database sent data before the TLS handshake completed");
        }
        while (in.readableBytes() >= 5 && !promise.isDone()) {
            int length = in.getInt(in.readerIndex() + 1);
            if (length < 4 || length > maxMessageLength) {
                throw new HandshakeException("08P01", "invalid message length " + length + " from the database");
            }
            if (in.readableBytes() < length + 1) {
                return;
            }
            ByteBuf frame = in.readSlice(length + 1);
            onMessage(ctx, frame);
        }
    }

    private void onMessage(ChannelHandlerContext ctx, ByteBuf frame) throws HandshakeException {
        BackendMessageType type = BackendMessageType.of(PgMessages.type(frame));
        switch (type) {
            case AUTHENTICATION -> onAuthentication(ctx, frame);
            case PARAMETER_STATUS -> {
                Map.Entry<String, String> p = PgMessages.parameterStatus(frame);
                parameters.put(p.getKey(), p.getValue());
            }
            case BACKEND_KEY_DATA -> {
                if (frame.readableBytes() != 13) {
                    throw new HandshakeException("08P01", "unsupported cancel key length from the database");
                }
                backendPid = frame.getInt(frame.readerIndex() + 5);
                backendSecret = frame.getInt(frame.readerIndex() + 9);
            }
            case NOTICE_RESPONSE -> notices.add(frame.copy());
            case NEGOTIATE_PROTOCOL_VERSION -> {
                // the server is older than the 3.0 we asked for cannot happen; newer minor: we asked for none
            }
            case ERROR_RESPONSE -> {
                Map<Character, String> f = PgMessages.errorFields(frame);
                String code = f.getOrDefault('C', "08006");
                String message = f.getOrDefault('M', "unknown error");
                throw new HandshakeException(code, "the database refused the proxy's connection: " + message);
            }
            case READY_FOR_QUERY -> {
                if (phase != Phase.AWAIT_READY) {
                    throw new HandshakeException("08P01", "database sent ReadyForQuery before authentication completed");
                }
                timeouts.clear(this);
                // listeners install the relay handlers behind this one; removing it then hands them any bytes left
                promise.trySuccess(new Result(ctx.channel(), Map.copyOf(parameters), backendPid, backendSecret, List.copyOf(notices)));
                ctx.pipeline().remove(this);
            }
            default -> throw new HandshakeException("08P01",
                    "unexpected message '" + (char) PgMessages.type(frame) + "' from the database during startup");
        }
    }

    private void onAuthentication(ChannelHandlerContext ctx, ByteBuf frame) throws HandshakeException {
        int code = PgMessages.authenticationCode(frame);
        switch (code) {
            case 0 -> phase = Phase.AWAIT_READY;
            case 3 -> ctx.writeAndFlush(PgMessages.passwordMessage(ctx.alloc(), requirePassword("password")));
            case 5 -> {
                ByteBuf data = PgMessages.authenticationData(frame);
                byte[] salt = new byte[4];
                data.getBytes(data.readerIndex(), salt);
                String user = startupParameters.get("user");
                ctx.writeAndFlush(PgMessages.passwordMessage(ctx.alloc(),
                        Md5Password.response(user, requirePassword("md5"), salt)));
            }
            case 10 -> {
                List<String> mechanisms = new ArrayList<>();
                ByteBuf data = PgMessages.authenticationData(frame);
                while (data.isReadable()) {
                    String m = PgMessages.readCString(data, StandardCharsets.UTF_8);
                    if (m.isEmpty()) {
                        break;
                    }
                    mechanisms.add(m);
                }
                if (!mechanisms.contains(ScramSha256Client.MECHANISM)) {
                    throw new HandshakeException("28000", "the database offers SASL mechanisms " + mechanisms
                            + " but the proxy supports only " + ScramSha256Client.MECHANISM);
                }
                scram = new ScramSha256Client(requirePassword("SCRAM-SHA-256"));
                ctx.writeAndFlush(PgMessages.saslInitialResponse(ctx.alloc(), ScramSha256Client.MECHANISM,
                        scram.clientFirstMessage()));
            }
            case 11 -> {
                if (scram == null) {
                    throw new HandshakeException("08P01", "SASL continue without SASL start from the database");
                }
                String serverFirst = PgMessages.authenticationData(frame).toString(StandardCharsets.UTF_8);
                try {
                    ctx.writeAndFlush(PgMessages.saslResponse(ctx.alloc(), scram.clientFinalMessage(serverFirst)));
                } catch (ScramSha256Client.ScramException e) {
                    throw new HandshakeException("28000", e.getMessage());
                }
            }
            case 12 -> {
                if (scram == null) {
                    throw new HandshakeException("08P01", "SASL final without SASL start from the database");
                }
                try {
                    scram.verifyServerFinal(PgMessages.authenticationData(frame).toString(StandardCharsets.UTF_8));
                } catch (ScramSha256Client.ScramException e) {
                    throw new HandshakeException("28000", e.getMessage());
                }
            }
            default -> throw new HandshakeException("28000",
                    "the database asks for an authentication method the proxy does not support (code " + code + ")");
        }
    }

    private String requirePassword(String method) throws HandshakeException {
        if (password == null) {
            throw new HandshakeException("28000", "the database asks for " + method
                    + " authentication but no upstream password is configured for the proxy");
        }
        return password;
    }

    private void sendStartup(ChannelHandlerContext ctx) {
        phase = Phase.AUTHENTICATING;
        ctx.writeAndFlush(PgMessages.startupMessage(ctx.alloc(), startupParameters));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null
                ? cause.getCause() : cause;
        fail(ctx, c instanceof HandshakeException h ? h
                : new HandshakeException("08006", "connection to the database at " + upstream + " failed: "
                + rootMessage(c)));
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        fail(ctx, new HandshakeException("08006", "the database at " + upstream
                + " closed the connection during startup"));
        super.channelInactive(ctx);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        timeouts.clear(this);
        if (!promise.isDone()) {
            notices.forEach(ByteBuf::release);
        }
    }

    private void fail(ChannelHandlerContext ctx, HandshakeException e) {
        if (promise.tryFailure(e)) {
            timeouts.clear(this);
            notices.forEach(ByteBuf::release);
            notices.clear();
            ctx.close();
        }
    }

    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
    }
}
