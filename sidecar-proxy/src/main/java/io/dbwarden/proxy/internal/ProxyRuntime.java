package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.filter.FilterChain;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslContext;

import java.util.concurrent.atomic.AtomicLong;

/** What every connection of one proxy instance shares. */
record ProxyRuntime(ProxyConfig config, FilterChain chain, CancelRegistry cancelRegistry, ProxyMetrics metrics,
                    SslContext clientSslContext, SslContext upstreamSslContext,
                    Class<? extends Channel> upstreamChannelType, StatementCache statements,
                    AtomicLong connectionIds) {
}
