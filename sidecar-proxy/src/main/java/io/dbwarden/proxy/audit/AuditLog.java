package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes one JSON line per statement to a file or stdout. The event loop only enqueues the immutable record
 * (bounded, lock-free, never blocks, never wakes another thread); a dedicated thread drains the queue every few
 * milliseconds, formats, writes and flushes in batches, so audit costs no system call per statement. A full queue
 * drops the event and counts it ({@link #dropped()}, exported as a metric), so a slow disk never stalls traffic.
 */
public final class AuditLog implements ExecutionListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final long DRAIN_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private final Queue<ExecutionRecord> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final int capacity;
    private final Writer out;
    private final boolean closeOut;
    private final Thread writer;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean closed;
    private volatile boolean stopping;

    private AuditLog(Writer out, boolean closeOut, int capacity) {
        this.out = out;
        this.closeOut = closeOut;
        this.capacity = capacity;
        this.writer = Thread.ofPlatform().name("dbwarden-audit").daemon(true).unstarted(this::run);
        this.writer.start();
    }

    /** Appends to {@code file}, creating it (and its directory) if needed. */
    public static AuditLog toFile(Path file, int capacity) throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        Writer w = new BufferedWriter(new OutputStreamWriter(Files.newOutputStream(file, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.WRITE), StandardCharsets.UTF_8), 1 << 16);
        return new AuditLog(w, true, capacity);
    }

    public static AuditLog toStream(OutputStream stream, int capacity) {
        return new AuditLog(new BufferedWriter(new OutputStreamWriter(stream, StandardCharsets.UTF_8), 1 << 16), false,
                capacity);
    }

    @Override
    public void onExecution(ExecutionRecord record) {
        if (closed) {
            dropped.incrementAndGet();
            return;
        }
        if (queued.incrementAndGet() > capacity) {
            queued.decrementAndGet();
            if (dropped.incrementAndGet() % 1000 == 1) {
                LOG.warn("audit queue full, events dropped: total_dropped={}", dropped.get());
            }
            return;
        }
        queue.add(record); // formatted on the writer thread: records are immutable
        if (queued.get() > capacity / 2) {
            LockSupport.unpark(writer); // falling behind: do not wait for the next tick
        }
    }

    private void run() {
        try {
            while (true) {
                boolean last = stopping;
                ExecutionRecord record;
                int n = 0;
                while ((record = queue.poll()) != null) {
                    queued.decrementAndGet();
                    out.write(AuditEvents.toJson(record));
                    out.write('\n');
                    n++;
                }
                if (n > 0) {
                    out.flush();
                    written.addAndGet(n);
                }
                if (last) {
                    return;
                }
                LockSupport.parkNanos(DRAIN_INTERVAL_NANOS);
            }
        } catch (IOException e) {
            LOG.error("audit log write failed; further events are dropped: error={}", e.toString());
            closed = true;
        }
    }

    public long written() {
        return written.get();
    }

    public long dropped() {
        return dropped.get();
    }

    /** Writes everything queued so far, then stops the writer. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        stopping = true;
        try {
            LockSupport.unpark(writer);
            writer.join(10_000);
            if (closeOut) {
                out.close();
            } else {
                out.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.warn("closing audit log failed: error={}", e.toString());
        }
    }
}
