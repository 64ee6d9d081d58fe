package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.FilterChain;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslContext;

import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * What every connection of one proxy instance shares. {@code sessionSettings} are server settings every new
 * upstream session starts with (sent as startup options, e.g. default_transaction_read_only for read-only policies).
 */
record ProxyRuntime(ProxyConfig config, FilterChain chain, CancelRegistry cancelRegistry, ProxyMetrics metrics,
                    SslContext clientSslContext, SslContext upstreamSslContext,
                    Class<? extends Channel> upstreamChannelType, StatementCache statements,
                    AtomicLong connectionIds, Supplier<Map<String, String>> sessionSettings) {
}
