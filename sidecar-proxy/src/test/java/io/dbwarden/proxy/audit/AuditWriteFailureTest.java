package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * A file that cannot be written for a while (a full disk): the log turns unhealthy, events wait in the queue, the
 * writer tries the file again and goes on with an unbroken chain from the last complete event in it, counting what
 * the failed write lost; the spool for the sink gets exactly what reached the file; closing while the file is still
 * failing ends at once.
 */
class AuditWriteFailureTest {
    @TempDir
    Path dir;

    /** Appends to the real file until {@link #full} is set; then writes half of each write and fails. */
    private static final class FullDisk implements AuditFile.Opener {
        final AtomicBoolean full = new AtomicBoolean();
        final AtomicInteger failures = new AtomicInteger();

        @Override
        public OutputStream open(Path path) throws IOException {
            if (full.get()) {
                failures.incrementAndGet();
                throw new IOException("No space left on device");
            }
            return new FilterOutputStream(AuditFile.Opener.APPEND.open(path)) {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    if (full.get()) {
                        failures.incrementAndGet();
                        out.write(b, off, len / 2); // a short write: half a batch, its last line cut
                        out.flush();
                        throw new IOException("No space left on device");
                    }
                    out.write(b, off, len);
                }
            };
        }
    }

    @Test
    void aFileThatCannotBeWrittenForAWhileIsWrittenAgainWithTheChainUnbroken() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        FullDisk disk = new FullDisk();
        try (AuditLog log = AuditLog.open(file, AuditRotation.NONE, disk, null, 1000, null,
                AuditLog.DEFAULT_IDLE_PARK_NANOS)) {
            for (int i = 0; i < 10; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 10);
            disk.full.set(true);
            for (int i = 10; i < 30; i++) { // one batch: its write fails half-way
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !log.healthy());
            await().atMost(Duration.ofSeconds(10)).until(() -> disk.failures.get() >= 2); // tried again, still full
            for (int i = 30; i < 40; i++) { // wait in the queue meanwhile
                log.onExecution(TestRecords.selectOne(i));
            }
            assertThat(log.healthy()).isFalse();
            disk.full.set(false);
            await().atMost(Duration.ofSeconds(15)).until(log::healthy);
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() + log.dropped() == 40);
            assertThat(log.dropped()).as("lost in the failed write").isPositive().isLessThanOrEqualTo(20);
        }
        byte[] bytes = Files.readAllBytes(file);
        assertThat(bytes[bytes.length - 1]).isEqualTo((byte) '\n');
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        HashChain.Verification v = HashChain.verify(lines);
        assertThat(v.problems()).isEmpty();
        assertThat(v.chainStarts()).containsExactly(1L); // one chain, no restart after the failure
        assertThat(lines).as("part of the failed batch reached the file").hasSizeGreaterThan(10 + 10);
        assertThat(lines.getLast()).contains("\"seq\":" + lines.size() + ",");
    }

    @Test
    void aStandardOutputThatCannotBeWrittenMakesTheLogUnhealthyInsteadOfLosingEventsSilently() throws Exception {
        java.io.ByteArrayOutputStream good = new java.io.ByteArrayOutputStream();
        try (AuditLog log = AuditLog.open(null, new java.io.PrintStream(good, false, StandardCharsets.UTF_8), 100,
                null)) {
            log.onExecution(TestRecords.selectOne(0));
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 1);
            assertThat(log.healthy()).isTrue();
        }
        assertThat(good.toString(StandardCharsets.UTF_8)).contains("\"seq\":1,");
        OutputStream closedPipe = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                throw new IOException("Broken pipe");
            }
        };
        try (AuditLog log = AuditLog.open(null, new java.io.PrintStream(closedPipe, false, StandardCharsets.UTF_8),
                100, null)) {
            log.onExecution(TestRecords.selectOne(0));
            await().atMost(Duration.ofSeconds(10)).until(() -> !log.healthy());
            assertThat(log.written()).isZero();
            assertThat(log.dropped()).isEqualTo(1);
            log.onExecution(TestRecords.selectOne(1));
            assertThat(log.dropped()).isEqualTo(2);
        }
    }

    @Test
    void aSpoolThatCannotBeWrittenCostsTheSinkItsEventsNotTheFile() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        Path spoolDir = dir.resolve("spool");
        List<String> delivered = Collections.synchronizedList(new ArrayList<>());
        AuditSink sink = TestRecords.memorySink(delivered);
        int total;
        try (AuditLog log = AuditLog.open(file, AuditRotation.NONE, null, 100_000,
                new AuditLog.Remote(sink, spoolDir, 1L << 30))) {
            for (int i = 0; i < 100; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 100);
            // the spool's volume goes away: its open segment still takes appends until it is full (8 MiB), the next
            // cannot be created
            try (var files = Files.list(spoolDir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(spoolDir);
            Files.writeString(spoolDir, "not a directory");
            total = 100;
            while (log.healthy()) {
                for (int i = 0; i < 1000; i++) {
                    log.onExecution(TestRecords.selectOne(total++));
                }
                int sent = total;
                await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == sent);
                assertThat(total).as("a new segment was needed by now").isLessThan(40_000);
            }
            assertThat(log.dropped()).isPositive(); // for the sink; the file has every event
            Files.delete(spoolDir);
            Files.createDirectory(spoolDir);
            for (int i = 0; i < 10; i++) {
                log.onExecution(TestRecords.selectOne(total++));
            }
            int sent = total;
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == sent);
            await().atMost(Duration.ofSeconds(10)).until(log::healthy);
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            await().atMost(Duration.ofSeconds(60)).until(() -> !delivered.isEmpty()
                    && delivered.getLast().equals(lines.getLast()));
        }
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        assertThat(lines).hasSize(total);
        HashChain.Verification v = HashChain.verify(lines);
        assertThat(v.problems()).isEmpty();
        assertThat(v.chainStarts()).containsExactly(1L);
        assertThat(delivered.subList(0, 100)).isEqualTo(lines.subList(0, 100));
    }

    @Test
    void theSinkGetsWhatReachedTheFileAndClosingWhileFailingEndsAtOnce() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        List<String> delivered = Collections.synchronizedList(new ArrayList<>());
        AuditSink sink = TestRecords.memorySink(delivered);
        FullDisk disk = new FullDisk();
        AuditLog log = AuditLog.open(file, AuditRotation.NONE, disk, null, 1000,
                new AuditLog.Remote(sink, dir.resolve("spool"), 1 << 20), AuditLog.DEFAULT_IDLE_PARK_NANOS);
        try {
            disk.full.set(true);
            for (int i = 0; i < 20; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !log.healthy());
            disk.full.set(false);
            await().atMost(Duration.ofSeconds(15)).until(log::healthy);
            for (int i = 20; i < 25; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() + log.dropped() == 25);
            await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == (int) log.written());
        } finally {
            log.close();
        }
        assertThat(delivered).isEqualTo(Files.readAllLines(file, StandardCharsets.UTF_8));
        assertThat(HashChain.verify(delivered).problems()).isEmpty();

        // closing while the file cannot be written: at once, the events still queued counted as dropped
        Path other = dir.resolve("other.jsonl");
        FullDisk stuck = new FullDisk();
        AuditLog failing = AuditLog.open(other, AuditRotation.NONE, stuck, null, 1000, null,
                AuditLog.DEFAULT_IDLE_PARK_NANOS);
        stuck.full.set(true);
        for (int i = 0; i < 5; i++) {
            failing.onExecution(TestRecords.selectOne(i));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !failing.healthy());
        for (int i = 5; i < 8; i++) {
            failing.onExecution(TestRecords.selectOne(i));
        }
        assertTimeoutPreemptively(Duration.ofSeconds(5), failing::close);
        assertThat(failing.written() + failing.dropped()).isEqualTo(8);
    }
}
