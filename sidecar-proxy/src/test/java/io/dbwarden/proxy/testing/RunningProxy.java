package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.ProxyServer;
import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.FilterChain;
import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.StatementFilter;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/** A proxy on an ephemeral loopback port in front of {@link EmbeddedPg}, recording every execution. */
public final class RunningProxy implements AutoCloseable {
    public final ProxyServer server;
    public final ProxyMetrics metrics = new ProxyMetrics();
    public final List<ExecutionRecord> records = new CopyOnWriteArrayList<>();

    private RunningProxy(LiveConfig config, List<StatementFilter> statementFilters, List<ResultFilter> resultFilters,
                         int eventLoops) {
        this(config, statementFilters, resultFilters, eventLoops, java.util.Map::of);
    }

    private RunningProxy(LiveConfig config, List<StatementFilter> statementFilters, List<ResultFilter> resultFilters,
                         int eventLoops, Supplier<Map<String, String>> sessionSettings) {
        this(config, statementFilters, resultFilters, eventLoops, sessionSettings, UpstreamPooling.DEFAULT);
    }

    private RunningProxy(LiveConfig config, List<StatementFilter> statementFilters, List<ResultFilter> resultFilters,
                         int eventLoops, Supplier<Map<String, String>> sessionSettings, UpstreamPooling pooling) {
        List<ExecutionListener> listeners = new ArrayList<>();
        listeners.add(records::add);
        listeners.add(metrics);
        server = ProxyServer.start(config, new FilterChain(statementFilters, resultFilters, listeners), metrics,
                sessionSettings, eventLoops, pooling);
    }

    /** One event loop (every session can reuse every kept connection), keeping connections as {@code pooling} says. */
    public static RunningProxy startPooled(UpstreamPooling pooling, Supplier<Map<String, String>> sessionSettings) {
        return new RunningProxy(LiveConfig.fixed(defaultConfig()), List.of(), List.of(), 1, sessionSettings,
                pooling);
    }

    /** With the settings sessions start with, as a policy engine gives them (the CLI passes its engine's). */
    public static RunningProxy start(UnaryOperator<ProxyConfig> customize, List<StatementFilter> statementFilters,
                                     Supplier<Map<String, String>> sessionSettings) {
        return new RunningProxy(LiveConfig.fixed(customize.apply(defaultConfig())), statementFilters, List.of(),
                ProxyServer.defaultEventLoops(), sessionSettings);
    }

    private RunningProxy(LiveConfig config, List<StatementFilter> statementFilters, List<ResultFilter> resultFilters) {
        this(config, statementFilters, resultFilters, ProxyServer.defaultEventLoops());
    }

    /** Upstream SCRAM role with its password held by the proxy, database appdb. */
    public static ProxyConfig defaultConfig() {
        EmbeddedPg pg = EmbeddedPg.get();
        return ProxyConfig.simple(new HostPort("127.0.0.1", 0), new HostPort("127.0.0.1", pg.port()))
                .withUpstreamCredentials(EmbeddedPg.SCRAM_USER, EmbeddedPg.PASSWORD)
                .withUpstreamDatabase(EmbeddedPg.DATABASE)
                .withIdentity("team-a/reporting");
    }

    public static RunningProxy start(UnaryOperator<ProxyConfig> customize, List<StatementFilter> statementFilters,
                                     List<ResultFilter> resultFilters) {
        return new RunningProxy(LiveConfig.fixed(customize.apply(defaultConfig())), statementFilters, resultFilters);
    }

    /** A proxy whose credentials come from files it re-reads while running. */
    public static RunningProxy startLive(java.util.function.Function<ProxyConfig, LiveConfig> live) {
        return new RunningProxy(live.apply(defaultConfig()), List.of(), List.of());
    }

    public static RunningProxy start(List<StatementFilter> statementFilters) {
        return start(c -> c, statementFilters, List.of());
    }

    /**
     * With exactly {@code eventLoops} loops. Connections are dealt to them in turn in the order the proxy accepts
     * them (Netty's round-robin chooser), so the first and the {@code eventLoops + 1}-th share a loop.
     */
    public static RunningProxy start(List<StatementFilter> statementFilters, int eventLoops) {
        return new RunningProxy(LiveConfig.fixed(defaultConfig()), statementFilters, List.of(), eventLoops);
    }

    public static RunningProxy start() {
        return start(List.of());
    }

    public int port() {
        return server.port();
    }

    /** pgjdbc through the proxy; the client sends no password (trust on loopback), the proxy holds the real one. */
    public Connection connect(String extraParams) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "app");
        p.setProperty("sslmode", "disable");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port() + "/" + EmbeddedPg.DATABASE
                + (extraParams == null || extraParams.isEmpty() ? "" : "?" + extraParams), p);
    }

    public Connection connect() throws SQLException {
        return connect("");
    }

    @Override
    public void close() {
        server.close();
    }
}
