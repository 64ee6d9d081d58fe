package io.dbwarden.proxy.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelOutboundInvoker;

/**
 * Messages forwarded unchanged and not yet written: adjacent ranges of one read batch (see
 * {@link io.dbwarden.proxy.postgres.PgFrameDecoder}) join into one write, instead of one write per message. Whoever
 * writes anything else to the same target emits the run first, so stream order is kept; the owner of the batch
 * emits the run before it releases the batch.
 */
final class ForwardRun {
    private final ChannelOutboundInvoker target;
    private ByteBuf batch;
    private int start;
    private int end;

    ForwardRun(ChannelOutboundInvoker target) {
        this.target = target;
    }

    /** Adds {@code [start, start + length)} of {@code batch}. */
    void add(ByteBuf batch, int start, int length) {
        if (this.batch == batch && end == start) {
            end += length;
            return;
        }
        emit();
        this.batch = batch;
        this.start = start;
        this.end = start + length;
    }

    /** Writes the pending run, if any (not flushed). */
    void emit() {
        if (batch != null) {
            ByteBuf b = batch;
            batch = null;
            target.write(b.retainedSlice(start, end - start), target.voidPromise());
        }
    }
}
