package io.dbwarden.proxy.masking;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A binary-format COPY ... TO STDOUT stream read across its CopyData messages: the header (signature, flags, header
 * extension), tuples (a field count, then each field's length, -1 for NULL, and bytes) and the trailer (a field count
 * of -1), with each field passed through a masker and the tuples written again with the masked fields' lengths.
 * The server sends whole tuples per message, but nothing here depends on it: an incomplete tuple waits for the next
 * message. A stream that cannot be read so (another signature, OIDs, a tuple of another width, bytes after the
 * trailer) is cut off where it stops being readable: the client's reader then fails on the truncated stream instead
 * of receiving what could not be masked.
 */
final class BinaryCopy {
    private static final byte[] SIGNATURE = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xFF, '\r', '\n', 0};
    private static final int HEADER = SIGNATURE.length + 8;
    private static final int FLAG_OIDS = 1 << 16;
    private static final byte[] NOTHING = new byte[0];

    /** One field's value masked: the same instance when it stays, null for NULL. */
    interface FieldMasker {
        byte[] mask(int column, byte[] value);
    }

    private final int columns;
    private final FieldMasker masker;
    private byte[] pending = NOTHING;
    private boolean headerRead;
    private boolean ended;
    private boolean broken;

    BinaryCopy(int columns, FieldMasker masker) {
        this.columns = columns;
        this.masker = masker;
    }

    /** Whether the stream stopped being readable (nothing after that point is passed on). */
    boolean broken() {
        return broken;
    }

    /**
     * The masked bytes of what {@code data} completes (the header, whole tuples, the trailer), possibly none; the
     * rest of an incomplete tuple waits for the next call.
     */
    byte[] feed(byte[] data) {
        if (broken) {
            return NOTHING;
        }
        byte[] in = pending.length == 0 ? data : concat(pending, data);
        ByteBuffer b = ByteBuffer.wrap(in);
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length + 16);
        int consumed = 0;
        if (!headerRead) {
            if (in.length < HEADER) {
                return keep(in, 0, out);
            }
            if (!Arrays.equals(in, 0, SIGNATURE.length, SIGNATURE, 0, SIGNATURE.length)
                    || (b.getInt(SIGNATURE.length) & FLAG_OIDS) != 0 || b.getInt(SIGNATURE.length + 4) < 0) {
                return stop(out);
            }
            int end = HEADER + b.getInt(SIGNATURE.length + 4);
            if (in.length < end) {
                return keep(in, 0, out);
            }
            out.write(in, 0, end);
            consumed = end;
            headerRead = true;
        }
        while (!ended && in.length - consumed >= 2) {
            int count = b.getShort(consumed);
            if (count == -1) {
                out.write(in, consumed, 2);
                consumed += 2;
                ended = true;
                break;
            }
            if (count != columns) {
                return stop(out);
            }
            byte[][] fields = new byte[count][];
            int at = consumed + 2;
            boolean complete = true;
            for (int c = 0; c < count; c++) {
                if (in.length - at < 4) {
                    complete = false;
                    break;
                }
                int len = b.getInt(at);
                at += 4;
                if (len < -1) {
                    return stop(out);
                }
                if (len == -1) {
                    continue;
                }
                if (in.length - at < len) {
                    complete = false;
                    break;
                }
                fields[c] = Arrays.copyOfRange(in, at, at + len);
                at += len;
            }
            if (!complete) {
                break;
            }
            writeTuple(out, fields);
            consumed = at;
        }
        if (ended && consumed < in.length) {
            return stop(out); // bytes after the trailer
        }
        return keep(in, consumed, out);
    }

    private void writeTuple(ByteArrayOutputStream out, byte[][] fields) {
        ByteBuffer head = ByteBuffer.allocate(4);
        out.write(fields.length >> 8);
        out.write(fields.length);
        for (int c = 0; c < fields.length; c++) {
            byte[] v = fields[c] == null ? null : masker.mask(c, fields[c]);
            head.clear();
            out.write(head.putInt(v == null ? -1 : v.length).array(), 0, 4);
            if (v != null) {
                out.write(v, 0, v.length);
            }
        }
    }

    private byte[] keep(byte[] in, int from, ByteArrayOutputStream out) {
        pending = from == in.length ? NOTHING : Arrays.copyOfRange(in, from, in.length);
        return out.toByteArray();
    }

    private byte[] stop(ByteArrayOutputStream out) {
        broken = true;
        pending = NOTHING;
        return out.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
