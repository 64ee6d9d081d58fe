package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.FilterChain;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslContext;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * What every connection of one proxy instance shares. {@code sessionSettings} are server settings every new
 * upstream session starts with (sent as startup options, e.g. default_transaction_read_only for read-only policies).
 * While {@code shuttingDown}, new sessions are refused (see {@link ProxyBootstrap#shutdown}).
 * {@code upstreamSocketOptions}: keepalive and, if set, the user timeout of database connections ({@link TcpKeepalive}),
 * and the transport's ({@link Transport#socketOptions}).
 * {@code upstreamPool}: database connections kept for later sessions.
 * {@code timeouts}: of the client start-ups, database connects and handshakes.
 */
record ProxyRuntime(LiveConfig configs, FilterChain chain, CancelRegistry cancelRegistry, ProxyMetrics metrics,
                    TlsContexts tls, Transport transport, List<TcpKeepalive.Option<?>> upstreamSocketOptions,
                    StatementCache statements,
                    AtomicLong connectionIds, Supplier<Map<String, String>> sessionSettings,
                    AtomicBoolean shuttingDown, UpstreamPool upstreamPool, Deadlines timeouts) {
    /** Socket type of the connections to the database (they share their client's event loop). */
    Class<? extends Channel> upstreamChannelType() {
        return transport.socketChannel();
    }

    /** Puts the {@link ReceiveRingWatch} first on a socket that receives into an io_uring buffer ring. */
    void watchReceiveRing(Channel ch) {
        if (transport.bufferRing()) {
            ch.pipeline().addLast("receive-ring", new ReceiveRingWatch(metrics));
        }
    }

    /** The configuration in force now (credentials from files are re-read; see {@link LiveConfig}). */
    ProxyConfig config() {
        return configs.get();
    }

    /** Offered to clients asking for TLS (the certificate in force now); null without client TLS. */
    SslContext clientSslContext() {
        return tls.client();
    }

    /** Towards the database (the root certificates in force now); null with upstream TLS disabled. */
    SslContext upstreamSslContext() {
        return tls.upstream();
    }
}
