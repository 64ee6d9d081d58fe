package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes one hash-chained JSON line per statement to a file or stdout and, with a remote sink, to a durable spool
 * that a shipper thread delivers from. The event loop only enqueues the immutable record (bounded, lock-free,
 * never blocks); a dedicated thread drains the queue every few milliseconds while statements arrive, formats,
 * chains, writes and flushes in batches (and fsyncs the spool), so audit costs no system call per statement under
 * load. A drain that finds nothing puts the writer to sleep until the next event wakes it (one wake-up per idle
 * spell, not a hundred a second in every idle sidecar); a shipper with everything delivered sleeps likewise until the
 * writer spools more. A full queue or spool drops the event and counts it; {@link #healthy()} turns false, which the
 * optional fail-closed gate ({@link AuditGate}) uses to refuse statements while events cannot be recorded. A file
 * that cannot be written (a full disk) is tried again while events wait in the queue, and the chain goes on from
 * the last complete event in it ({@link AuditFile} rotates it and follows it when another tool moves it away); a
 * spool that cannot be written costs the sink its events, not the file.
 */
public final class AuditLog implements ExecutionListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
    private static final long DRAIN_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    /**
     * How long an idle writer sleeps unless an event wakes it first: a safety net, not a cadence (events wake it, see
     * {@link #writerIdle}).
     */
    static final long DEFAULT_IDLE_PARK_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** First and longest pause before the writer tries a file again that it could not write. */
    static final long RECOVERY_FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    static final long RECOVERY_MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** How long the shipper lets events gather after the first one that woke it, so the sink gets batches. */
    private static final long SHIP_GATHER_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Events taken off the queue before its count is lowered (bounds how full the queue seems while draining). */
    private static final int RELEASE_BATCH = 64;

    private final Queue<ExecutionRecord> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final int capacity;
    /** The stream written when there is no file (stdout), else null. */
    private final OutputStream out;
    /** The file written, else null. */
    private final AuditFile file;
    /**
     * The stream when it is a PrintStream (stdout), which keeps its write errors to itself: asked after each batch,
     * so that a closed pipe shows as a failed writer instead of events silently lost.
     */
    private final PrintStream printStream;
    /** The chain, written by the writer thread only (replaced when it recovers from a failed write). */
    private HashChain chain;
    /** Bytes of the batch being written (writer thread only). */
    private long drainedBytes;
    /** Whether the last append to the spool failed (its disk full or failing): unhealthy until one succeeds. */
    private volatile boolean spoolFailing;
    private long spoolWarnedAt = System.nanoTime() - TimeUnit.MINUTES.toNanos(1);
    private final AuditSpool spool;
    private final AuditSink sink;
    private final Thread writer;
    private final Thread shipper;
    /** Free spool space below which the log reports itself unhealthy: room for a burst of events. */
    private final long spoolHeadroom;
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong sinkFailures = new AtomicLong();
    private final AtomicBoolean shutDown = new AtomicBoolean();
    private volatile boolean writerFailed;
    private volatile boolean closed;
    private volatile boolean stopping;
    private volatile boolean shipperStopping;
    /**
     * Set by the writer before it sleeps on an empty queue; the first event after that clears it and wakes the writer.
     * Read by the event loops for every event, written only around idle spells, so under load it costs them a read of
     * an unchanging cache line.
     */
    private volatile boolean writerIdle;
    /** See {@link #maxStatementChars(int)}. */
    private volatile int maxStatementChars = AuditEvents.DEFAULT_MAX_STATEMENT_CHARS;
    /**
     * The shipper's counterpart of {@link #writerIdle}: set while it sleeps with everything delivered, cleared by the
     * writer when it spools the next events.
     */
    private volatile boolean shipperIdle;
    private final long idleParkNanos;

    private AuditLog(OutputStream out, PrintStream printStream, AuditFile file, int capacity, HashChain chain,
                     AuditSpool spool, AuditSink sink, long idleParkNanos) {
        this.idleParkNanos = idleParkNanos;
        this.out = out;
        this.file = file;
        this.printStream = printStream;
        this.capacity = capacity;
        this.chain = chain;
        this.spool = spool;
        this.sink = sink;
        this.spoolHeadroom = spool == null ? 0 : Math.min(1 << 20, spool.maxBytes() / 10);
        this.writer = Thread.ofPlatform().name("dbwarden-audit").daemon(true).unstarted(this::run);
        this.shipper = sink == null ? null
                : Thread.ofPlatform().name("dbwarden-audit-shipper").daemon(true).unstarted(this::ship);
        this.writer.start();
        if (shipper != null) {
            shipper.start();
        }
    }

    /** Where events go besides the local output. */
    public record Remote(AuditSink sink, Path spoolDir, long spoolMaxBytes) {
    }

    /** Appends to {@code file}, creating it (and its directory) if needed, continuing its hash chain. */
    public static AuditLog toFile(Path file, int capacity) throws IOException {
        return open(file, null, capacity, null);
    }

    public static AuditLog toStream(OutputStream stream, int capacity) {
        try {
            return open(null, stream, capacity, null);
        } catch (IOException e) {
            throw new IllegalStateException(e); // nothing to read or create without a file or spool
        }
    }

    /**
     * A log to {@code file} (or {@code stream} when file is null) and optionally a remote sink with a durable spool.
     * The hash chain continues from the newest event already in the file or spool.
     */
    public static AuditLog open(Path file, OutputStream stream, int capacity, Remote remote) throws IOException {
        return open(file, AuditRotation.NONE, stream, capacity, remote);
    }

    /**
     * {@link #open(Path, OutputStream, int, Remote)} with the file rotated by size as {@code rotation} says. With or
     * without it, a file that another tool moves away or replaces is noticed within a second and the path opened
     * again; the chain continues in the new file.
     */
    public static AuditLog open(Path file, AuditRotation rotation, OutputStream stream, int capacity,
                                Remote remote) throws IOException {
        return open(file, rotation, AuditFile.Opener.APPEND, stream, capacity, remote, DEFAULT_IDLE_PARK_NANOS);
    }

    /** {@link #open(Path, OutputStream, int, Remote)} with an idle writer sleeping at most {@code idleParkNanos}. */
    static AuditLog open(Path file, OutputStream stream, int capacity, Remote remote, long idleParkNanos)
            throws IOException {
        return open(file, AuditRotation.NONE, AuditFile.Opener.APPEND, stream, capacity, remote, idleParkNanos);
    }

    /** The file opened by {@code opener} (tests make it fail). */
    static AuditLog open(Path file, AuditRotation rotation, AuditFile.Opener opener, OutputStream stream,
                         int capacity, Remote remote, long idleParkNanos) throws IOException {
        String last = null;
        OutputStream w = null;
        AuditFile f = null;
        if (file != null) {
            long cut = AuditFile.prepare(file);
            if (cut > 0) {
                LOG.warn("audit file ended in a partial event (crash during a write); removed it: file={} bytes={}",
                        file, cut);
            }
            last = AuditFile.lastChainedLine(file);
            f = new AuditFile(file, rotation, opener);
        } else {
            w = new BufferedOutputStream(stream, 1 << 16);
        }
        AuditSpool spool = null;
        if (remote != null) {
            spool = new AuditSpool(remote.spoolDir(), 8L << 20, remote.spoolMaxBytes());
            String spooled = spool.lastLine();
            if (seq(spooled) > seq(last)) {
                last = spooled;
            }
        }
        HashChain chain = HashChain.after(last);
        if (chain.lastSeq() > 0) {
            LOG.info("audit hash chain continues: seq={}", chain.lastSeq());
        }
        return new AuditLog(w, stream instanceof PrintStream ps ? ps : null, f, capacity, chain, spool,
                remote == null ? null : remote.sink(), idleParkNanos);
    }

    private static long seq(String line) {
        return line == null ? -1 : HashChain.after(line).lastSeq();
    }

    /**
     * Statement texts (and the query an EXECUTE or FETCH runs) longer than this many characters are cut there in
     * the events written from now on, with their full length beside them; 0 writes every text whole. Default
     * {@value AuditEvents#DEFAULT_MAX_STATEMENT_CHARS}.
     */
    public AuditLog maxStatementChars(int chars) {
        if (chars < 0) {
            throw new IllegalArgumentException("the statement text limit must be 0 (none) or more, got " + chars);
        }
        maxStatementChars = chars;
        return this;
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
        if (writerIdle) {
            writerIdle = false; // several loops may get here at once: an extra unpark is harmless
            LockSupport.unpark(writer);
        } else if (queued.get() > capacity / 2) {
            LockSupport.unpark(writer); // falling behind: do not wait for the next tick
        }
    }

    private void run() {
        List<String> batch = new ArrayList<>();
        AuditEvents events = new AuditEvents();
        AuditLine line = new AuditLine(1024);
        try {
            while (true) {
                boolean last = stopping;
                long firstSeq = chain.lastSeq() + 1;
                String writtenHash = file != null ? chain.lastHash() : null;
                int n;
                events.limit(maxStatementChars);
                try {
                    n = drain(events, line, batch);
                } catch (IOException e) {
                    if (file == null || !recover(e, firstSeq, writtenHash, batch)) {
                        throw e; // (recover: the log was closed while the file could not be written)
                    }
                    continue;
                }
                spool(batch, firstSeq);
                if (last) {
                    return;
                }
                if (n > 0) {
                    LockSupport.parkNanos(DRAIN_INTERVAL_NANOS);
                } else {
                    // idle: announced before the last look at the queue, so an event added after that look sees
                    // the flag and wakes the writer (an unpark before the park makes the park return at once)
                    writerIdle = true;
                    if (queue.isEmpty() && !stopping) {
                        LockSupport.parkNanos(idleParkNanos);
                    }
                    writerIdle = false;
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("audit log write failed; further events are dropped: error={}", e.toString());
            writerFailed = true;
            closed = true;
        }
    }

    /** Formats, chains and writes what is queued, then flushes; the number of events written. */
    private int drain(AuditEvents events, AuditLine line, List<String> batch) throws IOException {
        ExecutionRecord record;
        drainedBytes = 0;
        int n = 0;
        int taken = 0;
        try {
            if (file != null && !queue.isEmpty()) {
                file.check(System.nanoTime()); // moved away by another tool since the last look?
            }
            while ((record = queue.poll()) != null) {
                if (++taken == RELEASE_BATCH) {
                    // the count the event loops increment is given back in steps, not per event: a cache line
                    // written by both sides for every statement would cost the event loops a miss each time
                    queued.addAndGet(-taken);
                    taken = 0;
                }
                events.write(record, line);
                chain.seal(line);
                if (spool != null) {
                    batch.add(line.toString());
                }
                line.ascii('\n');
                // the bytes that were hashed, no String per event on the way to the file
                if (file != null) {
                    file.write(line);
                } else {
                    line.writeTo(out);
                }
                drainedBytes += line.length();
                n++;
            }
        } finally {
            if (taken > 0) {
                queued.addAndGet(-taken);
            }
        }
        if (n > 0) {
            if (file != null) {
                file.flush();
            } else {
                out.flush();
                if (printStream != null && printStream.checkError()) {
                    dropped.addAndGet(n);
                    throw new IOException("the audit stream (standard output) cannot be written: closed or broken");
                }
            }
            written.addAndGet(n);
        }
        return n;
    }

    /** Hands the batch just written to the spool the shipper delivers from. */
    private void spool(List<String> batch, long firstSeq) {
        if (batch.isEmpty()) {
            return;
        }
        if (spool != null) {
            if (spool.hasRoom(drainedBytes)) {
                try {
                    spool.append(batch, firstSeq);
                    spoolFailing = false;
                } catch (IOException e) {
                    // the file (or stdout) has the events; the sink misses them, as when the spool is full
                    spoolFailing = true;
                    long d = dropped.addAndGet(batch.size());
                    long now = System.nanoTime();
                    if (now - spoolWarnedAt > TimeUnit.SECONDS.toNanos(30)) {
                        spoolWarnedAt = now;
                        LOG.warn("audit spool write failed, events not spooled for the sink: total_dropped={} "
                                + "error={}", d, e.toString());
                    }
                }
                if (shipperIdle) {
                    shipperIdle = false;
                    LockSupport.unpark(shipper);
                }
            } else {
                long d = dropped.addAndGet(batch.size());
                LOG.warn("audit spool full ({} bytes undelivered), events not spooled for the sink: "
                        + "total_dropped={}", spool.pendingBytes(), d);
            }
        }
        batch.clear();
    }

    /**
     * The file could not be written (a full disk, an I/O error): the log is unhealthy (statements are refused with
     * the fail-closed gate) and events queue up (up to the queue's capacity) while the writer tries again, at
     * growing intervals, to open the path afresh. The chain then goes on from the last complete event in the file
     * (part of the failed batch may have reached it; the rest is counted as dropped), or from the last event written
     * when the path names a new file. False when the log was closed meanwhile.
     */
    private boolean recover(IOException failure, long firstSeq, String writtenHash, List<String> batch) {
        writerFailed = true;
        long sealed = chain.lastSeq();
        LOG.error("audit file write failed; events wait in the queue while the file is tried again: file={} "
                + "error={}", file.path(), failure.toString());
        long backoff = RECOVERY_FIRST_BACKOFF_NANOS;
        while (true) {
            // events arriving wake the writer; the retries keep their pace all the same
            long until = System.nanoTime() + backoff;
            for (long left = backoff; left > 0 && !stopping; left = until - System.nanoTime()) {
                LockSupport.parkNanos(left);
            }
            if (stopping) {
                dropped.addAndGet(sealed - firstSeq + 1 + queued.get());
                return false;
            }
            String lastLine;
            try {
                lastLine = file.recover();
            } catch (IOException e) {
                backoff = Math.min(backoff * 2, RECOVERY_MAX_BACKOFF_NANOS);
                continue;
            }
            HashChain found = HashChain.after(lastLine);
            long landed = 0;
            if (found.lastSeq() >= firstSeq && found.lastSeq() <= sealed) {
                chain = found; // the failed write got this far
                landed = found.lastSeq() - firstSeq + 1;
            } else {
                // none of it (or the path names a new file): on from the last event written
                chain = new HashChain(firstSeq - 1, writtenHash);
            }
            written.addAndGet(landed);
            long lost = sealed - firstSeq + 1 - landed;
            dropped.addAndGet(lost);
            if (landed > 0 && spool != null) {
                // what reached the file goes to the sink too, so that both hold the same chain
                batch.subList((int) landed, batch.size()).clear();
                drainedBytes = 0;
                for (String l : batch) {
                    drainedBytes += l.getBytes(StandardCharsets.UTF_8).length + 1; // as the spool counts them
                }
                spool(batch, firstSeq);
            }
            batch.clear();
            writerFailed = false;
            LOG.warn("audit file writable again: file={} lost_events={} seq={}", file.path(), lost,
                    chain.lastSeq());
            return true;
        }
    }

    private void ship() {
        long backoff = 500;
        long lastWarn = 0;
        while (true) {
            try {
                AuditSpool.Batch batch = spool.read(500);
                if (batch.lines().isEmpty()) {
                    if (shipperStopping) {
                        return;
                    }
                    // everything delivered: sleep until the writer spools more (announced before the last look at
                    // the spool, whose lock orders it with the writer's append), then give a batch time to gather
                    shipperIdle = true;
                    if (spool.pendingBytes() == 0 && !shipperStopping) {
                        LockSupport.parkNanos(idleParkNanos);
                    }
                    shipperIdle = false;
                    if (!shipperStopping) {
                        LockSupport.parkNanos(SHIP_GATHER_NANOS);
                    }
                    continue;
                }
                sink.send(batch.lines());
                spool.ack(batch);
                delivered.addAndGet(batch.lines().size());
                backoff = 500;
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                sinkFailures.incrementAndGet();
                if (System.nanoTime() - lastWarn > TimeUnit.SECONDS.toNanos(30)) {
                    lastWarn = System.nanoTime();
                    LOG.warn("audit sink unavailable, events stay in the spool: sink={} pending_bytes={} error={}",
                            sink.describe(), spool.pendingBytes(), e.toString());
                }
                if (shipperStopping) {
                    return; // delivered after the next start
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(backoff));
                backoff = Math.min(backoff * 2, 30_000);
            }
        }
    }

    /** Whether events can be recorded right now (file writable, queue and spool not full, spool writable). */
    public boolean healthy() {
        return !writerFailed && !spoolFailing && queued.get() < capacity
                && (spool == null || spool.hasRoom(spoolHeadroom));
    }

    /** Whether the writer is asleep on an empty queue, waiting for the next event to wake it (for tests). */
    boolean writerIdle() {
        return writerIdle;
    }

    /** Whether the shipper is asleep with everything delivered, waiting for the writer to spool more (for tests). */
    boolean shipperIdle() {
        return shipperIdle;
    }

    public long written() {
        return written.get();
    }

    public long dropped() {
        return dropped.get();
    }

    /** Events delivered to the remote sink. */
    public long delivered() {
        return delivered.get();
    }

    public long sinkFailures() {
        return sinkFailures.get();
    }

    /** Rotations of the audit file by its size limit (0 without a file). */
    public long fileRotations() {
        return file == null ? 0 : file.rotations();
    }

    /** Times the audit file's path was opened again after another tool moved or replaced the file. */
    public long fileReopens() {
        return file == null ? 0 : file.reopens();
    }

    /** Bytes of events waiting in the spool for the sink (0 without a sink). */
    public long pendingBytes() {
        return spool == null ? 0 : spool.pendingBytes();
    }

    /** Writes everything queued so far, gives the sink a moment to take it, then stops. */
    @Override
    public void close() {
        if (!shutDown.compareAndSet(false, true)) {
            return;
        }
        closed = true;
        stopping = true;
        try {
            LockSupport.unpark(writer);
            writer.join(10_000);
            if (shipper != null) {
                shipperStopping = true;
                LockSupport.unpark(shipper);
                shipper.join(5_000);
            }
            if (file != null && writerFailed) {
                file.abandon(); // the buffer holds the failed batch
            } else if (file != null) {
                file.close();
            } else {
                out.flush();
            }
            if (spool != null) {
                spool.close();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.warn("closing audit log failed: error={}", e.toString());
        }
    }
}
