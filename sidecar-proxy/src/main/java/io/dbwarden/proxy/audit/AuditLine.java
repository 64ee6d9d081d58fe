package io.dbwarden.proxy.audit;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A reusable UTF-8 byte buffer that audit events are written into as JSON: encoded once, then hashed and written
 * from the same bytes (no String, char[] or encoder on the way from the record to the file). Strings are quoted
 * with JSON escaping; the line separators U+2028/U+2029 are escaped too so that a line stays one line for every
 * reader. Not thread-safe.
 */
final class AuditLine {
    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NULL = "null".getBytes(StandardCharsets.US_ASCII);

    private byte[] buf;
    private int len;
    private boolean firstField;

    AuditLine(int capacity) {
        buf = new byte[capacity];
    }

    int length() {
        return len;
    }

    byte[] bytes() {
        return buf;
    }

    byte byteAt(int i) {
        return buf[i];
    }

    void setLength(int n) {
        len = n;
    }

    void reset() {
        len = 0;
    }

    /** Starts a JSON object (the buffer is cleared). */
    AuditLine object() {
        len = 0;
        firstField = true;
        return ascii('{');
    }

    /** Ends the JSON object started by {@link #object()}. */
    void close() {
        ascii('}');
    }

    private void ensure(int extra) {
        if (len + extra > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(len + extra, buf.length * 2));
        }
    }

    AuditLine ascii(char c) {
        ensure(1);
        buf[len++] = (byte) c;
        return this;
    }

    /** Appends a string known to be ASCII with nothing to escape (names, fixed words, numbers). */
    AuditLine ascii(String s) {
        int n = s.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            buf[len++] = (byte) s.charAt(i);
        }
        return this;
    }

    /** The bytes of {@code ,"name":} for {@link #key(byte[])}: field names encoded once, not per event. */
    static byte[] encodedKey(String name) {
        return (",\"" + name + "\":").getBytes(StandardCharsets.US_ASCII);
    }

    AuditLine raw(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, buf, len, bytes.length);
        len += bytes.length;
        return this;
    }

    /** Appends {@code v} in decimal, as {@link Long#toString(long)} prints it, without a String on the way. */
    AuditLine number(long v) {
        if (v >= 0 && v < 10) {
            return ascii((char) ('0' + v));
        }
        if (v == Long.MIN_VALUE) {
            return ascii(Long.toString(v)); // its magnitude has no positive long
        }
        ensure(20);
        if (v < 0) {
            buf[len++] = '-';
            v = -v;
        }
        int digits = 1;
        for (long rest = v / 10; rest != 0; rest /= 10) {
            digits++;
        }
        int end = len + digits;
        for (int i = end - 1; i >= len; i--) {
            buf[i] = (byte) ('0' + v % 10);
            v /= 10;
        }
        len = end;
        return this;
    }

    /** Lowercase hex of {@code bytes}. */
    AuditLine hex(byte[] bytes) {
        ensure(bytes.length * 2);
        for (byte b : bytes) {
            buf[len++] = HEX[(b >> 4) & 0xf];
            buf[len++] = HEX[b & 0xf];
        }
        return this;
    }

    /**
     * {@code "name":} from the bytes of {@link #encodedKey(String)} ({@code ,"name":}), with the separating comma
     * when needed.
     */
    AuditLine key(byte[] encoded) {
        int from = firstField ? 1 : 0;
        firstField = false;
        int n = encoded.length - from;
        ensure(n);
        System.arraycopy(encoded, from, buf, len, n);
        len += n;
        return this;
    }

    AuditLine field(byte[] encodedKey, String value) {
        key(encodedKey);
        return value == null ? raw(NULL) : string(value);
    }

    AuditLine field(byte[] encodedKey, long value) {
        return key(encodedKey).number(value);
    }

    AuditLine field(byte[] encodedKey, boolean value) {
        return key(encodedKey).ascii(value ? "true" : "false");
    }

    /**
     * Milliseconds with microsecond precision from a duration in nanoseconds, as {@link Double#toString} prints
     * {@code round(nanos / 1000) / 1000.0}: {@code 0.123}, {@code 2.0}, {@code 1500.25}.
     */
    AuditLine millis(byte[] encodedKey, long nanos) {
        key(encodedKey);
        long micros = Math.round(nanos / 1000.0);
        if (micros < 0 || micros >= 10_000_000_000L) { // beyond 10^7 ms Double.toString switches to E notation
            return ascii(Double.toString(micros / 1000.0));
        }
        number(micros / 1000).ascii('.');
        int frac = (int) (micros % 1000);
        char[] digits = {(char) ('0' + frac / 100), (char) ('0' + frac / 10 % 10), (char) ('0' + frac % 10)};
        int k = 3;
        while (k > 1 && digits[k - 1] == '0') {
            k--;
        }
        for (int i = 0; i < k; i++) {
            ascii(digits[i]);
        }
        return this;
    }

    /** Appends {@code s} as a JSON string literal, UTF-8 encoded. */
    AuditLine string(String s) {
        int n = s.length();
        ensure(n + 2);
        buf[len++] = '"';
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                buf[len++] = (byte) c;
                continue;
            }
            ensure(n - i + 12); // room for this character's escape or encoding and the plain rest
            switch (c) {
                case '"' -> escape('"');
                case '\\' -> escape('\\');
                case '\n' -> escape('n');
                case '\r' -> escape('r');
                case '\t' -> escape('t');
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        buf[len++] = '\\';
                        buf[len++] = 'u';
                        buf[len++] = HEX[(c >> 12) & 0xf];
                        buf[len++] = HEX[(c >> 8) & 0xf];
                        buf[len++] = HEX[(c >> 4) & 0xf];
                        buf[len++] = HEX[c & 0xf];
                    } else if (c < 0x800) {
                        buf[len++] = (byte) (0xc0 | (c >> 6));
                        buf[len++] = (byte) (0x80 | (c & 0x3f));
                    } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                        int cp = Character.toCodePoint(c, s.charAt(++i));
                        buf[len++] = (byte) (0xf0 | (cp >> 18));
                        buf[len++] = (byte) (0x80 | ((cp >> 12) & 0x3f));
                        buf[len++] = (byte) (0x80 | ((cp >> 6) & 0x3f));
                        buf[len++] = (byte) (0x80 | (cp & 0x3f));
                    } else if (Character.isSurrogate(c)) {
                        buf[len++] = '?'; // an unpaired surrogate, replaced as String.getBytes(UTF_8) does
                    } else {
                        buf[len++] = (byte) (0xe0 | (c >> 12));
                        buf[len++] = (byte) (0x80 | ((c >> 6) & 0x3f));
                        buf[len++] = (byte) (0x80 | (c & 0x3f));
                    }
                }
            }
        }
        ensure(1);
        buf[len++] = '"';
        return this;
    }

    private void escape(char c) {
        buf[len++] = '\\';
        buf[len++] = (byte) c;
    }

    /** A copy of the bytes written since {@code from}. */
    byte[] copy(int from) {
        return Arrays.copyOfRange(buf, from, len);
    }

    void writeTo(OutputStream out) throws IOException {
        out.write(buf, 0, len);
    }

    @Override
    public String toString() {
        return new String(buf, 0, len, StandardCharsets.UTF_8);
    }
}
