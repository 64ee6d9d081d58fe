package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;

/**
 * The values a Bind supplies for a prepared statement's parameters, as sent, with the parameter types its Parse
 * declared. The {@linkplain #digest digest} identifies them (an approval is given for it); the values themselves are
 * read only to estimate the change the statement would make with them, never logged, and not kept once the statement
 * is judged.
 */
public final class BoundValues {
    private final byte[] parameterTypes;
    private final byte[] digest;
    private final short[] formats;
    private final byte[][] values;

    private BoundValues(byte[] parameterTypes, byte[] digest, short[] formats, byte[][] values) {
        this.parameterTypes = parameterTypes;
        this.digest = digest;
        this.formats = formats;
        this.values = values;
    }

    /**
     * The values of a Bind message (validated as {@link PgMessages#bindValuesDigest} does).
     *
     * @param parameterTypes the statement's Parse parameter types ({@link PgMessages#parseParameterTypes})
     */
    public static BoundValues of(ByteBuf frame, byte[] parameterTypes) {
        byte[] digest = PgMessages.bindValuesDigest(frame, parameterTypes); // checks every length below
        int at = PgMessages.afterNames(frame);
        int codes = frame.getUnsignedShort(at);
        short[] formats = new short[codes];
        for (int i = 0; i < codes; i++) {
            formats[i] = frame.getShort(at + 2 + 2 * i);
        }
        at += 2 + 2 * codes;
        int count = frame.getUnsignedShort(at);
        at += 2;
        byte[][] values = new byte[count][];
        for (int i = 0; i < count; i++) {
            int len = frame.getInt(at);
            at += 4;
            if (len >= 0) {
                values[i] = new byte[len];
                frame.getBytes(at, values[i]);
                at += len;
            }
        }
        return new BoundValues(parameterTypes, digest, formats, values);
    }

    /** SHA-256 of the declared parameter types, the format codes and the values. */
    public byte[] digest() {
        return digest;
    }

    public int count() {
        return values.length;
    }

    /** The type OID the Parse declared for parameter {@code i} (0-based); 0 when it left it to the server. */
    public int type(int i) {
        int declared = parameterTypes.length < 2 ? 0 : ByteBuffer.wrap(parameterTypes, 0, 2).getShort() & 0xFFFF;
        return i < declared ? ByteBuffer.wrap(parameterTypes).getInt(2 + 4 * i) : 0;
    }

    /**
     * Whether parameter {@code i} is sent in binary format (format codes: none = all text, one = for all; a Bind
     * with another number of codes than values, which the server refuses, counts as binary: not read as text).
     */
    public boolean binary(int i) {
        if (formats.length == 0) {
            return false;
        }
        return formats.length == 1 ? formats[0] == 1 : i >= formats.length || formats[i] == 1;
    }

    /** The value of parameter {@code i} as sent; null for NULL. */
    public byte[] value(int i) {
        return values[i];
    }
}
