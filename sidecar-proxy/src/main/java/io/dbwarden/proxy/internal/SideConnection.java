package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.postgres.BackendMessageType;
import io.dbwarden.proxy.postgres.DataRows;
import io.dbwarden.proxy.postgres.PgFrameDecoder;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.postgres.RowDescription;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.util.concurrent.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * The proxy's own connection to the database, with the proxy's credentials, for catalog lookups (never client
 * traffic). One connection, queries serialized, reconnected on demand; every query has a timeout.
 */
public final class SideConnection implements AutoCloseable {
    private final Supplier<ProxyConfig> configs;
    private final TlsContexts tls;
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private Channel channel;
    private boolean connecting;
    private Pending running;
    private final LongAdder failures = new LongAdder();
    /** When a failure was last logged: at most one warning per {@link #LOG_INTERVAL_NANOS}. */
    private long loggedAtNanos = System.nanoTime() - LOG_INTERVAL_NANOS;
    private static final long LOG_INTERVAL_NANOS = 10_000_000_000L;
    private static final Logger LOG = LoggerFactory.getLogger(SideConnection.class);

    /**
     * A lookup: a simple query ({@code sql}) whose rows complete {@code result}, or, with {@code described} set, the
     * messages {@code request} writes, whose RowDescription (null: NoData) completes {@code described}.
     */
    private record Pending(String sql, CompletableFuture<List<List<String>>> result,
                           java.util.function.Function<io.netty.buffer.ByteBufAllocator, List<ByteBuf>> request,
                           CompletableFuture<RowDescription> described) {
        Pending(String sql, CompletableFuture<List<List<String>>> result) {
            this(sql, result, null, null);
        }

        boolean done() {
            return described != null ? described.isDone() : result.isDone();
        }

        void fail(Throwable t) {
            if (described != null) {
                described.completeExceptionally(t);
            } else {
                result.completeExceptionally(t);
            }
        }
    }

    public SideConnection(ProxyConfig config) {
        this(LiveConfig.fixed(config));
    }

    /** Connects with the configuration in force at each (re)connection: rotated credentials are picked up. */
    public SideConnection(Supplier<ProxyConfig> configs) {
        this.configs = configs;
        this.tls = new TlsContexts(configs.get().withClientTls(null, null, false)); // only the upstream side
    }

    /** Runs one simple query; completes with its rows (text values, null for NULL) or fails. */
    public CompletionStage<List<List<String>>> query(String sql) {
        CompletableFuture<List<List<String>>> f = new CompletableFuture<>();
        return enqueue(new Pending(sql, f), f);
    }

    /** Queues a lookup; its result, failed after 10 s (a failure of this connection, counted and logged). */
    private <T> CompletionStage<T> enqueue(Pending lookup, CompletableFuture<T> result) {
        group.next().execute(() -> {
            queue.add(lookup);
            pump();
        });
        return result.orTimeout(10, TimeUnit.SECONDS).whenComplete((v, err) -> {
            if (err instanceof java.util.concurrent.TimeoutException) {
                group.next().execute(() -> failed("a lookup took longer than 10 s"));
            }
        });
    }

    /**
     * The columns a query would return, as the server describes them (the table and column each comes from, its
     * type), without running it: parsed in a read-only transaction that is rolled back, with {@code schema} as
     * search_path (the one the proxy pins for client sessions) and a short lock timeout. Completes with null for a
     * statement that returns no rows; fails when the server cannot parse it here (a session's temporary table).
     */
    public CompletionStage<RowDescription> describe(String schema, String sql) {
        CompletableFuture<RowDescription> f = new CompletableFuture<>();
        String path = "SET LOCAL search_path TO \"" + schema.replace("\"", "\"\"") + "\"";
        java.util.function.Function<io.netty.buffer.ByteBufAllocator, List<ByteBuf>> request = alloc -> {
            List<ByteBuf> out = new ArrayList<>();
            for (String setup : List.of("BEGIN READ ONLY", path, "SET LOCAL lock_timeout TO '2s'")) {
                out.add(PgMessages.parse(alloc, setup, StandardCharsets.UTF_8));
                out.add(PgMessages.bindUnnamed(alloc));
                out.add(PgMessages.executeUnnamed(alloc));
            }
            out.add(PgMessages.parse(alloc, sql, StandardCharsets.UTF_8));
            out.add(PgMessages.describe(alloc, 'S', "", StandardCharsets.UTF_8));
            out.add(PgMessages.sync(alloc));
            return out;
        };
        return enqueue(new Pending("(describe)", null, request, f), f);
    }

    private void pump() {
        if (running != null || queue.isEmpty()) {
            return;
        }
        if (channel == null || !channel.isActive()) {
            connect();
            return;
        }
        running = queue.poll();
        if (running.done()) { // timed out while queued
            running = null;
            pump();
            return;
        }
        if (running.request() != null) {
            running.request().apply(channel.alloc()).forEach(channel::write);
            channel.flush();
        } else {
            channel.writeAndFlush(PgMessages.query(channel.alloc(), running.sql(), StandardCharsets.UTF_8));
        }
    }

