package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.filter.FilterChain;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** Event loops, the listening socket and the per-connection pipeline of one proxy instance. */
public final class ProxyBootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(ProxyBootstrap.class);

    private final EventLoopGroup workers;
    /** Checks the TLS and credential files for changes; null when none are watched. */
    private final ScheduledExecutorService fileWatch;
    private final int eventLoops;
    private final Channel serverChannel;
    private final ChannelGroup clients;
    private final ProxyRuntime runtime;
    /** Set by the first {@link #shutdown}. */
    private boolean stopped;
    private volatile boolean stopping;
    private volatile boolean graceEnded;

    private ProxyBootstrap(EventLoopGroup workers, ScheduledExecutorService fileWatch, int eventLoops,
                           Channel serverChannel, ChannelGroup clients, ProxyRuntime runtime) {
        this.runtime = runtime;
        this.fileWatch = fileWatch;
        this.workers = workers;
        this.eventLoops = eventLoops;
        this.serverChannel = serverChannel;
        this.clients = clients;
    }

    /**
     * Starts with {@code threads} event loops; client and upstream channels of a session share one loop. Unless
     * {@code accepting}, the listening socket is bound but takes no connection before {@link #accept()} (clients
     * wait in its backlog).
     */
    public static ProxyBootstrap start(LiveConfig live, FilterChain chain, ProxyMetrics metrics,
                                       java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                       int threads, boolean accepting) {
        return start(live, chain, metrics, sessionSettings, threads, accepting, UpstreamPooling.DEFAULT);
    }

    /** {@link #start}, keeping database connections for later sessions as {@code pooling} says. */
    public static ProxyBootstrap start(LiveConfig live, FilterChain chain, ProxyMetrics metrics,
                                       java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                       int threads, boolean accepting, UpstreamPooling pooling) {
        ProxyConfig config = live.get();
        Transport transport = Transport.configured();
        EventLoopGroup workers = new EventLoops(threads, "dbwarden-loop", transport.ioHandlers().get());
        ScheduledExecutorService fileWatch = null;
        try {
            TlsContexts tls = new TlsContexts(config);
            TcpKeepalive keepalive = TcpKeepalive.configured();
            UpstreamPool pool = new UpstreamPool(pooling);
            metrics.upstreamIdle(pool::idleConnections);
            ProxyRuntime runtime = new ProxyRuntime(live, chain, new CancelRegistry(), metrics, tls, transport,
                    socketOptions(keepalive, transport, true),
                    new StatementCache(16_384, 64 * 1024), new AtomicLong(), sessionSettings,
                    new AtomicBoolean(), pool, new Deadlines(Deadlines.tickFor(config.handshakeTimeout().toMillis())));
            ChannelGroup clients = new DefaultChannelGroup("dbwarden-clients", GlobalEventExecutor.INSTANCE);
            ServerBootstrap b = new ServerBootstrap()
                    // the listening socket on the first event loop, not on a thread of its own: connections for that
                    // loop are set up where they are accepted, without waking another thread, the others handed over
                    // as before (an accept thread cost clients that connect per statement an eighth of the proxy's
                    // CPU per session, half of it its own sleeping and waking)
                    .group(workers, workers)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.SO_BACKLOG, 1024)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(256 * 1024, 1024 * 1024))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            clients.add(ch);
                            runtime.watchReceiveRing(ch);
                            ch.pipeline().addLast("startup", new StartupHandler(runtime));
                        }
                    });
            socketOptions(keepalive, transport, false).forEach(o -> o.setOnChildren(b));
            if (!accepting) {
                b.option(ChannelOption.AUTO_READ, false);
            }
            Channel server = Listening.bind(b, config.listen(), "--listen");
            if (tls.watchesFiles() || live.watchesFiles()) {
                // rotated certificates and credentials (a renewed Secret, a new CA bundle) apply without a restart
                long seconds = Math.max(1, Long.getLong("dbwarden.files.reload-seconds", 10));
                // not on an event loop: an io_uring loop with a task scheduled arms a timeout with every wait
                fileWatch = Executors.newSingleThreadScheduledExecutor(r -> {
                    Thread t = new Thread(r, "dbwarden-file-watch");
                    t.setDaemon(true);
                    return t;
                });
                fileWatch.scheduleWithFixedDelay(() -> {
                    try {
                        tls.refresh();
                        live.refresh();
                    } catch (RuntimeException e) { // keep checking: an exception would end the schedule
                        LOG.error("checking the TLS and credential files failed: {}", e.toString());
                    }
                }, seconds, seconds, TimeUnit.SECONDS);
            }
            if (tls.clientCertificate() != null) {
                metrics.clientCertificateExpiry(() -> tls.clientCertificate().getNotAfter().getTime() / 1000);
            }
            // the warm-up's internal proxy is not announced: its loopback address is no place to connect to
            LOG.atLevel(config.warmUp() ? org.slf4j.event.Level.DEBUG : org.slf4j.event.Level.INFO)
                    .log("dbwarden proxy {}: address={} upstream={} transport={} receive={} event_loops={} identity={} "
                            + "upstream_idle_timeout={}s", accepting ? "listening" : "bound (not accepting yet)",
                            server.localAddress(), config.upstream(), transport.name(), transport.receive(), threads,
                            config.identity(), pooling.idleTimeout().toSeconds());
            return new ProxyBootstrap(workers, fileWatch, threads, server, clients, runtime);
        } catch (RuntimeException e) {
            if (fileWatch != null) {
                fileWatch.shutdownNow();
            }
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            throw e;
        }
    }

    /** Starts taking the connections waiting in the listening socket's backlog, and new ones. */
    public void accept() {
        serverChannel.config().setAutoRead(true);
    }

    /** Whether the listening socket takes connections (see {@link #start}). */
    public boolean accepting() {
        return serverChannel.config().isAutoRead();
    }

    /** Threads serving the connections. */
    public int eventLoops() {
        return eventLoops;
    }

    /** The socket transport in use: io_uring, epoll or nio. */
    public String transport() {
        return runtime.transport().name();
    }

    /** How the sockets receive: buffer-ring, poll-first (io_uring) or readiness (epoll, NIO). */
    public String receive() {
        return runtime.transport().receive();
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** Ends {@link #shutdown}'s grace period now (or makes the next shutdown skip it): open sessions are terminated. */
    public void endGracePeriod() {
        graceEnded = true;
    }

    /** Whether {@link #shutdown} has begun (even while it still accepts sessions). */
    public boolean shuttingDown() {
        return stopping;
    }

    /**
     * Stops the way PostgreSQL's smart shutdown does, then its fast one: from now on new sessions are refused
     * (57P03; cancel requests still go through), open sessions are served as before until their clients end them,
     * and those still open after {@code grace} are terminated ({@link FrontendHandler#terminate}: running statements
     * cancelled, FATAL 57P01, open transactions rolled back). Returns when every connection is closed and the event
     * loops have stopped; a second call returns when the first is done.
     */
    public void shutdown(Duration grace) {
        shutdown(grace, Duration.ZERO);
    }

    /**
     * {@link #shutdown(Duration)}, but new sessions are still accepted for {@code drain} and after it as long as any
     * session is open (within {@code grace}): where the proxy is a plain container beside the application, both are
     * sent SIGTERM at once, and the application may still open connections while it finishes its work. Once no
     * session is open after {@code drain}, new ones are refused and the proxy stops.
     */
    public synchronized void shutdown(Duration grace, Duration drain) {
        if (stopped) {
            return;
        }
        stopped = true;
        stopping = true;
        long now = System.nanoTime();
        long deadline = now + grace.toNanos();
        long drainEnd = now + Math.min(drain.toNanos(), grace.toNanos());
        if (drain.isPositive() && !graceEnded) {
            LOG.info("shutting down: accepting sessions for {} s and then while any is open (sessions={})",
                    drain.toSeconds(), clients.size());
            while (!graceEnded && deadline - System.nanoTime() > 0
                    && (drainEnd - System.nanoTime() > 0 || !clients.isEmpty())) {
                awaitSessions(deadline);
            }
        }
        runtime.shuttingDown().set(true);
        if (!clients.isEmpty() && !grace.isZero() && !graceEnded) {
            LOG.info("shutting down: waiting up to {} s for sessions={} to end", grace.toSeconds(), clients.size());
            while (!clients.isEmpty() && !graceEnded && deadline - System.nanoTime() > 0) {
                awaitSessions(deadline);
            }
        }
        serverChannel.close().syncUninterruptibly();
        runtime.upstreamPool().close();
        if (!clients.isEmpty()) {
            LOG.info("shutting down: terminating sessions={}", clients.size());
            for (Channel client : clients) {
                client.eventLoop().execute(() -> FrontendHandler.terminate(client));
            }
            // a terminated session closes once its cancel request is sent (connecting takes at most 5 s)
            clients.newCloseFuture().awaitUninterruptibly(6, TimeUnit.SECONDS);
        }
        clients.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (fileWatch != null) {
            fileWatch.shutdownNow();
        }
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /**
     * Waits until the open sessions have ended, for at most 100 ms and not past {@code deadline}; with none open,
     * just that long (the close future of an empty group is complete already: waiting on it would spin).
     */
    private void awaitSessions(long deadline) {
        long millis = Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()), 100));
        if (clients.isEmpty()) {
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(millis));
        } else {
            clients.newCloseFuture().awaitUninterruptibly(millis);
        }
    }

    /** The options of every relayed socket: keepalive ({@code upstream}: database connections) and the transport's. */
    private static List<TcpKeepalive.Option<?>> socketOptions(TcpKeepalive keepalive, Transport transport,
                                                              boolean upstream) {
        List<TcpKeepalive.Option<?>> options = new ArrayList<>(keepalive.options(transport, upstream));
        options.addAll(transport.socketOptions());
        return List.copyOf(options);
    }

    /** {@link #shutdown} without a grace period: open sessions are terminated at once. */
    public void close() {
        shutdown(Duration.ZERO);
    }
}
