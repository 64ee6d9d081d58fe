package io.dbwarden.proxy.audit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.TimeUnit;

/**
 * The audit log's file, written by the audit writer thread only. Lines are appended; a file moved away or replaced by
 * another tool (logrotate's default: rename, then a new file) is noticed within {@link #CHECK_INTERVAL_NANOS} and the
 * path opened again, and with a size limit the file is rotated by the writer itself before a line would take it past
 * the limit: {@code FILE} becomes {@code FILE.1}, {@code FILE.1} becomes {@code FILE.2} and so on, the oldest part
 * beyond the kept count is deleted. The hash chain runs on across the parts ({@code verify FILE.N ... FILE.1 FILE}).
 * Not thread-safe.
 */
final class AuditFile implements Closeable {
    /** Opens the path for appending (the file system's, or one that fails on purpose in tests). */
    @FunctionalInterface
    interface Opener {
        Opener APPEND = path -> Files.newOutputStream(path, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                StandardOpenOption.WRITE);

        OutputStream open(Path path) throws IOException;
    }

    private static final Logger LOG = LoggerFactory.getLogger(AuditFile.class);
    /** How often the writer looks whether the path still names the file it writes (while it writes). */
    static final long CHECK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** A rotation that keeps failing (permissions, a directory in the way) is logged at most this often. */
    private static final long WARN_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final Path path;
    private final AuditRotation rotation;
    private final Opener opener;
    /** The file's own stream, and the buffer over it that lines are written to. */
    private OutputStream raw;
    private OutputStream out;
    /** The open file's identity (device and inode on Linux), or null where the file system has none. */
    private Object fileKey;
    /**
     * Whether the path names a regular file: a device, FIFO or terminal ({@code /dev/stdout}, a pipe to a shipper) is
     * neither rotated nor watched for moves.
     */
    private boolean regular;
    private long size;
    /** Size at which the next rotation is tried (moved on after a rotation that failed). */
    private long rotateAt;
    private long checkedAt;
    private long failedRotations;
    private long warnedAt;
    /** Written by the writer thread only, read by the metrics. */
    private volatile long rotations;
    private volatile long reopens;

    AuditFile(Path path, AuditRotation rotation, Opener opener) throws IOException {
        this.path = path;
        this.rotation = rotation;
        this.opener = opener;
        open();
        this.checkedAt = System.nanoTime();
    }

    private void open() throws IOException {
        OutputStream opened = opener.open(path);
        try {
            BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
            fileKey = attributes.fileKey();
            size = attributes.size();
            regular = attributes.isRegularFile();
        } catch (IOException e) {
            opened.close();
            throw e;
        }
        rotateAt = rotation.maxBytes();
        raw = opened;
        out = new BufferedOutputStream(opened, 1 << 16);
    }

    /** Appends one whole line (with its newline), rotating first if it would take the file past the limit. */
    void write(AuditLine line) throws IOException {
        int n = line.length();
        if (rotateAt > 0 && regular && size > 0 && size + n > rotateAt) {
            rotate();
        }
        line.writeTo(out);
        size += n;
    }

    void flush() throws IOException {
        out.flush();
    }

    /**
     * Before a batch: at most every {@link #CHECK_INTERVAL_NANOS}, opens the path again if it no longer names the file
     * being written (moved away, deleted or replaced), and takes the file's size from the file system (a copy and
     * truncate by another tool shrinks it). Expects everything written so far to be flushed.
     */
    void check(long nowNanos) throws IOException {
        if (!regular || nowNanos - checkedAt < CHECK_INTERVAL_NANOS) {
            return;
        }
        checkedAt = nowNanos;
        BasicFileAttributes attributes = attributesAtPath();
        if (movedAway(attributes)) {
            reopenMoved();
            return;
        }
        size = attributes.size();
    }

    /** The attributes of what the path names now, or null when nothing (or nothing readable) is there. */
    private BasicFileAttributes attributesAtPath() throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private boolean movedAway(BasicFileAttributes attributes) {
        return attributes == null || (fileKey != null && !fileKey.equals(attributes.fileKey()));
    }

    private void reopenMoved() throws IOException {
        reopen();
        reopens++;
        LOG.info("audit file was moved away or replaced; writing to the path again: file={}", path);
    }

    private void rotate() throws IOException {
        out.flush();
        if (movedAway(attributesAtPath())) {
            // another tool rotated it since the last look: what the path names now is not this file to shift
            reopenMoved();
            return;
        }
        try {
            for (int i = rotation.keep() - 1; i >= 1; i--) {
                Path from = AuditRotation.part(path, i);
                if (Files.exists(from)) {
                    Files.move(from, AuditRotation.part(path, i + 1), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.move(path, AuditRotation.part(path, 1), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            // a file past its limit is better than events lost: keep appending, try again one limit later
            rotateAt = size + rotation.maxBytes();
            failedRotations++;
            long now = System.nanoTime();
            if (now - warnedAt > WARN_INTERVAL_NANOS || failedRotations == 1) {
                warnedAt = now;
                LOG.warn("audit file rotation failed, appending to the current file: file={} failed_rotations={} "
                        + "error={}", path, failedRotations, e.toString());
            }
            return;
        }
        reopen();
        rotations++;
        LOG.info("audit file rotated: file={} kept={}", path, rotation.keep());
    }

    private void reopen() throws IOException {
        OutputStream old = out;
        try {
            old.flush();
        } finally {
            try {
                open();
            } finally {
                old.close();
            }
        }
    }

    /**
     * After a write failed (a full disk, an I/O error): drops the stream with what it still held, cuts a line the
     * failed write left half-written, opens the path again (creating its directory if it went away) and returns the
     * last complete line now there (or in part 1 if the file is new), from which the chain goes on. Throws while
     * the file still cannot be written.
     */
    String recover() throws IOException {
        abandon();
        prepare(path);
        open();
        return lastChainedLine(path);
    }

    /**
     * Before the path is opened: creates its directory if needed and cuts a last line left half-written (a crash or
     * a failed write); the bytes cut.
     */
    static long prepare(Path path) throws IOException {
        if (path.getParent() != null) {
            Files.createDirectories(path.getParent());
        }
        return AuditFiles.truncatePartialLine(path);
    }

    /**
     * The last complete line of the file, or of its part 1 when the file has none (it was rotated, by the proxy or
     * another tool, just before the proxy stopped or its write failed): the event the chain goes on from.
     */
    static String lastChainedLine(Path path) throws IOException {
        String last = AuditFiles.lastLine(path);
        return last != null ? last : AuditFiles.lastLine(AuditRotation.part(path, 1));
    }

    Path path() {
        return path;
    }

    /** Rotations done by size (for tests and metrics). */
    long rotations() {
        return rotations;
    }

    /** Times the path was opened again after another tool moved or replaced the file. */
    long reopens() {
        return reopens;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }

    /**
     * Closes the file without writing what the buffer still holds: after a failed write that is the failed batch,
     * whose start may be in the file already (a short write), and writing it again would put it there twice.
     */
    void abandon() {
        try {
            raw.close();
        } catch (IOException e) {
            // closing a file whose write failed: nothing more to lose
        }
    }
}