    private void connect() {
        if (connecting) {
            return;
        }
        connecting = true;
        tls.refresh(); // the database's root certificates may have been rotated since the last connection
        ProxyConfig config = configs.get();
        SslContext sslContext = tls.upstream();
        Map<String, String> params = new HashMap<>();
        params.put("user", config.upstreamUser() != null ? config.upstreamUser() : "postgres");
        params.put("database", config.upstreamDatabase() != null ? config.upstreamDatabase() : params.get("user"));
        params.put("application_name", "dbwarden-catalog");
        Promise<UpstreamHandshake.Result> ready = group.next().newPromise();
        ready.addListener(f -> {
            connecting = false;
            if (f.isSuccess()) {
                UpstreamHandshake.Result r = ready.getNow();
                r.notices().forEach(ByteBuf::release);
                channel = r.channel();
                channel.pipeline().addLast("frame", new PgFrameDecoder(config.maxMessageLength()));
                channel.pipeline().addLast("rows", new RowCollector());
                channel.closeFuture().addListener(cf -> failRunning(new IllegalStateException(
                        "catalog connection closed")));
                pump();
            } else {
                Throwable cause = f.cause();
                failed("cannot connect: " + cause.getMessage());
                while (!queue.isEmpty()) {
                    queue.poll().fail(cause);
                }
            }
        });
        new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.connectTimeout().toMillis())
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("handshake", new UpstreamHandshake(config.upstream(),
                                config.upstreamTls(), sslContext, params, config.upstreamPassword(),
                                config.maxMessageLength(), config.handshakeTimeout().toMillis(),
                                new Deadlines(Deadlines.tickFor(config.handshakeTimeout().toMillis())), ready));
                    }
                })
                .connect(config.upstream().host(), config.upstream().port())
                .addListener(f -> {
                    if (!f.isSuccess()) {
                        ready.tryFailure(f.cause());
                    }
                });
    }

    /** Failed connections and lookups so far (a metric). */
    public long failures() {
        return failures.sum();
    }

    /** Counts a failure and warns, at most once per interval (on the connection's event loop). */
    private void failed(String what) {
        failures.increment();
        long now = System.nanoTime();
        if (now - loggedAtNanos >= LOG_INTERVAL_NANOS) {
            loggedAtNanos = now;
            LOG.warn("catalog connection: {}; until it works, masked results are masked whole and statements that "
                    + "need the catalog are refused", what);
        }
    }

    private void failRunning(Throwable t) {
        if (running != null) {
            failed("the connection was lost during a lookup");
            running.fail(t);
            running = null;
        }
        channel = null;
        pump();
    }

    /** Collects the rows of the running query until ReadyForQuery. */
    private final class RowCollector extends ChannelInboundHandlerAdapter {
        private final List<List<String>> rows = new ArrayList<>();
        private RowDescription description;
        private String error;

        /** A batch of whole server messages (see {@link PgFrameDecoder}), read in place. */
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf batch = (ByteBuf) msg;
            try {
                for (int i = batch.readerIndex(); i < batch.writerIndex(); ) {
                    int length = PgFrameDecoder.frameLength(batch, i);
                    onMessage(ctx, batch.slice(i, length));
                    i += length;
                }
            } finally {
                batch.release();
            }
        }

        private void onMessage(ChannelHandlerContext ctx, ByteBuf frame) {
            switch (BackendMessageType.of(PgMessages.type(frame))) {
                case DATA_ROW -> {
                    int[] offsets = DataRows.columnOffsets(frame);
                    List<String> row = new ArrayList<>(offsets.length);
                    for (int off : offsets) {
                        int len = frame.getInt(off);
                        row.add(len < 0 ? null : frame.toString(off + 4, len, StandardCharsets.UTF_8));
                    }
                    rows.add(row);
                }
                case ROW_DESCRIPTION -> {
                    if (running != null && running.described() != null) {
                        description = RowDescription.decode(frame);
                    }
                }
                case ERROR_RESPONSE -> error = PgMessages.errorFields(frame).get('M');
                case READY_FOR_QUERY -> {
                    Pending done = running;
                    running = null;
                    // a query that opened a transaction and failed (or left it open) must not leave the shared
                    // connection inside it: every later lookup would fail or run in that transaction
                    boolean inTransaction = PgMessages.readyForQueryStatus(frame) != 'I';
                    List<List<String>> result = List.copyOf(rows);
                    RowDescription described = description;
                    String err = error;
                    rows.clear();
                    description = null;
                    error = null;
                    if (done != null && done.described() != null) {
                        // a query the server cannot parse here is the client's to get wrong: not a failure of
                        // this connection (nor logged: its text may hold values)
                        if (err != null) {
                            done.described().completeExceptionally(new IllegalStateException(
                                    "the statement cannot be described here"));
                        } else {
                            done.described().complete(described);
                        }
                    } else if (done != null) {
                        if (err != null) {
                            failed("a lookup failed: " + err);
                            done.result().completeExceptionally(new IllegalStateException(
                                    "catalog query failed: " + err));
                        } else {
                            done.result().complete(result);
                        }
                    }
                    if (inTransaction) {
                        running = new Pending("ROLLBACK", new CompletableFuture<>());
                        ctx.writeAndFlush(PgMessages.query(ctx.alloc(), running.sql(), StandardCharsets.UTF_8));
                        return;
                    }
                    pump();
                }
                default -> {
                    // CommandComplete, ParseComplete, notices: nothing to collect
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
