package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Frames typed protocol-3 messages ({@code byte type, int32 length, payload}) without decoding them. Each emitted
 * {@link ByteBuf} holds every whole message available at once, back to back, headers included (the receiver walks
 * them with {@link #frameLength}), so that a run of messages forwarded unchanged can leave in one write; a message
 * split across reads is emitted once it is complete. Every header is validated before anything is emitted.
 * Framing only: decoding of the few message types the proxy looks into lives in {@link PgMessages}.
 */
public final class PgFrameDecoder extends ByteToMessageDecoder {
    private final int maxMessageLength;

    public PgFrameDecoder(int maxMessageLength) {
        this.maxMessageLength = maxMessageLength;
    }

    /** Length of the whole message (type byte included) starting at {@code index}, as validated by the decoder. */
    public static int frameLength(ByteBuf buf, int index) {
        return buf.getInt(index + 1) + 1;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        int whole = wholeMessages(in);
        if (whole > 0) {
            out.add(in.readRetainedSlice(whole));
        }
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
}
