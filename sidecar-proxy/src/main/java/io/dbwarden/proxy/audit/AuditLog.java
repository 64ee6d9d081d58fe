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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Writes one JSON line per statement to a file or stdout. The event loop only formats and enqueues (bounded
 * queue, never blocks); a dedicated thread writes and flushes in batches. A full queue drops the event and counts
 * it ({@link #dropped()}, exported as a metric), so a slow disk never stalls database traffic.
 */
public final class AuditLog implements ExecutionListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final String POISON = "";

    private final BlockingQueue<String> queue;
    private final Writer out;
    private final boolean closeOut;
    private final Thread writer;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private volatile boolean closed;

    private AuditLog(Writer out, boolean closeOut, int capacity) {
        this.out = out;
        this.closeOut = closeOut;
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.writer = Thread.ofPlatform().name("dbwarden-audit").daemon(true).unstarted(this::run);
        this.writer.start();
    }

    /** Appends to {@code file}, creating it (and its directory) if needed. */
    public static AuditLog toFile(Path file, int capacity) throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        return new AuditLog(w, true, capacity);
    }

    public static AuditLog toStream(OutputStream stream, int capacity) {
        return new AuditLog(new BufferedWriter(new OutputStreamWriter(stream, StandardCharsets.UTF_8)), false, capacity);
    }

    @Override
    public void onExecution(ExecutionRecord record) {
        if (closed) {
            dropped.incrementAndGet();
            return;
        }
        if (!queue.offer(AuditEvents.toJson(record))) {
            if (dropped.incrementAndGet() % 1000 == 1) {
                LOG.warn("audit queue full, events dropped: total_dropped={}", dropped.get());
            }
        }
    }

    private void run() {
        List<String> batch = new ArrayList<>(256);
        try {
            while (true) {
                String first = queue.poll(200, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, 4095);
                boolean stop = false;
                for (String line : batch) {
                    if (line == POISON) {
                        stop = true;
                        continue;
                    }
                    out.write(line);
                    out.write('\n');
                    written.incrementAndGet();
                }
                batch.clear();
                out.flush();
                if (stop) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
        try {
            queue.put(POISON);
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
