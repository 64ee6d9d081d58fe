package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.postgres.BackendMessageType;
import io.dbwarden.proxy.postgres.PgFrameDecoder;
import io.dbwarden.proxy.postgres.PgMessages;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Database connections kept open after their client ended its session cleanly, for the next client that would
 * start an identical one: as PgBouncer's session pooling does, a client that connects, runs a few statements and
 * disconnects (a script, an agent calling psql per command, an application without a pool of its own) does not make
 * the database start and authenticate a new backend each time.
 *
 * <p>A connection is offered only when its session ended with the client's Terminate while nothing was owed (every
 * statement answered, no transaction open, no COPY, no cancel request forwarded). It is then reset with
 * {@code DISCARD ALL} (which rolls the session back to its start-up state: settings and role, prepared statements,
 * portals and cursors, temporary tables, advisory locks, LISTEN) and kept only if that succeeds with the server idle.
 * It is given to a later client of the same event loop (a connection stays on the loop it was made on) whose
 * session would start with the same configuration, identity and start-up parameters (user, database, forwarded
 * client parameters, the policy's session settings), so nothing differs from a new connection but the backend
 * process. Idle connections are closed after {@code idleTimeout}, when the server ends them, and at shutdown; a
 * changed configuration (rotated credentials, another upstream) makes the old ones unusable, and they are closed
 * when next seen or when they expire. The ended session's cancel key is unregistered before its connection is handed
 * on, so no cancel request meant for it reaches the next session (see {@link CancelRegistry#cancel}).
 *
 * <p>The pool's timeouts (idle expiry, reset) are {@link Deadlines}: off the event loop, no timer per connection,
 * looked at once per tick (a tenth of the shorter timeout, 10 ms to 1 s), so they fire up to a tick late.
 */
final class UpstreamPool {
    private static final Logger LOG = LoggerFactory.getLogger(UpstreamPool.class);
    /** How long the reset may take before the connection is closed instead. */
    private static final long RESET_TIMEOUT_MILLIS = 10_000;
    private final long resetTimeoutMillis;

    /** What a new session's upstream connection would be made with; only an equal one is reused. */
    record Key(ProxyConfig config, Map<String, String> startupParameters) {
        Key {
            startupParameters = Map.copyOf(startupParameters);
        }

        @Override
        public String toString() { // the configuration holds the credentials: never printed
            return "Key[user=" + startupParameters.get("user") + ", database=" + startupParameters.get("database")
                    + "]";
        }
    }

    private final UpstreamPooling settings;
    private final AtomicInteger idle = new AtomicInteger();
    /** Per event loop, most recently used last; touched only on that loop. */
    private final Map<EventLoop, ArrayDeque<Pooled>> byLoop = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** Each connection's reset or idle timeout, set and cleared on its event loop. */
    private final Deadlines deadlines;

    UpstreamPool(UpstreamPooling settings) {
        this(settings, RESET_TIMEOUT_MILLIS);
    }

    UpstreamPool(UpstreamPooling settings, long resetTimeoutMillis) {
        this.settings = settings;
        this.resetTimeoutMillis = resetTimeoutMillis;
        long shorter = settings.enabled() ? Math.min(settings.idleTimeout().toMillis(), resetTimeoutMillis)
                : resetTimeoutMillis;
        this.deadlines = new Deadlines(Deadlines.tickFor(shorter));
    }

    /** Deadlines pending now (for tests). */
    int pendingTimers() {
        return deadlines.pending();
    }

    /** Whether the pool's deadlines are being looked at (for tests: not once none is left). */
    boolean watching() {
        return deadlines.watching();
    }

    /**
     * Runs {@code action} on {@code p}'s event loop once {@code millis} have passed (up to a tick later), unless the
     * deadline is replaced or cleared before; false if the pool is closing (the caller then ends the connection).
     */
    private boolean setDeadline(Pooled p, Runnable action, long millis) {
        return !closed && deadlines.set(p, p.channel.eventLoop(), action, millis);
    }

    boolean enabled() {
        return settings.enabled() && !closed;
    }

    /** Connections kept now (for metrics). */
    int idleConnections() {
        return idle.get();
    }

    /**
     * An idle connection of {@code loop} for {@code key}, taken out of the pool, as a new connection's handshake
     * would give it (server parameters, cancel key; no notices), or null; on {@code loop}. Those of an older
     * configuration met on the way are closed.
     */
    UpstreamHandshake.Result take(EventLoop loop, Key key) {
        ArrayDeque<Pooled> pooled = byLoop.get(loop);
        if (pooled == null || closed) {
            return null;
        }
        for (Iterator<Pooled> it = pooled.descendingIterator(); it.hasNext(); ) {
            Pooled p = it.next();
            if (!p.channel.isActive()) {
                it.remove();
                p.leave();
                continue;
            }
            if (!p.key.config().equals(key.config())) {
                it.remove();
                p.leave();
                p.terminate();
                continue;
            }
            if (p.key.equals(key)) {
                it.remove();
                p.leave();
                p.channel.pipeline().remove(p);
                return new UpstreamHandshake.Result(p.channel, p.parameters, p.backendPid,
                        p.backendSecret, List.of());
            }
        }
        return null;
    }

    /**
     * Takes over {@code up}, whose session has ended with nothing owed and the server idle: resets it and keeps it if
     * the reset succeeds, else closes it. The caller has removed its own handlers; the frame decoder stays. On the
     * connection's event loop.
     */
    void reset(Channel up, Key key, Map<String, String> parameters, int backendPid, int backendSecret) {
        Pooled p = new Pooled(key, Map.copyOf(parameters), backendPid, backendSecret, up);
        up.pipeline().addLast("pool", p);
        up.config().setAutoRead(true);
        p.startReset();
    }

    /**
     * Ends every idle connection the way a client ends its session (at shutdown) and waits, at most 2 s, until they
     * are closed: the event loops stop right after, and a connection still being closed when its loop stops would be
     * left open. Later sessions get new connections.
     */
    void close() {
        closed = true;
        deadlines.close();
        List<Future<List<ChannelFuture>>> ending = new ArrayList<>();
        // never waited for on an event loop (not at shutdown): a loop must not block, least of all on its own task
        boolean wait = byLoop.keySet().stream().noneMatch(EventLoop::inEventLoop);
        for (Map.Entry<EventLoop, ArrayDeque<Pooled>> e : byLoop.entrySet()) {
            EventLoop loop = e.getKey();
            if (loop.isShuttingDown()) {
                continue; // its channels close with it
            }
            try {
                Future<List<ChannelFuture>> ended = loop.submit(() -> {
                    List<ChannelFuture> closing = new ArrayList<>();
                    ArrayDeque<Pooled> pooled = e.getValue();
                    while (!pooled.isEmpty()) {
                        Pooled p = pooled.poll();
                        p.leave();
                        p.terminate();
                        closing.add(p.channel.closeFuture());
                    }
                    return closing;
                });
                if (wait) {
                    ending.add(ended);
                }
            } catch (RejectedExecutionException ex) {
                // shutting down meanwhile: its channels close with it
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (Future<List<ChannelFuture>> f : ending) {
            if (f.awaitUninterruptibly(remainingMillis(deadline)) && f.isSuccess()) {
                f.getNow().forEach(c -> c.awaitUninterruptibly(remainingMillis(deadline)));
            }
        }
    }

    private static long remainingMillis(long deadlineNanos) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()));
    }

    /** One connection from its reset on: its handler until a session takes it. */
    private final class Pooled extends ChannelInboundHandlerAdapter {
        final Key key;
        /** Immutable: handed to the next session as they are. */
        Map<String, String> parameters;
        final int backendPid;
        final int backendSecret;
        final Channel channel;
        private boolean resetting = true;
        private boolean inPool;

        Pooled(Key key, Map<String, String> parameters, int backendPid, int backendSecret, Channel channel) {
            this.key = key;
            this.parameters = parameters;
            this.backendPid = backendPid;
            this.backendSecret = backendSecret;
            this.channel = channel;
        }

        void startReset() {
            boolean timed = setDeadline(this, () -> {
                if (resetting) { // on the loop: a reset that completed meanwhile keeps its connection
                    LOG.debug("upstream reset timed out, closing the connection: {}", key);
                    channel.close();
                }
            }, resetTimeoutMillis);
            if (!timed) {
                channel.close();
                return;
            }
            channel.writeAndFlush(PgMessages.query(channel.alloc(), "DISCARD ALL", StandardCharsets.UTF_8))
                    .addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf batch = (ByteBuf) msg;
            try {
                int end = batch.writerIndex();
                for (int i = batch.readerIndex(); i < end; ) {
                    int length = PgFrameDecoder.frameLength(batch, i);
                    if (!onMessage(batch.slice(i, length))) {
                        ctx.close();
                        return;
                    }
                    i += length;
                }
            } finally {
                batch.release();
            }
        }

        /** False: the connection is not fit for another session. */
        private boolean onMessage(ByteBuf frame) {
            switch (BackendMessageType.of(PgMessages.type(frame))) {
                case PARAMETER_STATUS -> {
                    // DISCARD ALL reports the settings it resets; the next session starts with these
                    Map.Entry<String, String> p = PgMessages.parameterStatus(frame);
                    if (!p.getValue().equals(parameters.get(p.getKey()))) {
                        Map<String, String> changed = new HashMap<>(parameters);
                        changed.put(p.getKey(), p.getValue());
                        parameters = Map.copyOf(changed);
                    }
                }
                case NOTICE_RESPONSE, NOTIFICATION_RESPONSE -> {
                    // a notice, or a notification sent before DISCARD ALL unlistened: for the session that ended
                }
                case COMMAND_COMPLETE -> {
                    return resetting && "DISCARD ALL".equals(PgMessages.commandTag(frame));
                }
                case READY_FOR_QUERY -> {
                    if (!resetting || PgMessages.readyForQueryStatus(frame) != 'I') {
                        return false;
                    }
                    resetting = false;
                    deadlines.clear(this);
                    offer();
                }
                default -> {
                    // an error (the reset failed, or the server is ending the session), or anything unexpected
                    return false;
                }
            }
            return true;
        }

        private void offer() {
            if (closed) {
                terminate();
                return;
            }
            if (idle.incrementAndGet() > settings.maxIdle()) {
                idle.decrementAndGet();
                terminate();
                return;
            }
            if (!setDeadline(this, this::expire, settings.idleTimeout().toMillis())) {
                idle.decrementAndGet();
                terminate();
                return;
            }
            inPool = true;
            byLoop.computeIfAbsent(channel.eventLoop(), l -> new ArrayDeque<>()).addLast(this);
        }

        private void expire() {
            ArrayDeque<Pooled> pooled = byLoop.get(channel.eventLoop());
            if (inPool && pooled != null && pooled.remove(this)) {
                leave();
                terminate();
            }
        }

        /** Out of the pool (taken, closed or expired). */
        void leave() {
            if (inPool) {
                inPool = false;
                idle.decrementAndGet();
            }
            deadlines.clear(this);
        }

        /** Ends the connection the way a client does. */
        void terminate() {
            if (channel.isActive()) {
                channel.writeAndFlush(PgMessages.terminate(channel.alloc())).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            ArrayDeque<Pooled> pooled = byLoop.get(ctx.channel().eventLoop());
            if (pooled != null) {
                pooled.remove(this);
            }
            leave();
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("idle upstream connection failed, closing it: {} error={}", key, cause.toString());
            ctx.close();
        }
    }
}
