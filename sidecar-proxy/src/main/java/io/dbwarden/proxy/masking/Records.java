package io.dbwarden.proxy.masking;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Composite values (a table's row as in {@code SELECT c FROM customers c}, {@code ROW(...)}, a composite type) masked
 * field by field, so the value stays one its type reads: the text format as record_out writes it (fields separated by
 * commas between parentheses, nothing for NULL, double quotes with doubled quotes and backslashes), the binary format
 * as record_send does (field count, then per field its type OID, length and bytes).
 */
final class Records {
    /** A field masked to NULL. */
    private static final byte[] NULLED = new byte[0];

    private Records() {
    }

    /** One field masked. */
    interface FieldMasker {
        /**
         * @param field   the field's bytes: its text in text format, its binary form in binary format
         * @param typeOid the field's type: from the value in binary format, else {@code textTypes} or 0 (unknown)
         * @param index   the field's position (0-based)
         * @return the same instance when nothing was found, null for NULL
         * @throws TextArrays.Unreadable to give up on the whole value
         */
        byte[] mask(byte[] field, int typeOid, int index) throws TextArrays.Unreadable;
    }

    /**
     * {@code value} with each field replaced by {@code masker}'s result: the same instance when none changed.
     *
     * @param textTypes the field types of the text format, in order (null: unknown, each field's type is 0); a
     *                  value in either format with another number of fields is unreadable
     */
    static byte[] mask(byte[] value, int[] textTypes, FieldMasker masker) throws TextArrays.Unreadable {
        if (value.length == 0) {
            throw new TextArrays.Unreadable("empty");
        }
        return value[0] == '(' ? text(value, textTypes, masker) : binary(value, textTypes, masker);
    }

    private static byte[] binary(byte[] value, int[] textTypes, FieldMasker masker) throws TextArrays.Unreadable {
        ByteBuffer in = ByteBuffer.wrap(value);
        if (value.length < 4) {
            throw new TextArrays.Unreadable("short header");
        }
        int n = in.getInt();
        if (n < 0 || n > value.length / 8 || (textTypes != null && n != textTypes.length)) {
            throw new TextArrays.Unreadable("field count");
        }
        int[] types = new int[n];
        int[] starts = new int[n];
        int[] lengths = new int[n];
        byte[][] replaced = null;
        for (int i = 0; i < n; i++) {
            if (in.remaining() < 8) {
                throw new TextArrays.Unreadable("field header");
            }
            types[i] = in.getInt();
            lengths[i] = in.getInt();
            starts[i] = in.position();
            if (lengths[i] < 0) {
                continue;
            }
            if (lengths[i] > in.remaining()) {
                throw new TextArrays.Unreadable("field bytes");
            }
            byte[] field = new byte[lengths[i]];
            in.get(field);
            byte[] masked = masker.mask(field, types[i], i);
            if (masked != field) {
                if (replaced == null) {
                    replaced = new byte[n][];
                }
                replaced[i] = masked == null ? NULLED : masked;
            }
        }
        if (in.hasRemaining()) {
            throw new TextArrays.Unreadable("trailing bytes");
        }
        if (replaced == null) {
            return value;
        }
        int size = 4;
        for (int i = 0; i < n; i++) {
            byte[] r = replaced[i];
            size += 8 + (r == NULLED || lengths[i] < 0 ? 0 : r != null ? r.length : lengths[i]);
        }
        ByteBuffer out = ByteBuffer.allocate(size).putInt(n);
        for (int i = 0; i < n; i++) {
            byte[] r = replaced[i];
            out.putInt(types[i]);
            if (r == NULLED || lengths[i] < 0) {
                out.putInt(-1);
            } else if (r != null) {
                out.putInt(r.length).put(r);
            } else {
                out.putInt(lengths[i]).put(value, starts[i], lengths[i]);
            }
        }
        return out.array();
    }

    /**
     * Text format. A field is read as record_in does (quoted and unquoted parts may alternate; a backslash takes the
     * next character as it is; inside quotes a doubled quote is one); it is NULL only when nothing at all stands
     * between its separators. A masked field is written quoted, as record_out would quote it.
     */
    private static byte[] text(byte[] value, int[] textTypes, FieldMasker masker) throws TextArrays.Unreadable {
        String s = new String(value, StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder(s.length() + 16).append('(');
        boolean changed = false;
        int field = 0;
        int i = 1;
        while (true) {
            int start = i;
            StringBuilder f = new StringBuilder();
            boolean quoted = false;
            boolean inQuotes = false;
            while (true) {
                if (i >= s.length()) {
                    throw new TextArrays.Unreadable("unterminated record");
                }
                char c = s.charAt(i);
                if (!inQuotes && (c == ',' || c == ')')) {
                    break;
                }
                i++;
                if (c == '\\') {
                    if (i >= s.length()) {
                        throw new TextArrays.Unreadable("dangling escape");
                    }
                    f.append(s.charAt(i++));
                } else if (c == '"') {
                    quoted = true;
                    if (inQuotes && i < s.length() && s.charAt(i) == '"') {
                        f.append('"');
                        i++;
                    } else {
                        inQuotes = !inQuotes;
                    }
                } else {
                    f.append(c);
                }
            }
            if (textTypes != null && field >= textTypes.length) {
                throw new TextArrays.Unreadable("more fields than the type has");
            }
            boolean isNull = !quoted && f.isEmpty();
            byte[] bytes = isNull ? null : f.toString().getBytes(StandardCharsets.UTF_8);
            byte[] masked = isNull ? null : masker.mask(bytes, textTypes == null ? 0 : textTypes[field], field);
            if (masked == bytes) {
                out.append(s, start, i);
            } else {
                changed = true;
                if (masked != null) {
                    quote(new String(masked, StandardCharsets.UTF_8), out);
                }
            }
            field++;
            char c = s.charAt(i++);
            out.append(c);
            if (c == ')') {
                break;
            }
        }
        if (i != s.length()) {
            throw new TextArrays.Unreadable("trailing characters");
        }
        if (textTypes != null && field != textTypes.length) {
            throw new TextArrays.Unreadable("fewer fields than the type has");
        }
        return changed ? out.toString().getBytes(StandardCharsets.UTF_8) : value;
    }

    /** The field in double quotes, its quotes and backslashes doubled (record_out quotes an empty string too). */
    private static void quote(String field, StringBuilder out) {
        out.append('"');
        for (int k = 0; k < field.length(); k++) {
            char c = field.charAt(k);
            if (c == '"' || c == '\\') {
                out.append(c);
            }
            out.append(c);
        }
        out.append('"');
    }
}
