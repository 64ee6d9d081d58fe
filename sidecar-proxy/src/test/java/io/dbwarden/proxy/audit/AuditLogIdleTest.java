package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * An idle writer sleeps until an event wakes it, an idle shipper until the writer spools more. The idle sleep here is
 * ten minutes, so every event below is written (and delivered) only because its arrival woke the thread: a lost
 * wake-up shows as an event that is not written.
 */
class AuditLogIdleTest {
    private static final long TEN_MINUTES = TimeUnit.MINUTES.toNanos(10);

    @Test
    void theFirstEventAfterAnIdleSpellWakesTheWriter() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (AuditLog log = AuditLog.open(null, out, 1000, null, TEN_MINUTES)) {
            for (int i = 0; i < 5; i++) {
                await().atMost(Duration.ofSeconds(10)).until(log::writerIdle); // asleep on an empty queue
                log.onExecution(TestRecords.selectOne(i));
                int expected = i + 1;
                await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == expected);
            }
        }
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(lines).hasSize(5);
        assertThat(HashChain.verify(List.of(lines)).intact()).isTrue();
    }

    @Test
    void closingWakesAnIdleWriterAndWritesWhatWasQueued() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        AuditLog log = AuditLog.open(null, out, 1000, null, TEN_MINUTES);
        log.onExecution(TestRecords.selectOne(0));
        await().atMost(Duration.ofSeconds(10)).until(() -> log.written() == 1);
        await().atMost(Duration.ofSeconds(10)).until(log::writerIdle);
        assertTimeoutPreemptively(Duration.ofSeconds(10), log::close); // ends at once, not after the idle sleep
        assertThat(log.writerIdle()).isFalse();
        // and with an event queued right before the close: written, not left in the queue
        ByteArrayOutputStream out2 = new ByteArrayOutputStream();
        AuditLog log2 = AuditLog.open(null, out2, 1000, null, TEN_MINUTES);
        await().atMost(Duration.ofSeconds(10)).until(log2::writerIdle);
        log2.onExecution(TestRecords.selectOne(1));
        assertTimeoutPreemptively(Duration.ofSeconds(10), log2::close);
        assertThat(out.toString(StandardCharsets.UTF_8).split("\n")).hasSize(1);
        assertThat(out2.toString(StandardCharsets.UTF_8).split("\n")).hasSize(1);
        assertThat(log2.written()).isEqualTo(1);
    }

    @Test
    void noEventIsLeftBehindWhenProducersRaceTheWriterGoingIdle() throws Exception {
        int threads = 4;
        int perThread = 400;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        AtomicInteger next = new AtomicInteger();
        try (AuditLog log = AuditLog.open(null, out, 10_000, null, TEN_MINUTES)) {
            List<Thread> producers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                producers.add(Thread.ofPlatform().start(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (int i = 0; i < perThread; i++) {
                        log.onExecution(TestRecords.selectOne(next.getAndIncrement()));
                        // pauses around the writer's 10 ms drain interval: it often goes idle between events
                        if (random.nextInt(4) == 0) {
                            sleepNanos(random.nextLong(TimeUnit.MILLISECONDS.toNanos(25)));
                        }
                    }
                }));
            }
            for (Thread p : producers) {
                p.join();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> log.written() == (long) threads * perThread);
            assertThat(log.dropped()).isZero();
        }
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(lines).hasSize(threads * perThread);
        assertThat(HashChain.verify(List.of(lines)).intact()).isTrue();
    }

    @Test
    void theShipperSleepsWhileEverythingIsDeliveredAndWakesForTheNextEvents(@TempDir Path spoolDir) throws Exception {
        List<String> delivered = new CopyOnWriteArrayList<>();
        AuditSink sink = TestRecords.memorySink(delivered);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        AuditLog log = AuditLog.open(null, out, 1000, new AuditLog.Remote(sink, spoolDir, 1 << 20), TEN_MINUTES);
        try {
            for (int i = 0; i < 4; i++) {
                await().atMost(Duration.ofSeconds(10)).until(log::shipperIdle); // all delivered, asleep
                log.onExecution(TestRecords.selectOne(2 * i));
                log.onExecution(TestRecords.selectOne(2 * i + 1));
                int expected = 2 * i + 2;
                await().atMost(Duration.ofSeconds(10)).until(() -> log.delivered() == expected);
            }
            await().atMost(Duration.ofSeconds(10)).until(log::shipperIdle);
        } finally {
            assertTimeoutPreemptively(Duration.ofSeconds(10), log::close); // an idle shipper ends at once too
        }
        assertThat(delivered).hasSize(8);
        assertThat(delivered).containsExactly(out.toString(StandardCharsets.UTF_8).split("\n"));
        assertThat(HashChain.verify(delivered).intact()).isTrue();
    }

    private static void sleepNanos(long nanos) {
        try {
            Thread.sleep(Duration.ofNanos(nanos));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
