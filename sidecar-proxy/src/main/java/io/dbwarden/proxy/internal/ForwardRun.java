package io.dbwarden.proxy.internal;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelOutboundInvoker;

/**
 * Messages forwarded unchanged and not yet written: adjacent ranges of one read batch (see
 * {@link io.dbwarden.proxy.postgres.PgFrameDecoder}) join into one write, instead of one write per message. The
 * reader names the frame it is processing ({@link #current}); when exactly that frame is forwarded, {@link #join}
 * adds its range to the run. Whoever writes anything else to the same target emits the run first, so stream order
 * is kept; the owner of the batch ends it ({@link #endBatch}) before it releases the batch.
 */
final class ForwardRun {
    private final ChannelOutboundInvoker target;
    private ByteBuf batch;
    private int start;
    private int end;
    /** The frame being processed and where it lies in its batch. */
    private ByteBuf currentFrame;
    private ByteBuf currentBatch;
    private int currentStart;
    private int currentLength;

    ForwardRun(ChannelOutboundInvoker target) {
        this.target = target;
    }

    /** {@code frame} is {@code [start, start + length)} of {@code batch}, and is being processed now. */
    void current(ByteBuf frame, ByteBuf batch, int start, int length) {
        currentFrame = frame;
        currentBatch = batch;
        currentStart = start;
        currentLength = length;
    }

    /** The frame being processed is done with (forwarded, held or dropped). */
    void noCurrent() {
        currentFrame = null;
        currentBatch = null;
    }

    /**
     * If {@code frame} is the frame being processed, unchanged: releases it and adds its range to the run. Returns
     * false for anything else (a rewritten message, a held frame, a message of the proxy's own), which the caller
     * writes itself after {@link #emit}.
     */
    boolean join(ByteBuf frame) {
        if (frame != currentFrame) {
            return false;
        }
        currentFrame = null;
        frame.release();
        add(currentBatch, currentStart, currentLength);
        return true;
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

    /**
     * Writes the pending run, if any (not flushed). A run of the whole batch (the usual case: a read whose messages
     * all go on unchanged) is written as the batch itself, without a slice; from here on its indices are the
     * outbound buffer's to move, and its owner only releases it.
     */
    void emit() {
        if (batch != null) {
            ByteBuf b = batch;
            batch = null;
            boolean whole = start == b.readerIndex() && end == b.writerIndex();
            target.write(whole ? b.retain() : b.retainedSlice(start, end - start), target.voidPromise());
        }
    }

    /** The batch is over: writes its run and forgets its frames. */
    void endBatch() {
        noCurrent();
        emit();
    }
}
