package io.dbwarden.proxy.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.nio.NioChannelOption;
import io.netty.channel.uring.IoUringChannelOption;

import java.util.ArrayList;
import java.util.List;

/**
 * How soon a connection whose peer is gone without a word (a database host lost in a failover, a client whose
 * network went away) is noticed. The kernel's defaults wait two hours before the first keepalive probe: meanwhile a
 * client would wait on a dead database, or a dead client would keep its transaction, and its locks, open in the
 * database. With these settings an idle connection is probed after {@code idleSeconds}, every
 * {@code intervalSeconds}, and dropped after {@code count} unanswered probes, on both sides of a session.
 *
 * <p>Data sent and never acknowledged is the kernel's retransmission timeout's (about 15 minutes) unless
 * {@code userTimeoutSeconds} is set, which then applies to database connections (TCP_USER_TIMEOUT). It is off by
 * default, as in libpq and PgBouncer: the kernel also counts the time a receiver's window stays closed, and a database
 * that stops reading for longer (a COPY or a pipelined batch waiting on a lock) would lose its connection.
 *
 * <p>Settings: {@code -Ddbwarden.tcp.keepalive-idle-seconds} (60), {@code -Ddbwarden.tcp.keepalive-interval-seconds}
 * (10), {@code -Ddbwarden.tcp.keepalive-count} (6), {@code -Ddbwarden.tcp.user-timeout-seconds} (0, off).
 */
record TcpKeepalive(int idleSeconds, int intervalSeconds, int count, int userTimeoutSeconds) {
    static final String IDLE = "dbwarden.tcp.keepalive-idle-seconds";
    static final String INTERVAL = "dbwarden.tcp.keepalive-interval-seconds";
    static final String COUNT = "dbwarden.tcp.keepalive-count";
    static final String USER_TIMEOUT = "dbwarden.tcp.user-timeout-seconds";

    TcpKeepalive {
        if (idleSeconds < 1 || intervalSeconds < 1 || count < 1 || idleSeconds > 32_767 || intervalSeconds > 32_767
                || count > 127) {
            throw new IllegalArgumentException("TCP keepalive: idle and interval must be 1-32767 s and the count "
                    + "1-127 (-D" + IDLE + ", -D" + INTERVAL + ", -D" + COUNT + "), got " + idleSeconds + ", "
                    + intervalSeconds + ", " + count);
        }
        if (userTimeoutSeconds < 0 || userTimeoutSeconds > 2_000_000) {
            throw new IllegalArgumentException("-D" + USER_TIMEOUT + " must be 0 (off) to 2000000 s, got "
                    + userTimeoutSeconds);
        }
    }

    static TcpKeepalive configured() {
        return new TcpKeepalive(property(IDLE, 60), property(INTERVAL, 10), property(COUNT, 6),
                property(USER_TIMEOUT, 0));
    }

    /** A whole number, or the default when unset; anything else is an error, not silently the default. */
    private static int property(String name, int defaultValue) {
        String v = System.getProperty(name);
        if (v == null) {
            return defaultValue;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + name + " must be a whole number, got '" + v + "'");
        }
    }

    /** Seconds after which an idle peer that answers nothing is given up. */
    int deadAfterSeconds() {
        return idleSeconds + intervalSeconds * count;
    }

    /** One socket option and its value, set on a client or server bootstrap. */
    record Option<T>(ChannelOption<T> option, T value) {
        void setOn(Bootstrap b) {
            b.option(option, value);
        }

        void setOnChildren(ServerBootstrap b) {
            b.childOption(option, value);
        }
    }

    /**
     * The socket options of {@code transport} that carry these settings, SO_KEEPALIVE included; for a database
     * connection ({@code upstream}) also TCP_USER_TIMEOUT when it is set (native transports only: NIO has no such
     * option).
     */
    List<Option<?>> options(Transport transport, boolean upstream) {
        boolean userTimeout = upstream && userTimeoutSeconds > 0;
        List<Option<?>> o = new ArrayList<>();
        o.add(new Option<>(ChannelOption.SO_KEEPALIVE, true));
        if (transport.isIoUring()) {
            o.add(new Option<>(IoUringChannelOption.TCP_KEEPIDLE, idleSeconds));
            o.add(new Option<>(IoUringChannelOption.TCP_KEEPINTVL, intervalSeconds));
            o.add(new Option<>(IoUringChannelOption.TCP_KEEPCNT, count));
            if (userTimeout) {
                o.add(new Option<>(IoUringChannelOption.TCP_USER_TIMEOUT, userTimeoutSeconds * 1000));
            }
        } else if (transport == Transport.EPOLL) {
            o.add(new Option<>(EpollChannelOption.TCP_KEEPIDLE, idleSeconds));
            o.add(new Option<>(EpollChannelOption.TCP_KEEPINTVL, intervalSeconds));
            o.add(new Option<>(EpollChannelOption.TCP_KEEPCNT, count));
            if (userTimeout) {
                o.add(new Option<>(EpollChannelOption.TCP_USER_TIMEOUT, userTimeoutSeconds * 1000));
            }
        } else {
            o.add(new Option<>(NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE), idleSeconds));
            o.add(new Option<>(NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPINTERVAL), intervalSeconds));
            o.add(new Option<>(NioChannelOption.of(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT), count));
        }
        return List.copyOf(o);
    }
}
