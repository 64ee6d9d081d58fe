package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.postgres.BoundValues;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/** {@link BoundValues} as a real Bind message carries them. */
public final class BoundValuesOf {
    private BoundValuesOf() {
    }

    /** The values of a Bind with these format codes, for a statement prepared with these parameter types. */
    public static BoundValues values(int[] types, short[] formats, byte[]... values) {
        ByteBuf b = Unpooled.buffer().writeByte('B').writeInt(0).writeByte(0).writeByte(0);
        b.writeShort(formats.length);
        for (short f : formats) {
            b.writeShort(f);
        }
        b.writeShort(values.length);
        for (byte[] v : values) {
            if (v == null) {
                b.writeInt(-1);
            } else {
                b.writeInt(v.length).writeBytes(v);
            }
        }
        b.writeShort(0);
        b.setInt(1, b.writerIndex() - 1);
        java.nio.ByteBuffer declared = java.nio.ByteBuffer.allocate(2 + 4 * types.length)
                .putShort((short) types.length);
        for (int t : types) {
            declared.putInt(t);
        }
        try {
            return BoundValues.of(b, declared.array());
        } finally {
            b.release();
        }
    }

}
