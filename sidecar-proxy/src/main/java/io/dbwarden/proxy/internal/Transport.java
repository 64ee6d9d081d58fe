package io.dbwarden.proxy.internal;

import io.netty.buffer.ByteBufAllocator;
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
import io.netty.channel.uring.IoUringAdaptiveBufferRingAllocator;
import io.netty.channel.uring.IoUringBufferRingConfig;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringIoHandlerConfig;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The socket transport of the proxy's event loops. {@code auto} (the default) takes io_uring where the kernel and
 * the container's seccomp profile allow it (it submits a loop iteration's reads and writes in one system call, which
 * measurably lowers the kernel time per relayed message), else epoll, else NIO.
 *
 * <p>On io_uring the sockets receive into a ring of buffers the event loop provides to the kernel (one ring per
 * loop, {@link #BUFFER_GROUP}), with a multishot receive that stays armed: a message that arrives is one completion
 * with its bytes already read. Without the ring, Netty polls for readability first and then submits a receive, an
 * extra {@code io_uring_enter} per message. Kernels without provided-buffer rings (before 5.19), or
 * {@code -Ddbwarden.io-uring.buffer-ring=false}, get the poll-first receive.
 *
 * @param name          as configured and logged
 * @param ioHandlers    the event loops' I/O handler
 * @param serverChannel listening socket type
 * @param socketChannel client and upstream socket type (the upstream shares its client's loop)
 * @param bufferRing    sockets receive into the event loop's provided-buffer ring (io_uring only)
 */
record Transport(String name, Supplier<IoHandlerFactory> ioHandlers, Class<? extends ServerChannel> serverChannel,
                 Class<? extends Channel> socketChannel, boolean bufferRing) {
    private static final Logger LOG = LoggerFactory.getLogger(Transport.class);
    static final String PROPERTY = "dbwarden.transport";
    static final String BUFFER_RING_PROPERTY = "dbwarden.io-uring.buffer-ring";
    /** The buffer group id of each io_uring event loop's receive ring. */
    static final short BUFFER_GROUP = 0;
    static final String RING_ENTRIES_PROPERTY = "dbwarden.io-uring.buffer-ring-entries";
    /**
     * Ring entries (a power of two, {@code -Ddbwarden.io-uring.buffer-ring-entries}): the most buffers the kernel
     * can hold filled and not yet taken by the loop. The ring starts with {@link #RING_BATCH} buffers and grows by
     * that many when the kernel runs out of them (Netty then re-arms the receive), up to this; each buffer is sized
     * by the bytes recent receives brought (16-64 KiB). A full ring costs a re-armed receive, never data.
     */
    private static final int DEFAULT_RING_ENTRIES = 256;
    private static final int RING_BATCH = 32;
    /**
     * Smallest and largest ring buffer. The kernel consumes a buffer incrementally, receive after receive (of any
     * socket of the loop), so a message that meets the end of a buffer arrives in two pieces: two completions, and
     * the frame decoder copies the first piece aside until the second comes. The end is met about once per
     * buffer-size bytes received; Netty's default floor of 1 KiB split one in 17 receives of a point query (64-byte
     * messages), 16 KiB one in 250. Buffers grow from there for bulk transfers (a receive that fills what was
     * left of one) up to the maximum.
     */
    private static final int MIN_RING_BUFFER = 16 * 1024;
    private static final int MAX_RING_BUFFER = 64 * 1024;

    static final Transport IO_URING = new Transport("io_uring", Transport::bufferRingHandlers,
            IoUringServerSocketChannel.class, IoUringSocketChannel.class, true);
    static final Transport IO_URING_POLL_FIRST = new Transport("io_uring", IoUringIoHandler::newFactory,
            IoUringServerSocketChannel.class, IoUringSocketChannel.class, false);
    static final Transport EPOLL = new Transport("epoll", EpollIoHandler::newFactory,
            EpollServerSocketChannel.class, EpollSocketChannel.class, false);
    static final Transport NIO = new Transport("nio", NioIoHandler::newFactory,
            NioServerSocketChannel.class, NioSocketChannel.class, false);

    /**
     * The transport named by {@code -Ddbwarden.transport} (auto, io_uring, epoll or nio), on io_uring with the
     * buffer ring unless {@code -Ddbwarden.io-uring.buffer-ring=false}.
     */
    static Transport configured() {
        return select(System.getProperty(PROPERTY, "auto"),
                bufferRingWanted(System.getProperty(BUFFER_RING_PROPERTY)));
    }

    static Transport select(String requested) {
        return select(requested, true);
    }

    /**
     * {@code auto} picks the best available; an explicit native transport that is unavailable falls back the same
     * way, with a warning naming the reason (an unknown name is a configuration error). io_uring receives into a
     * buffer ring when {@code bufferRing} is asked for and the kernel has them.
     */
    static Transport select(String requested, boolean bufferRing) {
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
                    return ioUring(bufferRing);
                }
                Transport fallback = available(EPOLL) ? EPOLL : NIO;
                LOG.warn("io_uring transport requested but unavailable, using {}: reason={}", fallback.name(),
                        reason(IO_URING));
                return fallback;
            case "auto":
                return available(IO_URING) ? ioUring(bufferRing) : available(EPOLL) ? EPOLL : NIO;
            default:
                throw new IllegalArgumentException("unknown transport '" + requested + "' in -D" + PROPERTY
                        + " (expected auto, io_uring, epoll or nio)");
        }
    }

    static boolean bufferRingWanted(String property) {
        if (property == null || property.isBlank()) {
            return true;
        }
        return switch (property.trim().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("-D" + BUFFER_RING_PROPERTY + " must be true or false, got '"
                    + property + "'");
        };
    }

    static int ringEntries(String property) {
        if (property == null || property.isBlank()) {
            return DEFAULT_RING_ENTRIES;
        }
        int entries;
        try {
            entries = Integer.parseInt(property.trim());
        } catch (NumberFormatException e) {
            entries = -1;
        }
        if (entries < 2 || entries > 16_384 || Integer.bitCount(entries) != 1) {
            throw new IllegalArgumentException("-D" + RING_ENTRIES_PROPERTY + " must be a power of two from 2 to "
                    + "16384, got '" + property + "'");
        }
        return entries;
    }

    private static Transport ioUring(boolean bufferRing) {
        if (!bufferRing) {
            return IO_URING_POLL_FIRST;
        }
        if (!IoUring.isRegisterBufferRingSupported()) {
            LOG.info("io_uring provided-buffer rings unavailable on this kernel: sockets poll before receiving");
            return IO_URING_POLL_FIRST;
        }
        return IO_URING;
    }

    private static IoHandlerFactory bufferRingHandlers() {
        int entries = ringEntries(System.getProperty(RING_ENTRIES_PROPERTY));
        return IoUringIoHandler.newFactory(new IoUringIoHandlerConfig().setBufferRingConfig(
                IoUringBufferRingConfig.builder()
                        .bufferGroupId(BUFFER_GROUP)
                        .bufferRingSize((short) entries)
                        .batchSize(Math.min(RING_BATCH, entries))
                        .allocator(new IoUringAdaptiveBufferRingAllocator(ByteBufAllocator.DEFAULT,
                                MIN_RING_BUFFER, MIN_RING_BUFFER, MAX_RING_BUFFER))
                        .build()));
    }

    /** Whether this is one of the io_uring transports (with or without the buffer ring). */
    boolean isIoUring() {
        return socketChannel == IoUringSocketChannel.class;
    }

    /**
     * Options every relayed socket (client and database connections alike) of this transport needs: on io_uring
     * with the ring, receiving into the event loop's buffer group.
     */
    List<TcpKeepalive.Option<?>> socketOptions() {
        return bufferRing ? List.of(new TcpKeepalive.Option<>(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID,
                BUFFER_GROUP)) : List.of();
    }

    /**
     * How sockets receive, as logged: {@code buffer-ring} (io_uring, multishot receive into the loop's ring),
     * {@code poll-first} (io_uring without the ring) or {@code readiness} (epoll and NIO: wait, then read).
     */
    String receive() {
        return bufferRing ? "buffer-ring" : isIoUring() ? "poll-first" : "readiness";
    }

    static boolean available(Transport t) {
        try {
            return t.isIoUring() ? IoUring.isAvailable() : t != EPOLL || Epoll.isAvailable();
        } catch (Throwable e) { // a native library that cannot load (e.g. another libc) means: not available
            return false;
        }
    }

    private static String reason(Transport t) {
        try {
            Throwable cause = t.isIoUring() ? IoUring.unavailabilityCause() : Epoll.unavailabilityCause();
            return cause == null ? "unknown" : cause.toString();
        } catch (Throwable e) {
            return e.toString();
        }
    }
}
