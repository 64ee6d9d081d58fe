package io.dbwarden.proxy.internal;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Timeouts of connections (a client's start-up, the connect to the database and the handshake with it, a pooled
 * connection's reset and idle time) without a timer per connection and off the event loops.
 *
 * <p>Not on the event loop: an io_uring event loop with any scheduled task pending arms a kernel timeout with every
 * wait for I/O (one more submission and completion per wait), so while any connection is starting every statement of
 * the loop's live sessions would cost more. Not a timer per connection either: each one scheduled on a timer thread
 * and cancelled a moment later (a start-up takes a millisecond) takes a lock and, whenever it becomes the earliest,
 * wakes that thread. Measured with clients that connect for one statement (4,000 sessions a second on two cores):
 * loop-scheduled start-up timeouts cost 6 % of the proxy's CPU per session, the pool's scheduled timers 10 %.
 *
 * <p>Here a deadline is a map entry the event loop sets or clears, waking no thread; one thread shared by the
 * process looks through the entries once per tick while there are any, and hands each due action to its event loop.
 * A deadline so fires up to a tick late; an action runs on the loop after the deadline was taken off the map, so it
 * must check that what it ends is still in the state the deadline was set for. The owner is the key (by identity): a
 * new deadline for the same owner replaces the old one.
 */
final class Deadlines {
    private static final ScheduledThreadPoolExecutor TIMER = timer();

    private final Map<Object, Deadline> pending = new ConcurrentHashMap<>();
    /** Whether a look through the deadlines is scheduled (nothing is while there are none). */
    private final AtomicBoolean watching = new AtomicBoolean();
    private final long tickNanos;
    private volatile boolean closed;

    /** Deadlines looked at every {@code tickMillis} (see {@link #tickFor}). */
    Deadlines(long tickMillis) {
        this.tickNanos = TimeUnit.MILLISECONDS.toNanos(tickMillis);
    }

    /** The tick for timeouts of at least {@code shortestMillis}: a tenth of it, from 10 ms to 1 s. */
    static long tickFor(long shortestMillis) {
        return Math.clamp(shortestMillis / 10, 10, 1000);
    }

    private static ScheduledThreadPoolExecutor timer() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
            Thread thread = new Thread(r, "dbwarden-timeouts");
            thread.setDaemon(true);
            return thread;
        });
        t.setRemoveOnCancelPolicy(true);
        return t;
    }

    /** An action due on an event loop at a time; compared by identity. */
    private static final class Deadline {
        final long dueNanos;
        final Executor loop;
        final Runnable action;

        Deadline(long dueNanos, Executor loop, Runnable action) {
            this.dueNanos = dueNanos;
            this.loop = loop;
            this.action = action;
        }
    }

    /**
     * Runs {@code action} on {@code loop} once {@code millis} have passed (up to a tick later) unless {@code owner}'s
     * deadline is replaced or cleared before; false (nothing set) once closed.
     */
    boolean set(Object owner, Executor loop, Runnable action, long millis) {
        if (closed) {
            return false;
        }
        pending.put(owner, new Deadline(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis), loop, action));
        if (!watching.get() && watching.compareAndSet(false, true)) {
            TIMER.schedule(this::watch, tickNanos, TimeUnit.NANOSECONDS);
        }
        return true;
    }

    /** Takes {@code owner}'s deadline off, if it has one. */
    void clear(Object owner) {
        pending.remove(owner);
    }

    /** Deadlines set and not yet due or cleared. */
    int pending() {
        return pending.size();
    }

    /** Whether a look through the deadlines is scheduled (false soon after the last one is gone). */
    boolean watching() {
        return watching.get();
    }

    /** Drops every deadline; later ones are refused. */
    void close() {
        closed = true;
        pending.clear();
    }

    /** On the timer thread: hands what is due to the event loops, and looks again a tick later while any are left. */
    private void watch() {
        long now = System.nanoTime();
        for (Map.Entry<Object, Deadline> e : pending.entrySet()) {
            Deadline d = e.getValue();
            // taken off only if the event loop has not set another one meanwhile
            if (now - d.dueNanos >= 0 && pending.remove(e.getKey(), d)) {
                try {
                    d.loop.execute(d.action);
                } catch (RuntimeException ex) {
                    // the event loop is shutting down (its channels close with it); the other deadlines still count
                }
            }
        }
        if (pending.isEmpty()) {
            watching.set(false);
            // a deadline set between the look and the flag found the flag still up and scheduled nothing
            if (pending.isEmpty() || !watching.compareAndSet(false, true)) {
                return;
            }
        }
        TIMER.schedule(this::watch, tickNanos, TimeUnit.NANOSECONDS);
    }
}
