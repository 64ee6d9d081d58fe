package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;

import java.util.ArrayDeque;

/**
 * Frames typed protocol-3 messages ({@code byte type, int32 length, payload}) without decoding them. Each emitted
 * {@link ByteBuf} holds every whole message available at once, back to back, headers included (the receiver walks
 * them with {@link #frameLength}), so that a run of messages forwarded unchanged can leave in one write; a message
 * split across reads is emitted once it is complete. Every header is validated before anything is emitted; a bad one
 * fails the read with a {@link DecoderException} whose cause is the {@link PgProtocolException}.
 *
 * <p>Not a {@code ByteToMessageDecoder}: nearly every read of a session holds whole messages only (a query, a
 * server's answer to it), and such a read goes on as the very buffer that was read, without the cumulation, output
 * list and slice that decoder spends on each. Only a message cut by the end of a read is copied aside (into a buffer
 * of the decoder's own that grows by doubling, so a large message costs linear copying), and emitted with the whole
 * messages that complete it. With auto-read off, a read that completed no message asks for the next one itself (the
 * handlers after it saw nothing, so they would not), as {@code ByteToMessageDecoder} does.
 */
public final class PgFrameDecoder extends ChannelInboundHandlerAdapter {
    private final int maxMessageLength;
    /** The start of a message that the reads so far did not complete (owned by this decoder), or null. */
    private ByteBuf partial;
    /** Since the last read completed: whether bytes came, and whether messages went on. */
    private boolean read;
    private boolean fired;
    /** Set while a read is being framed; a read arriving meanwhile (re-entrantly) waits in {@link #reentered}. */
    private boolean framing;
    private ArrayDeque<Object> reentered;

    public PgFrameDecoder(int maxMessageLength) {
        this.maxMessageLength = maxMessageLength;
    }

    /** Length of the whole message (type byte included) starting at {@code index}, as validated by the decoder. */
    public static int frameLength(ByteBuf buf, int index) {
        return buf.getInt(index + 1) + 1;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (framing) {
            if (reentered == null) {
                reentered = new ArrayDeque<>(2);
            }
            reentered.add(msg);
            return;
        }
        framing = true;
        try {
            Object next = msg;
            do {
                if (next instanceof ByteBuf in) {
                    frame(ctx, in);
                } else {
                    ctx.fireChannelRead(next);
                }
            } while (reentered != null && (next = reentered.poll()) != null);
        } finally {
            framing = false;
        }
    }

    private void frame(ChannelHandlerContext ctx, ByteBuf in) {
        read = true;
        ByteBuf buf = in;
        boolean ours = partial != null;
        if (ours) {
            buf = partial;
            partial = null;
            try {
                buf.writeBytes(in); // grows by doubling
            } catch (RuntimeException e) {
                buf.release();
                throw e;
            } finally {
                in.release();
            }
        }
        int whole;
        try {
            whole = wholeMessages(buf);
        } catch (PgProtocolException e) {
            buf.release();
            throw new DecoderException(e);
        }
        int rest = buf.readableBytes() - whole;
        if (rest == 0) {
            fired = true;
            ctx.fireChannelRead(buf);
            return;
        }
        if (whole == 0 && ours) {
            partial = buf; // still not one whole message: keep adding to it
            return;
        }
        // the start of a message stays, in a buffer of our own (not the read's: that may be a slice of a receive
        // buffer the kernel is still filling)
        ByteBuf kept = ctx.alloc().buffer(Math.max(rest * 2, 256));
        kept.writeBytes(buf, buf.readerIndex() + whole, rest);
        partial = kept;
        if (whole == 0) {
            buf.release();
            return;
        }
        buf.writerIndex(buf.readerIndex() + whole);
        fired = true;
        ctx.fireChannelRead(buf);
    }

    /** Bytes of the whole messages at the start of {@code in} (validating each header). */
    private int wholeMessages(ByteBuf in) {
        int start = in.readerIndex();
        int i = start;
        int end = in.writerIndex();
        while (end - i >= 5) {
            int length = in.getInt(i + 1);
            check(in, i, length);
            if (end - i < length + 1) {
                break;
            }
            i += length + 1;
        }
        return i - start;
    }

    private void check(ByteBuf in, int start, int length) {
        if (length < 4) {
            throw new PgProtocolException("08P01", "invalid message length " + length
                    + " for message type '" + (char) in.getByte(start) + "'");
        }
        if (length > maxMessageLength) {
            throw new PgProtocolException("54000", "message of " + length + " bytes exceeds the proxy limit of "
                    + maxMessageLength + " bytes");
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        boolean askForMore = read && !fired && !ctx.channel().config().isAutoRead();
        read = false;
        fired = false;
        if (askForMore) {
            ctx.read();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releasePartial(); // a message the peer never finished
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releasePartial();
        if (reentered != null) {
            Object m;
            while ((m = reentered.poll()) != null) {
                io.netty.util.ReferenceCountUtil.release(m);
            }
        }
    }

    private void releasePartial() {
        if (partial != null) {
            partial.release();
            partial = null;
        }
    }
}
