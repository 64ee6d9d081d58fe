package io.dbwarden.proxy;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.filter.FilterChain;
import io.dbwarden.proxy.internal.ProxyBootstrap;

import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * A running proxy: accepts PostgreSQL clients on the configured address and relays them to the upstream database
 * through the filter chain. Thread-safe; {@link #shutdown} stops it gracefully, {@link #close()} at once.
 */
public final class ProxyServer implements AutoCloseable {
    private final ProxyBootstrap bootstrap;

    private ProxyServer(ProxyBootstrap bootstrap) {
        this.bootstrap = bootstrap;
    }

    /** Binds and starts serving; fails if the address cannot be bound or TLS material cannot be read. */
    public static ProxyServer start(ProxyConfig config, FilterChain chain, ProxyMetrics metrics) {
        return start(config, chain, metrics, java.util.Map::of);
    }

    /**
     * Like {@link #start(ProxyConfig, FilterChain, ProxyMetrics)}, with server settings every new upstream session
     * starts with (read when the session opens, so a changed policy applies to new sessions).
     */
    public static ProxyServer start(ProxyConfig config, FilterChain chain, ProxyMetrics metrics,
                                    java.util.function.Supplier<java.util.Map<String, String>> sessionSettings) {
        return start(LiveConfig.fixed(config), chain, metrics, sessionSettings);
    }

    /** Like the above, with credentials that are re-read from their files while the proxy runs. */
    public static ProxyServer start(LiveConfig config, FilterChain chain, ProxyMetrics metrics,
                                    java.util.function.Supplier<java.util.Map<String, String>> sessionSettings) {
        return start(config, chain, metrics, sessionSettings, defaultEventLoops());
    }

    /** Like the above, with {@code eventLoops} threads serving the connections (a session stays on one). */
    public static ProxyServer start(LiveConfig config, FilterChain chain, ProxyMetrics metrics,
                                    java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                    int eventLoops) {
        return start(config, chain, metrics, sessionSettings, eventLoops, UpstreamPooling.DEFAULT);
    }

    /** Like the above, keeping database connections for later sessions as {@code pooling} says. */
    public static ProxyServer start(LiveConfig config, FilterChain chain, ProxyMetrics metrics,
                                    java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                    int eventLoops, UpstreamPooling pooling) {
        checkEventLoops(eventLoops, "event loops");
        return new ProxyServer(ProxyBootstrap.start(config, chain, metrics, sessionSettings, eventLoops, true,
                pooling));
    }

    /**
     * Like {@link #start(LiveConfig, FilterChain, ProxyMetrics, java.util.function.Supplier, int)}, bound (an address
     * problem fails here) but taking no connection before {@link #accept()}: clients that connect meanwhile wait in
     * the listening socket's backlog.
     */
    public static ProxyServer bind(LiveConfig config, FilterChain chain, ProxyMetrics metrics,
                                   java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                   int eventLoops) {
        return bind(config, chain, metrics, sessionSettings, eventLoops, UpstreamPooling.DEFAULT);
    }

    /**
     * {@link #bind(LiveConfig, FilterChain, ProxyMetrics, java.util.function.Supplier, int)}, keeping database
     * connections of sessions that ended cleanly for later sessions as {@code pooling} says.
     */
    public static ProxyServer bind(LiveConfig config, FilterChain chain, ProxyMetrics metrics,
                                   java.util.function.Supplier<java.util.Map<String, String>> sessionSettings,
                                   int eventLoops, UpstreamPooling pooling) {
        checkEventLoops(eventLoops, "event loops");
        return new ProxyServer(ProxyBootstrap.start(config, chain, metrics, sessionSettings, eventLoops, false,
                pooling));
    }

    /** Starts taking connections after {@link #bind}; does nothing when it already does. */
    public void accept() {
        bootstrap.accept();
    }

    /** Whether it takes connections: false between {@link #bind} and {@link #accept()}. */
    public boolean accepting() {
        return bootstrap.accepting();
    }

    /** Upper bound for the event-loop count (each loop is a thread with its own ring and buffers). */
    public static final int MAX_EVENT_LOOPS = 256;

    /** {@code eventLoops} if it is a valid count, else an IllegalArgumentException naming {@code what}. */
    public static int checkEventLoops(int eventLoops, String what) {
        if (eventLoops < 1 || eventLoops > MAX_EVENT_LOOPS) {
            throw new IllegalArgumentException(what + " must be between 1 and " + MAX_EVENT_LOOPS + ", got "
                    + eventLoops);
        }
        return eventLoops;
    }

    /**
     * {@code -Ddbwarden.worker.threads}, else one loop per two processors the JVM may use (its CPU limit in a
     * container; a container without one sees the node's processors, which is why the injected sidecar sets its
     * count), at least one. The proxy shares its processors with the application and usually the database: on two
     * cores beside PostgreSQL and pgbench, one loop relayed as many statements as two under load for a quarter less
     * CPU per statement (30 against 38-47 us), since one thread serving every session sleeps and wakes less often.
     */
    public static int defaultEventLoops() {
        return Integer.getInteger("dbwarden.worker.threads",
                Math.max(1, Runtime.getRuntime().availableProcessors() / 2));
    }

    /** Threads serving the connections. */
    public int eventLoops() {
        return bootstrap.eventLoops();
    }

    public InetSocketAddress address() {
        return bootstrap.address();
    }

    /** The socket transport in use: io_uring, epoll or nio (see {@code -Ddbwarden.transport}). */
    public String transport() {
        return bootstrap.transport();
    }

    /**
     * How the sockets receive: {@code buffer-ring} (io_uring with a provided-buffer ring, see
     * {@code -Ddbwarden.io-uring.buffer-ring}), {@code poll-first} (io_uring without it) or {@code readiness}.
     */
    public String receive() {
        return bootstrap.receive();
    }

    public int port() {
        return address().getPort();
    }

    /**
     * Refuses new sessions (57P03), serves the open ones until their clients end them or {@code grace} has passed,
     * then terminates the rest (running statements cancelled, FATAL 57P01 to the client, open transactions rolled
     * back) and stops. Returns when everything is closed.
     */
    public void shutdown(Duration grace) {
        bootstrap.shutdown(grace);
    }

    /**
     * {@link #shutdown(Duration)} that first goes on accepting sessions for {@code drain}, and after it as long as any
     * session is open (a plain-container sidecar, stopped together with its application: see
     * {@code --shutdown-drain-seconds}).
     */
    public void shutdown(Duration grace, Duration drain) {
        bootstrap.shutdown(grace, drain);
    }

    /** Ends a {@link #shutdown}'s grace period now (PostgreSQL's fast shutdown after a smart one). */
    public void endGracePeriod() {
        bootstrap.endGracePeriod();
    }

    /** Whether {@link #shutdown} has begun (the proxy is no longer ready for new sessions). */
    public boolean shuttingDown() {
        return bootstrap.shuttingDown();
    }

    /** Stops at once: open sessions are terminated as at the end of {@link #shutdown}'s grace period. */
    @Override
    public void close() {
        bootstrap.close();
    }
}
