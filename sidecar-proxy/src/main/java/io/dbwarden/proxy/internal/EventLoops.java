package io.dbwarden.proxy.internal;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SingleThreadIoEventLoop;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.util.concurrent.Executor;

/**
 * The proxy's event loops: Netty's, except that a loop with nothing scheduled waits for I/O or a task without a
 * deadline. Netty's loops give the I/O handler a deadline one second ahead when no task is scheduled (a periodic
 * "purge" wake-up), and the io_uring handler turns every deadline into a timeout request: one more submission, one
 * more completion and a kernel timer armed and cancelled around every single wait, which a proxy makes once or twice
 * per statement. Nothing needs that wake-up here: a task scheduled from another thread wakes the loop as any task
 * does, a task scheduled on the loop is seen before it next waits, and a loop that is shutting down does not block.
 * Measured: one io_uring timeout request per wait (1.3 per statement with one client) gone, and 6-8 us less proxy CPU
 * per statement with one client (docs/benchmarks.md, fifteenth session).
 */
final class EventLoops extends MultiThreadIoEventLoopGroup {
    /** {@code threads} loops named {@code name-<group>-<n>}. */
    EventLoops(int threads, String name, IoHandlerFactory handlers) {
        super(threads, new DefaultThreadFactory(name), handlers);
    }

    @Override
    protected IoEventLoop newChild(Executor executor, IoHandlerFactory handlers, Object... args) {
        return new Loop(this, executor, handlers);
    }

    /** A loop whose I/O wait ends at its next scheduled task, or only with I/O or a task when there is none. */
    static final class Loop extends SingleThreadIoEventLoop {
        Loop(EventLoops group, Executor executor, IoHandlerFactory handlers) {
            super(group, executor, handlers);
        }

        @Override
        protected long deadlineNanos() {
            return nextScheduledTaskDeadlineNanos(); // -1 when nothing is scheduled: no deadline
        }
    }
}
