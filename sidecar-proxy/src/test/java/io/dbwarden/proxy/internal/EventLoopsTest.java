package io.dbwarden.proxy.internal;

import io.netty.channel.EventLoop;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Event loops that wait without a deadline when nothing is scheduled, and still run every task on time. */
class EventLoopsTest {

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "epoll", "nio"})
    void anIdleLoopHasNoDeadlineAndAScheduledTaskGivesIt(String name) throws Exception {
        EventLoops group = group(name);
        try {
            EventLoop loop = group.next();
            assertThat(loop).isInstanceOf(EventLoops.Loop.class);
            EventLoops.Loop l = (EventLoops.Loop) loop;
            assertThat(loop.submit(l::deadlineNanos).get(5, TimeUnit.SECONDS)).as("nothing scheduled").isEqualTo(-1L);
            var later = loop.schedule(() -> { }, 1, TimeUnit.HOURS);
            assertThat(loop.submit(l::deadlineNanos).get(5, TimeUnit.SECONDS)).as("a task in an hour").isPositive();
            later.cancel(false);
            assertThat(loop.submit(l::deadlineNanos).get(5, TimeUnit.SECONDS)).as("cancelled").isEqualTo(-1L);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"io_uring", "epoll", "nio"})
    void tasksScheduledOnAnIdleLoopRunOnTimeFromOtherThreadsAndFromTheLoop(String name) throws Exception {
        EventLoops group = group(name);
        try {
            EventLoop loop = group.next();
            loop.submit(() -> { }).get(5, TimeUnit.SECONDS);
            Thread.sleep(50); // the loop is waiting now, with no deadline
            // scheduled from this thread: the loop is woken to take the new deadline
            long start = System.nanoTime();
            CompletableFuture<Long> fromOutside = new CompletableFuture<>();
            loop.schedule(() -> fromOutside.complete(System.nanoTime() - start), 100, TimeUnit.MILLISECONDS);
            assertThat(TimeUnit.NANOSECONDS.toMillis(fromOutside.get(5, TimeUnit.SECONDS))).isBetween(99L, 900L);
            Thread.sleep(50);
            // scheduled by a task on the loop, which then waits for it
            CompletableFuture<Long> fromInside = new CompletableFuture<>();
            long start2 = System.nanoTime();
            loop.execute(() -> loop.schedule(() -> fromInside.complete(System.nanoTime() - start2), 100,
                    TimeUnit.MILLISECONDS));
            assertThat(TimeUnit.NANOSECONDS.toMillis(fromInside.get(5, TimeUnit.SECONDS))).isBetween(99L, 900L);
            Thread.sleep(50);
            // a plain task from another thread wakes it at once
            long start3 = System.nanoTime();
            assertThat(loop.submit(() -> System.nanoTime() - start3).get(5, TimeUnit.SECONDS))
                    .isLessThan(TimeUnit.MILLISECONDS.toNanos(500));
        } finally {
            long start = System.nanoTime();
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            // an idle loop without a deadline still sees the shutdown at once
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(1_500L);
        }
    }

    private static EventLoops group(String name) {
        Transport t = Transport.select(name);
        assumeTrue(t.name().equals(name), name + " is not available here");
        return new EventLoops(1, "test-loop", t.ioHandlers().get());
    }
}
