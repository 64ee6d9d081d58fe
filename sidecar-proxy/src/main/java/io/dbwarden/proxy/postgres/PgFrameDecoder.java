package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Frames typed protocol-3 messages ({@code byte type, int32 length, payload}) without decoding them.
 * Each emitted {@link ByteBuf} is one whole message, header included, so that it can be forwarded as is.
 * Framing only: decoding of the few message types the proxy looks into lives in {@link PgMessages}.
 */
public final class PgFrameDecoder extends ByteToMessageDecoder {
    private final int maxMessageLength;

    public PgFrameDecoder(int maxMessageLength) {
        this.maxMessageLength = maxMessageLength;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (in.readableBytes() >= 5) {
            int start = in.readerIndex();
            int length = in.getInt(start + 1);
            if (length < 4) {
                throw new PgProtocolException("08P01", "invalid message length " + length
                        + " for message type '" + (char) in.getByte(start) + "'");
            }
            if (length > maxMessageLength) {
                throw new PgProtocolException("54000", "message of " + length + " bytes exceeds the proxy limit of "
                        + maxMessageLength + " bytes");
            }
            if (in.readableBytes() < length + 1) {
                return;
            }
            out.add(in.readRetainedSlice(length + 1));
        }
    }
}
