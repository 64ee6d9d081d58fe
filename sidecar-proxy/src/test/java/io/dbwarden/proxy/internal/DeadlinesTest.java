package io.dbwarden.proxy.internal;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@link Deadlines}: due actions run on their executor, cleared and replaced ones do not; nothing is watched idle. */
class DeadlinesTest {
    private final ExecutorService loop = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-loop"));
    private final List<String> ran = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() {
        loop.shutdownNow();
    }

    private Runnable record(String what) {
        return () -> ran.add(what + "@" + Thread.currentThread().getName());
    }

    @Test
    void aDueActionRunsOnItsExecutorNotBeforeItsTimeAndTheWatchStopsAfterwards() {
        Deadlines d = new Deadlines(10);
        long start = System.nanoTime();
        assertThat(d.set(new Object(), loop, record("a"), 150)).isTrue();
        assertThat(d.pending()).isEqualTo(1);
        assertThat(d.watching()).isTrue();
        await().atMost(5, TimeUnit.SECONDS).until(() -> !ran.isEmpty());
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isGreaterThanOrEqualTo(150);
        assertThat(ran).containsExactly("a@test-loop");
        assertThat(d.pending()).isZero();
        await().atMost(5, TimeUnit.SECONDS).until(() -> !d.watching());
    }

    @Test
    void aClearedDeadlineNeverFiresAndAReplacedOneFiresOnlyInItsNewForm() throws Exception {
        Deadlines d = new Deadlines(10);
        Object cleared = new Object();
        Object replaced = new Object();
        d.set(cleared, loop, record("cleared"), 100);
        d.set(replaced, loop, record("old"), 100);
        d.set(replaced, loop, record("new"), 300);
        d.clear(cleared);
        assertThat(d.pending()).isEqualTo(1);
        await().atMost(5, TimeUnit.SECONDS).until(() -> !ran.isEmpty());
        Thread.sleep(200);
        assertThat(ran).containsExactly("new@test-loop");
    }

    @Test
    void manyOwnersEachGetTheirOwnAndADeadlineSetWhileTheWatchWindsDownIsNotMissed() throws Exception {
        Deadlines d = new Deadlines(10);
        for (int round = 0; round < 50; round++) {
            int before = ran.size();
            for (int i = 0; i < 20; i++) {
                d.set(new Object(), loop, record("r" + round), 5);
            }
            await().atMost(5, TimeUnit.SECONDS).until(() -> ran.size() == before + 20);
            Thread.sleep(round % 3 == 0 ? 10 : 0); // now and then just when the watch finds the map empty
        }
        assertThat(ran).hasSize(1000);
    }

    @Test
    void closedDeadlinesAreDroppedAndNewOnesRefused() throws Exception {
        Deadlines d = new Deadlines(10);
        d.set(new Object(), loop, record("dropped"), 50);
        d.close();
        assertThat(d.pending()).isZero();
        assertThat(d.set(new Object(), loop, record("refused"), 50)).isFalse();
        Thread.sleep(200);
        assertThat(ran).isEmpty();
    }

    @Test
    void theTickIsATenthOfTheShortestTimeoutWithinBounds() {
        assertThat(Deadlines.tickFor(30_000)).isEqualTo(1000);
        assertThat(Deadlines.tickFor(400)).isEqualTo(40);
        assertThat(Deadlines.tickFor(20)).isEqualTo(10);
    }
}
