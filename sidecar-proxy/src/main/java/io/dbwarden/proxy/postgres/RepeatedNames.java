package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;

import java.nio.charset.Charset;
import java.util.Arrays;
import java.util.function.BiFunction;

/**
 * Decodes the two NUL-terminated strings that open a frontend message (Parse: statement name and query text; Bind:
 * portal and statement name) for one session, and hands back the previous message's result when a message repeats
 * those bytes in the same encoding: drivers send the same Parse for every execution of an unnamed statement and the
 * same names with every Bind. The repeat costs one bulk copy and a comparison instead of two new strings, and the
 * statement cache then gets the very String it has seen before, whose hash is already known. Openings longer than
 * {@link #LIMIT} bytes are decoded every time and not kept, so a session holds at most two such buffers. Not
 * thread-safe: one per session, used on its event loop.
 */
public final class RepeatedNames<T> {
    /** The longest opening (both strings and their terminators) that is compared and kept. */
    static final int LIMIT = 4096;

    private final BiFunction<String, String, T> result;
    private byte[] scratch = new byte[0];
    private byte[] kept = new byte[0];
    private int keptLength = -1;
    private Charset keptCharset;
    private T keptResult;

    public RepeatedNames(BiFunction<String, String, T> result) {
        this.result = result;
    }

    /** The message's two opening strings, as {@code result} makes them; a malformed message throws. */
    public T decode(ByteBuf frame, Charset charset) {
        int from = frame.readerIndex() + 5;
        int firstEnd = PgMessages.cStringEnd(frame, from);
        int secondEnd = PgMessages.cStringEnd(frame, firstEnd + 1);
        int length = secondEnd + 1 - from;
        if (length > LIMIT) {
            return result.apply(PgMessages.string(frame, from, firstEnd, charset),
                    PgMessages.string(frame, firstEnd + 1, secondEnd, charset));
        }
        if (scratch.length < length) {
            scratch = new byte[Math.max(length, Math.min(LIMIT, 2 * scratch.length))];
        }
        frame.getBytes(from, scratch, 0, length);
        if (length == keptLength && charset.equals(keptCharset)
                && Arrays.equals(scratch, 0, length, kept, 0, length)) {
            return keptResult;
        }
        int firstLength = firstEnd - from;
        T decoded = result.apply(string(scratch, 0, firstLength, charset),
                string(scratch, firstLength + 1, secondEnd - firstEnd - 1, charset));
        byte[] t = kept; // what was just read is kept; the old copy is the next scratch
        kept = scratch;
        scratch = t;
        keptLength = length;
        keptCharset = charset;
        keptResult = decoded;
        return decoded;
    }

    private static String string(byte[] bytes, int from, int length, Charset charset) {
        return length == 0 ? "" : new String(bytes, from, length, charset);
    }
}
