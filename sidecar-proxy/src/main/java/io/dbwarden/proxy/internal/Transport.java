package io.dbwarden.proxy.internal;

import io.netty.channel.Channel;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.function.Supplier;

/**
 * The socket transport of the proxy's event loops. {@code auto} (the default) takes io_uring where the kernel and
 * the container's seccomp profile allow it (it submits a loop iteration's reads and writes in one system call, which
 * measurably lowers the kernel time per relayed message), else epoll, else NIO.
 *
 * @param name          as configured and logged
 * @param ioHandlers    the event loops' I/O handler
 * @param serverChannel listening socket type
 * @param socketChannel client and upstream socket type (the upstream shares its client's loop)
 */
record Transport(String name, Supplier<IoHandlerFactory> ioHandlers, Class<? extends ServerChannel> serverChannel,
                 Class<? extends Channel> socketChannel) {
    private static final Logger LOG = LoggerFactory.getLogger(Transport.class);
    static final String PROPERTY = "dbwarden.transport";

    static final Transport IO_URING = new Transport("io_uring", IoUringIoHandler::newFactory,
            IoUringServerSocketChannel.class, IoUringSocketChannel.class);
    static final Transport EPOLL = new Transport("epoll", EpollIoHandler::newFactory,
            EpollServerSocketChannel.class, EpollSocketChannel.class);
    static final Transport NIO = new Transport("nio", NioIoHandler::newFactory,
            NioServerSocketChannel.class, NioSocketChannel.class);

    /** The transport named by {@code -Ddbwarden.transport} (auto, io_uring, epoll or nio). */
    static Transport configured() {
        return select(System.getProperty(PROPERTY, "auto"));
    }

    /**
     * {@code auto} picks the best available; an explicit native transport that is unavailable falls back the same
     * way, with a warning naming the reason (an unknown name is a configuration error).
     */
    static Transport select(String requested) {
        String name = requested.trim().toLowerCase(Locale.ROOT);
        switch (name) {
            case "nio":
                return NIO;
            case "epoll":
                if (available(EPOLL)) {
                    return EPOLL;
                }
                LOG.warn("epoll transport requested but unavailable, using nio: reason={}", reason(EPOLL));
                return NIO;
            case "io_uring":
                if (available(IO_URING)) {
                    return IO_URING;
                }
                Transport fallback = available(EPOLL) ? EPOLL : NIO;
                LOG.warn("io_uring transport requested but unavailable, using {}: reason={}", fallback.name(),
                        reason(IO_URING));
                return fallback;
            case "auto":
                return available(IO_URING) ? IO_URING : available(EPOLL) ? EPOLL : NIO;
            default:
                throw new IllegalArgumentException("unknown transport '" + requested + "' in -D" + PROPERTY
                        + " (expected auto, io_uring, epoll or nio)");
        }
    }

    static boolean available(Transport t) {
        try {
            return t == IO_URING ? IoUring.isAvailable() : t != EPOLL || Epoll.isAvailable();
        } catch (Throwable e) { // a native library that cannot load (e.g. another libc) means: not available
            return false;
        }
    }

    private static String reason(Transport t) {
        try {
            Throwable cause = t == IO_URING ? IoUring.unavailabilityCause() : Epoll.unavailabilityCause();
            return cause == null ? "unknown" : cause.toString();
        } catch (Throwable e) {
            return e.toString();
        }
    }
}
