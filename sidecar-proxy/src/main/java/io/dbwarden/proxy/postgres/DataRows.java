package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** Reading and rebuilding DataRow ('D') messages column by column without copying untouched values. */
public final class DataRows {
    private DataRows() {
    }

    /** Offsets of each column's length word in the frame (absolute indexes); length -1 means NULL. */
    public static int[] columnOffsets(ByteBuf frame) {
        int i = frame.readerIndex() + 5;
        int n = frame.getUnsignedShort(i);
        i += 2;
        int[] offsets = new int[n];
        for (int c = 0; c < n; c++) {
            offsets[c] = i;
            int len = frame.getInt(i);
            i += 4 + Math.max(len, 0);
        }
        return offsets;
    }

    /**
     * A new DataRow with replaced columns: {@code replacements[c]} null keeps column c, {@link #NULL} makes it
     * NULL, any other byte array is the new value.
     */
    public static ByteBuf rebuild(ByteBufAllocator alloc, ByteBuf frame, int[] offsets, byte[][] replacements) {
        int size = frame.readableBytes();
        for (int c = 0; c < offsets.length; c++) {
            if (replacements[c] != null) {
                size += Math.max(replacements[c].length, 0) + 4;
            }
        }
        ByteBuf out = alloc.buffer(size);
        out.writeByte('D').writeInt(0).writeShort(offsets.length);
        for (int c = 0; c < offsets.length; c++) {
            int len = frame.getInt(offsets[c]);
            byte[] r = replacements[c];
            if (r == null) {
                out.writeBytes(frame, offsets[c], 4 + Math.max(len, 0));
            } else if (r == NULL) {
                out.writeInt(-1);
            } else {
                out.writeInt(r.length).writeBytes(r);
            }
        }
        out.setInt(1, out.writerIndex() - 1);
        return out;
    }

    /** Marker replacement meaning SQL NULL. */
    public static final byte[] NULL = new byte[0];
}
