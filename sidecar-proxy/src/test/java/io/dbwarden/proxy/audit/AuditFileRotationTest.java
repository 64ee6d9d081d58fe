package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The audit file rotated by size (parts shifted, the oldest deleted, the chain running on across them), moved away or
 * truncated by another tool (the path opened again within a second, appends going on at the new end), a restart right
 * after a rotation continuing the chain from part 1, and a rotation that cannot rename going on in the same file.
 */
class AuditFileRotationTest {
    private static final Pattern SEQ = Pattern.compile("\"seq\":(\\d+),\"prev\":\"[0-9a-f]{64}\"");

    @TempDir
    Path dir;

    @Test
    void rotatesBySizeKeepingTheNewestPartsWithTheChainRunningAcrossThem() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        int events = 300;
        long rotations;
        try (AuditLog log = AuditLog.open(file, new AuditRotation(4096, 3), null, 1000, null)) {
            for (int i = 0; i < events; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == events);
            rotations = log.fileRotations();
        }
        assertThat(AuditRotation.withRotatedParts(file)).containsExactly(AuditRotation.part(file, 3),
                AuditRotation.part(file, 2), AuditRotation.part(file, 1), file);
        assertThat(AuditRotation.part(file, 4)).doesNotExist();
        List<String> kept = new ArrayList<>();
        long previousLast = -1;
        for (Path part : AuditRotation.withRotatedParts(file)) {
            assertThat(Files.size(part)).as(part.toString()).isLessThanOrEqualTo(4096).isPositive();
            List<String> lines = Files.readAllLines(part, StandardCharsets.UTF_8);
            if (previousLast >= 0) {
                assertThat(seq(lines.getFirst())).as("parts in chain order").isEqualTo(previousLast + 1);
            }
            previousLast = seq(lines.getLast());
            kept.addAll(lines);
        }
        assertThat(previousLast).isEqualTo(events);
        // every event since the oldest kept part's first, in one chain; the deleted parts' events are before it
        long first = seq(kept.getFirst());
        assertThat(kept).hasSize((int) (events - first + 1));
        HashChain.Verification v = HashChain.verify(kept);
        assertThat(v.problems()).isEmpty();
        assertThat(v.chainStarts()).containsExactly(1L); // the oldest kept part starts mid-chain
        int perPart = Files.readAllLines(AuditRotation.part(file, 1)).size();
        assertThat(rotations).isGreaterThanOrEqualTo((events - 1) / perPart).isLessThanOrEqualTo(events);
    }

    @Test
    void aFileMovedAwayByAnotherToolIsNoticedAndThePathWrittenAgain() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        Path moved = dir.resolve("audit.jsonl-20261203");
        int[] sent = {0};
        try (AuditLog log = AuditLog.open(file, null, 1000, null)) {
            for (; sent[0] < 5; sent[0]++) {
                log.onExecution(TestRecords.selectOne(sent[0]));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 5);
            Files.move(file, moved); // logrotate's default: rename, no signal
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(() -> {
                log.onExecution(TestRecords.selectOne(sent[0]++));
                return Files.exists(file);
            });
            for (int i = 0; i < 5; i++) {
                log.onExecution(TestRecords.selectOne(sent[0]++));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == sent[0]);
            assertThat(log.fileReopens()).isEqualTo(1);
            assertThat(log.fileRotations()).isZero();
        }
        List<String> before = Files.readAllLines(moved, StandardCharsets.UTF_8);
        List<String> after = Files.readAllLines(file, StandardCharsets.UTF_8);
        assertThat(before.size()).isGreaterThanOrEqualTo(5); // events until the move was noticed went there
        assertThat(after).isNotEmpty();
        assertThat(seq(after.getFirst())).isEqualTo(seq(before.getLast()) + 1);
        List<String> all = new ArrayList<>(before);
        all.addAll(after);
        assertThat(all).hasSize(sent[0]);
        HashChain.Verification v = HashChain.verify(all);
        assertThat(v.problems()).isEmpty();
        assertThat(v.chainStarts()).containsExactly(1L);
    }

    @Test
    void aFileMovedAwayBetweenLooksIsNotShiftedIntoThePartsAtTheNextRotation() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        Path moved = dir.resolve("moved.jsonl");
        try (AuditLog log = AuditLog.open(file, new AuditRotation(4096, 2), null, 1000, null)) {
            for (int i = 0; i < 20; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 20);
            long rotations = log.fileRotations();
            List<String> partsBefore = new ArrayList<>();
            for (int n = 1; n <= 2; n++) {
                partsBefore.add(Files.readString(AuditRotation.part(file, n)));
            }
            Files.move(file, moved);
            for (int i = 20; i < 30; i++) { // written within a second of the move: before the next look
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 30);
            assertThat(log.fileReopens()).isEqualTo(1);
            assertThat(Files.size(moved)).isLessThanOrEqualTo(4096);
            assertThat(file).exists();
            // the parts the proxy made are shifted only by its own later rotations, never by the moved file
            long later = log.fileRotations() - rotations;
            if (later == 0) {
                for (int n = 1; n <= 2; n++) {
                    assertThat(Files.readString(AuditRotation.part(file, n))).isEqualTo(partsBefore.get(n - 1));
                }
            }
        }
        List<String> all = new ArrayList<>(Files.readAllLines(moved, StandardCharsets.UTF_8));
        for (Path part : AuditRotation.withRotatedParts(file)) {
            List<String> lines = Files.readAllLines(part, StandardCharsets.UTF_8);
            if (seq(lines.getFirst()) > seq(all.getLast())) {
                all.addAll(lines);
            }
        }
        assertThat(seq(all.getLast())).isEqualTo(30);
        assertThat(HashChain.verify(all).problems()).isEmpty();
    }

    @Test
    void aCopiedAndTruncatedFileIsAppendedToFromItsNewEnd() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        Path copy = dir.resolve("audit.jsonl.copy");
        try (AuditLog log = AuditLog.open(file, null, 1000, null)) {
            for (int i = 0; i < 5; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 5);
            Files.copy(file, copy); // logrotate's copytruncate
            try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
                channel.truncate(0);
            }
            for (int i = 5; i < 10; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 10);
            assertThat(log.fileReopens()).isZero(); // the same file
        }
        byte[] bytes = Files.readAllBytes(file);
        assertThat(bytes[0]).as("no hole where the old content was").isEqualTo((byte) '{');
        List<String> all = new ArrayList<>(Files.readAllLines(copy, StandardCharsets.UTF_8));
        all.addAll(Files.readAllLines(file, StandardCharsets.UTF_8));
        assertThat(all).hasSize(10);
        assertThat(HashChain.verify(all).problems()).isEmpty();
    }

    @Test
    void aRestartRightAfterARotationContinuesTheChainFromPartOne() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        try (AuditLog log = AuditLog.open(file, new AuditRotation(4096, 2), null, 1000, null)) {
            for (int i = 0; i < 40; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 40);
        }
        // as if the proxy stopped between moving the file to part 1 and writing the new file's first event
        Files.delete(AuditRotation.part(file, 2));
        Files.move(AuditRotation.part(file, 1), AuditRotation.part(file, 2));
        Files.move(file, AuditRotation.part(file, 1));
        Files.createFile(file);
        String lastBefore = Files.readAllLines(AuditRotation.part(file, 1)).getLast();
        try (AuditLog log = AuditLog.open(file, new AuditRotation(4096, 2), null, 1000, null)) {
            log.onExecution(TestRecords.selectOne(40));
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 1);
        }
        String first = Files.readAllLines(file).getFirst();
        assertThat(seq(first)).isEqualTo(seq(lastBefore) + 1);
        List<String> all = new ArrayList<>();
        for (Path part : AuditRotation.withRotatedParts(file)) {
            all.addAll(Files.readAllLines(part, StandardCharsets.UTF_8));
        }
        HashChain.Verification v = HashChain.verify(all);
        assertThat(v.problems()).isEmpty();
        assertThat(v.chainStarts()).hasSize(1); // no new chain at the restart
        assertThat(seq(all.getLast())).isEqualTo(41);
    }

    @Test
    void aRotationThatCannotRenameKeepsAppendingWithoutLosingEvents() throws Exception {
        Path file = dir.resolve("audit.jsonl");
        Path blocker = AuditRotation.part(file, 1);
        Files.createDirectories(blocker.resolve("not-empty")); // a non-empty directory cannot be replaced
        try (AuditLog log = AuditLog.open(file, new AuditRotation(4096, 1), null, 1000, null)) {
            for (int i = 0; i < 30; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 30);
            assertThat(log.healthy()).isTrue();
            assertThat(log.fileRotations()).isZero();
        }
        assertThat(Files.size(file)).isGreaterThan(4096);
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        assertThat(lines).hasSize(30);
        assertThat(HashChain.verify(lines).problems()).isEmpty();
        assertThat(Files.isDirectory(blocker)).isTrue();
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // opening a FIFO to read would block
    void aPathThatIsNoRegularFileIsNeitherRotatedNorReopened() throws Exception {
        Path fifo = dir.resolve("audit.fifo"); // as a pipe to a log shipper, or /dev/stdout
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is available");
        java.util.concurrent.atomic.AtomicLong read = new java.util.concurrent.atomic.AtomicLong();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (var in = Files.newInputStream(fifo)) {
                byte[] buffer = new byte[8192];
                for (int n; (n = in.read(buffer)) > 0; ) {
                    read.addAndGet(n);
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try (AuditLog log = AuditLog.open(fifo, new AuditRotation(4096, 2), null, 1000, null)) {
            for (int i = 0; i < 50; i++) {
                log.onExecution(TestRecords.selectOne(i));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 50);
            Thread.sleep(1100); // past a look for moves
            log.onExecution(TestRecords.selectOne(50));
            await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 51);
            assertThat(log.healthy()).isTrue();
            assertThat(log.fileRotations()).isZero();
            assertThat(log.fileReopens()).isZero();
        }
        reader.join(10_000);
        assertThat(read.get()).isGreaterThan(51L * 300); // every event went through the pipe
        assertThat(AuditRotation.part(fifo, 1)).doesNotExist();
        assertThat(Files.isRegularFile(fifo)).isFalse();
        assertThat(fifo).exists();
    }

    @Test
    void limitsOutOfRangeAreRefused() {
        assertThatThrownBy(() -> new AuditRotation(4095, 1)).hasMessageContaining("at least 4096");
        assertThatThrownBy(() -> new AuditRotation(-1, 1)).hasMessageContaining("at least 4096");
        assertThatThrownBy(() -> new AuditRotation(4096, 0)).hasMessageContaining("between 1 and 1000");
        assertThatThrownBy(() -> new AuditRotation(4096, 1001)).hasMessageContaining("between 1 and 1000");
        assertThat(new AuditRotation(0, 0)).isEqualTo(AuditRotation.NONE);
    }

    @Test
    void withRotatedPartsListsContiguousPartsOldestFirst() throws IOException {
        Path file = dir.resolve("a.jsonl");
        assertThat(AuditRotation.withRotatedParts(file)).containsExactly(file);
        Files.createFile(AuditRotation.part(file, 1));
        Files.createFile(AuditRotation.part(file, 2));
        Files.createFile(AuditRotation.part(file, 4)); // after a gap: not part of the sequence
        assertThat(AuditRotation.withRotatedParts(file)).containsExactly(AuditRotation.part(file, 2),
                AuditRotation.part(file, 1), file);
        assertThat(AuditRotation.part(file, 3).getFileName()).hasToString("a.jsonl.3");
    }

    private static long seq(String line) {
        Matcher m = SEQ.matcher(line);
        assertThat(m.find()).as(line).isTrue();
        return Long.parseLong(m.group(1));
    }
}
