package io.dbwarden.proxy.masking;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Masks the elements of arrays of the plain text types (text[], varchar[], char[], name[]) one by one, in either
 * result format, so that an array keeps its shape and its other elements: {@code array_agg(email)} comes out as an
 * array of masked addresses. Text format is told from binary by the first byte (text starts with '{' or a '['
 * of bounds; binary with the dimension count's high byte, 0).
 */
final class TextArrays {
    /** text[], varchar[], bpchar[], name[]: elements are plain text in both formats. */
    static final Set<Integer> TYPES = Set.of(1009, 1015, 1014, 1003);

    private static final int MAX_DIMENSIONS = 6;

    private TextArrays() {
    }

    /** An array value that is not what its type says (then the caller masks it whole). */
    static final class Unreadable extends Exception {
        Unreadable(String why) {
            super(why, null, false, false);
        }
    }

    /**
     * {@code value} with each element replaced by {@code detect}'s result: the same instance when no element changed.
     *
     * @param detect an element's text masked, the same instance when nothing was found in it, null for NULL
     */
    static byte[] mask(byte[] value, UnaryOperator<String> detect) throws Unreadable {
        return maskElements(value, element -> {
            String text = new String(element, StandardCharsets.UTF_8);
            String masked = detect.apply(text);
            return masked == text ? element : masked == null ? null : masked.getBytes(StandardCharsets.UTF_8);
        });
    }

    /** One element masked. */
    interface ElementMasker {
        /**
         * @param element the element's bytes: its text in text format, its binary form in binary format
         * @return the same instance when nothing was found, null for NULL
         * @throws Unreadable to give up on the whole value
         */
        byte[] mask(byte[] element) throws Unreadable;
    }

    /**
     * {@code value} (an array of any element type) with each element replaced by {@code masker}'s result: the same
     * instance when no element changed.
     */
    static byte[] maskElements(byte[] value, ElementMasker masker) throws Unreadable {
        if (value.length == 0) {
            throw new Unreadable("empty");
        }
        return value[0] == 0 ? binary(value, masker) : text(value, masker);
    }

    /** Binary format: ndim, has-null flag, element type, (size, lower bound) per dimension, then (length, bytes). */
    private static byte[] binary(byte[] value, ElementMasker detect) throws Unreadable {
        ByteBuffer in = ByteBuffer.wrap(value);
        if (value.length < 12) {
            throw new Unreadable("short header");
        }
        int dimensions = in.getInt();
        in.getInt(); // has-null flag, recomputed below
        in.getInt(); // element type
        if (dimensions < 0 || dimensions > MAX_DIMENSIONS || in.remaining() < dimensions * 8) {
            throw new Unreadable("dimensions");
        }
        long elements = dimensions == 0 ? 0 : 1;
        for (int d = 0; d < dimensions; d++) {
            int size = in.getInt();
            in.getInt(); // lower bound
            if (size < 0) {
                throw new Unreadable("dimension size");
            }
            elements *= size;
            if (elements > value.length) {
                throw new Unreadable("element count");
            }
        }
        int headerEnd = in.position();
        int n = (int) elements;
        int[] starts = new int[n];
        int[] lengths = new int[n];
        byte[][] replaced = null;
        boolean[] nulled = null;
        for (int i = 0; i < n; i++) {
            if (in.remaining() < 4) {
                throw new Unreadable("element length");
            }
            starts[i] = in.position() + 4;
            int len = in.getInt();
            lengths[i] = len;
            if (len < 0) {
                continue;
            }
            if (len > in.remaining()) {
                throw new Unreadable("element bytes");
            }
            byte[] element = new byte[len];
            in.get(element);
            byte[] masked = detect.mask(element);
            if (masked != element) {
                if (replaced == null) {
                    replaced = new byte[n][];
                    nulled = new boolean[n];
                }
                if (masked == null) {
                    nulled[i] = true;
                } else {
                    replaced[i] = masked;
                }
            }
        }
        if (in.hasRemaining()) {
            throw new Unreadable("trailing bytes");
        }
        if (replaced == null) {
            return value;
        }
        int size = headerEnd;
        boolean anyNull = false;
        for (int i = 0; i < n; i++) {
            boolean isNull = lengths[i] < 0 || nulled[i];
            anyNull |= isNull;
            size += 4 + (isNull ? 0 : replaced[i] != null ? replaced[i].length : lengths[i]);
        }
        ByteBuffer out = ByteBuffer.allocate(size);
        out.put(value, 0, headerEnd);
        out.putInt(4, anyNull ? 1 : 0);
        for (int i = 0; i < n; i++) {
            if (lengths[i] < 0 || nulled[i]) {
                out.putInt(-1);
            } else if (replaced[i] != null) {
                out.putInt(replaced[i].length).put(replaced[i]);
            } else {
                out.putInt(lengths[i]).put(value, starts[i], lengths[i]);
            }
        }
        return out.array();
    }

    /**
     * Text format as array_out writes it: an optional {@code [lb:ub]...=} prefix, braces nesting the dimensions,
     * elements separated by commas, each unquoted, double-quoted (with backslash escapes) or NULL.
     */
    private static byte[] text(byte[] value, ElementMasker detect) throws Unreadable {
        String s = new String(value, StandardCharsets.UTF_8);
        int i = 0;
        if (s.charAt(0) == '[') {
            i = s.indexOf('=');
            if (i < 0) {
                throw new Unreadable("bounds");
            }
            i++;
        }
        StringBuilder out = new StringBuilder(s.length() + 16).append(s, 0, i);
        boolean changed = false;
        int depth = 0;
        boolean expectElement = false;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '{') {
                depth++;
                expectElement = true;
                out.append(c);
                i++;
            } else if (c == '}') {
                if (depth == 0) {
                    throw new Unreadable("unbalanced braces");
                }
                depth--;
                expectElement = false;
                out.append(c);
                i++;
            } else if (c == ',') {
                if (depth == 0) {
                    throw new Unreadable("element outside braces");
                }
                expectElement = true;
                out.append(c);
                i++;
            } else if (depth == 0 || !expectElement) {
                throw new Unreadable("unexpected character");
            } else {
                int start = i;
                String element;
                boolean nullElement = false;
                if (c == '"') {
                    StringBuilder e = new StringBuilder();
                    i++;
                    while (true) {
                        if (i >= s.length()) {
                            throw new Unreadable("unclosed quote");
                        }
                        char q = s.charAt(i++);
                        if (q == '"') {
                            break;
                        }
                        if (q == '\\') {
                            if (i >= s.length()) {
                                throw new Unreadable("dangling escape");
                            }
                            q = s.charAt(i++);
                        }
                        e.append(q);
                    }
                    element = e.toString();
                } else {
                    while (i < s.length() && s.charAt(i) != ',' && s.charAt(i) != '}') {
                        if (s.charAt(i) == '"' || s.charAt(i) == '{' || s.charAt(i) == '\\') {
                            throw new Unreadable("special character unquoted");
                        }
                        i++;
                    }
                    element = s.substring(start, i);
                    nullElement = element.equalsIgnoreCase("NULL");
                }
                expectElement = false;
                byte[] bytes = nullElement ? null : element.getBytes(StandardCharsets.UTF_8);
                byte[] maskedBytes = nullElement ? null : detect.mask(bytes);
                if (nullElement || maskedBytes == bytes) {
                    out.append(s, start, i);
                } else {
                    String masked = maskedBytes == null ? null : new String(maskedBytes, StandardCharsets.UTF_8);
                    changed = true;
                    if (masked == null) {
                        out.append("NULL");
                    } else {
                        out.append('"');
                        for (int k = 0; k < masked.length(); k++) {
                            char m = masked.charAt(k);
                            if (m == '"' || m == '\\') {
                                out.append('\\');
                            }
                            out.append(m);
                        }
                        out.append('"');
                    }
                }
            }
        }
        if (depth != 0) {
            throw new Unreadable("unbalanced braces");
        }
        return changed ? out.toString().getBytes(StandardCharsets.UTF_8) : value;
    }
}
