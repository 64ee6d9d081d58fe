package io.dbwarden.proxy.audit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A durable on-disk queue of audit lines for a remote sink: appended in batches and fsync'ed before the batch
 * counts as written, read back from a persisted cursor, deleted once delivered. Survives proxy crashes and
 * restarts: a new process resumes delivery at the cursor (at-least-once; events carry seq for de-duplication).
 * Segments are files {@code segment-<first seq>.jsonl}; the cursor file holds "segment offset".
 * One writer thread appends and one shipper thread reads; the methods are synchronized.
 */
public final class AuditSpool implements AutoCloseable {
    private static final String CURSOR = "cursor";
    private final Path dir;
    private final long segmentBytes;
    private final long maxBytes;
    private FileChannel current;
    private Path currentPath;
    private String cursorSegment;
    private long cursorOffset;
    private long pendingBytes;

    /** A batch read for delivery, with where the cursor goes once it is delivered. */
    public record Batch(List<String> lines, String segment, long endOffset) {
    }

    public AuditSpool(Path dir, long segmentBytes, long maxBytes) throws IOException {
        this.dir = Files.createDirectories(dir);
        this.segmentBytes = segmentBytes;
        this.maxBytes = maxBytes;
        Path cursor = dir.resolve(CURSOR);
        if (Files.exists(cursor)) {
            String[] parts = Files.readString(cursor).trim().split(" ");
            cursorSegment = parts[0];
            cursorOffset = Long.parseLong(parts[1]);
        }
        for (Path segment : segments()) {
            AuditFiles.truncatePartialLine(segment); // half a line from a crash was never a complete event
        }
        List<Path> all = segments();
        if (cursorSegment != null && all.stream().noneMatch(p -> p.getFileName().toString().equals(cursorSegment))) {
            cursorSegment = null; // delivered and deleted; continue with whatever is left
            cursorOffset = 0;
        }
        for (Path p : all) {
            long size = Files.size(p);
            pendingBytes += p.getFileName().toString().equals(cursorSegment) ? size - cursorOffset : size;
        }
    }

    private List<Path> segments() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("segment-")
                    && p.getFileName().toString().endsWith(".jsonl")).sorted().toList();
        }
    }

    /** The last complete line written, to continue the hash chain after a restart. */
    public synchronized String lastLine() throws IOException {
        List<Path> all = segments();
        for (int i = all.size() - 1; i >= 0; i--) {
            String last = AuditFiles.lastLine(all.get(i));
            if (last != null) {
                return last;
            }
        }
        return null;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** Bytes written but not yet delivered. */
    public synchronized long pendingBytes() {
        return pendingBytes;
    }

    /** Whether {@code bytes} more fit under the size cap. */
    public synchronized boolean hasRoom(long bytes) {
        return pendingBytes + bytes <= maxBytes;
    }

    /** Appends lines (each without newline) and forces them to disk; on failure the segment is as before. */
    public synchronized void append(List<String> lines, long firstSeq) throws IOException {
        if (lines.isEmpty()) {
            return;
        }
        if (current == null || current.size() >= segmentBytes) {
            if (current != null) {
                current.close();
                current = null; // should the next segment not open (its volume gone), the next append tries again
            }
            currentPath = dir.resolve("segment-%020d.jsonl".formatted(firstSeq));
            current = FileChannel.open(currentPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND);
        }
        StringBuilder sb = new StringBuilder();
        for (String line : lines) {
            sb.append(line).append('\n');
        }
        ByteBuffer buf = ByteBuffer.wrap(sb.toString().getBytes(StandardCharsets.UTF_8));
        long n = buf.remaining();
        long before = current.size();
        try {
            while (buf.hasRemaining()) {
                current.write(buf);
            }
            current.force(false);
        } catch (IOException e) {
            // a short write must not leave half a line for the next append to run on from
            try {
                current.truncate(before);
            } catch (IOException ignored) {
                // the segment keeps the partial line; the next start cuts it (truncatePartialLine)
            }
            throw e;
        }
        pendingBytes += n;
    }

    /** Up to {@code maxLines} undelivered lines from the cursor on, or an empty batch. */
    public synchronized Batch read(int maxLines) throws IOException {
        for (Path p : segments()) {
            String name = p.getFileName().toString();
            if (cursorSegment != null && name.compareTo(cursorSegment) < 0) {
                continue;
            }
            long start = name.equals(cursorSegment) ? cursorOffset : 0;
            List<String> lines = new ArrayList<>();
            long offset = start;
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                long size = ch.size();
                if (start < size) {
                    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(size - start, 4 << 20));
                    ch.read(buf, start);
                    byte[] bytes = buf.array();
                    int lineStart = 0;
                    for (int i = 0; i < buf.position() && lines.size() < maxLines; i++) {
                        if (bytes[i] == '\n') {
                            lines.add(new String(bytes, lineStart, i - lineStart, StandardCharsets.UTF_8));
                            lineStart = i + 1;
                        }
                    }
                    offset = start + lineStart;
                }
            }
            if (!lines.isEmpty()) {
                return new Batch(lines, name, offset);
            }
            if (!p.equals(currentPath)) {
                // fully delivered and no longer written to: remove it and go on with the next segment
                Files.deleteIfExists(p);
                if (name.equals(cursorSegment)) {
                    cursorSegment = null;
                    cursorOffset = 0;
                }
            }
        }
        return new Batch(List.of(), cursorSegment, cursorOffset);
    }

    /** Records a delivered batch: advances and persists the cursor. */
    public synchronized void ack(Batch batch) throws IOException {
        if (batch.lines().isEmpty()) {
            return;
        }
        long before = batch.segment().equals(cursorSegment) ? cursorOffset : 0;
        pendingBytes -= batch.endOffset() - before;
        cursorSegment = batch.segment();
        cursorOffset = batch.endOffset();
        Path tmp = dir.resolve(CURSOR + ".tmp");
        Files.writeString(tmp, cursorSegment + " " + cursorOffset + "\n");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        try {
            Files.move(tmp, dir.resolve(CURSOR), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, dir.resolve(CURSOR), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (current != null) {
            current.close();
            current = null;
        }
    }
}
