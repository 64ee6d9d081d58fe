package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Decoding of the message types the proxy looks into, and encoding of the messages it writes itself.
 * Every decoder takes a whole frame as produced by {@link PgFrameDecoder} (type byte and length included)
 * and does not move its reader index. Encoders back-fill the length.
 */
public final class PgMessages {
    private PgMessages() {
    }

    // ------------------------------------------------------------------ primitives

    /** Reads a NUL-terminated string and advances past the terminator. */
    public static String readCString(ByteBuf buf, Charset charset) {
        int start = buf.readerIndex();
        int end = cStringEnd(buf, start);
        buf.readerIndex(end + 1);
        return string(buf, start, end, charset);
    }

    private static void writeCString(ByteBuf buf, String s, Charset charset) {
        // encoded first and copied in bulk: Netty's writeUtf8 reserves three bytes per character, so a buffer sized
        // for the text grew (a new buffer and a copy) for every string, and wrote a direct buffer byte by byte
        buf.writeBytes(s.getBytes(charset));
        buf.writeByte(0);
    }

    /** A read-only view of the payload (after type and length) of a frame. */
    private static ByteBuf payload(ByteBuf frame) {
        return frame.slice(frame.readerIndex() + 5, frame.readableBytes() - 5);
    }

    /** Index of the NUL that ends the string starting at {@code from} within the frame. */
    static int cStringEnd(ByteBuf frame, int from) {
        int end = frame.indexOf(from, frame.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new PgProtocolException("08P01", "invalid string in message: missing terminator");
        }
        return end;
    }

    /** The string in {@code [from, end)}; the empty name (unnamed statement or portal) costs nothing. */
    static String string(ByteBuf frame, int from, int end, Charset charset) {
        return from == end ? "" : frame.toString(from, end - from, charset);
    }

    /** The NUL-terminated string starting at {@code from}. */
    private static String cString(ByteBuf frame, int from, Charset charset) {
        return string(frame, from, cStringEnd(frame, from), charset);
    }

    public static byte type(ByteBuf frame) {
        return frame.getByte(frame.readerIndex());
    }

    // ------------------------------------------------------------------ frontend decoding

    /** Query: the SQL text. */
    public static String queryText(ByteBuf frame, Charset charset) {
        return cString(frame, frame.readerIndex() + 5, charset);
    }

    /** Parse: statement name, SQL text (decoded by {@link RepeatedNames}). */
    public record Parse(String statementName, String sql) {
    }

    /** Bind: portal name, statement name (decoded by {@link RepeatedNames}; parameters are not decoded). */
    public record Bind(String portalName, String statementName) {
    }

    private static final byte[] NO_PARAMETER_TYPES = {0, 0};

    /**
     * Where a Parse's or a Bind's body goes on after its two leading strings (statement name and text; portal and
     * statement name).
     */
    static int afterNames(ByteBuf frame) {
        return cStringEnd(frame, cStringEnd(frame, frame.readerIndex() + 5) + 1) + 1;
    }

    /**
     * A Parse's parameter types as sent: the count and the type OIDs (the same array, {@code {0, 0}}, when it declares
     * none). The same bytes of a bound value mean other values under other declared types (an int8 or a float8).
     */
    public static byte[] parseParameterTypes(ByteBuf frame) {
        int end = frame.writerIndex();
        int at = afterNames(frame);
        if (at + 2 > end) {
            throw new PgProtocolException("08P01", "invalid parse message: missing parameter type count");
        }
        int types = frame.getUnsignedShort(at);
        if (types == 0) {
            return NO_PARAMETER_TYPES;
        }
        if (at + 2 + 4L * types > end) {
            throw new PgProtocolException("08P01", "invalid parse message: parameter types longer than the message");
        }
        byte[] declared = new byte[2 + 4 * types];
        frame.getBytes(at, declared);
        return declared;
    }

    /**
     * The SHA-256 of the parameter types a statement was prepared with ({@link #parseParameterTypes}) and of a Bind's
     * parameter format codes and values, as sent: its bytes from the format-code count to the end of the last value
     * (the result format codes after them are not values).
     */
    public static byte[] bindValuesDigest(ByteBuf frame, byte[] parameterTypes) {
        int end = frame.writerIndex();
        int at = afterNames(frame);
        int start = at;
        if (at + 2 > end) {
            throw new PgProtocolException("08P01", "invalid bind message: missing parameter format codes");
        }
        at += 2 + 2 * frame.getUnsignedShort(at);
        if (at + 2 > end) {
            throw new PgProtocolException("08P01", "invalid bind message: missing parameter count");
        }
        int values = frame.getUnsignedShort(at);
        at += 2;
        for (int i = 0; i < values; i++) {
            if (at + 4 > end) {
                throw new PgProtocolException("08P01", "invalid bind message: missing parameter length");
            }
            int len = frame.getInt(at);
            at += 4;
            if (len < -1) {
                throw new PgProtocolException("08P01", "invalid bind message: parameter length " + len);
            }
            if (len > 0) {
                if (len > end - at) {
                    throw new PgProtocolException("08P01", "invalid bind message: parameter longer than the message");
                }
                at += len;
            }
        }
        try {
            java.security.MessageDigest d = java.security.MessageDigest.getInstance("SHA-256");
            d.update(parameterTypes);
            d.update(frame.nioBuffer(start, at - start));
            return d.digest();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Execute: portal name. */
    public static String executePortal(ByteBuf frame, Charset charset) {
        return cString(frame, frame.readerIndex() + 5, charset);
    }

    /** Close and Describe: kind ('S' statement or 'P' portal) and name. */
    public record Target(char kind, String name) {
    }

    public static Target target(ByteBuf frame, Charset charset) {
        int at = frame.readerIndex() + 5;
        if (at >= frame.writerIndex()) {
            throw new PgProtocolException("08P01", "invalid message: missing target kind");
        }
        char kind = (char) frame.getByte(at);
        return new Target(kind, cString(frame, at + 1, charset));
    }

    /** FunctionCall ('F'): the function's OID and its number of arguments (argument values are not decoded). */
    public record FunctionCall(int functionOid, int arguments) {
    }

    /** Checks the whole layout of a FunctionCall (the server would reject a malformed one as well). */
    public static FunctionCall functionCall(ByteBuf frame) {
        int end = frame.writerIndex();
        int i = frame.readerIndex() + 5;
        if (i + 6 > end) {
            throw new PgProtocolException("08P01", "invalid function call message: too short");
        }
        int oid = frame.getInt(i);
        int formats = frame.getShort(i + 4);
        i += 6;
        if (formats < 0 || i + 2L * formats + 2 > end) {
            throw new PgProtocolException("08P01", "invalid function call message: bad argument format count");
        }
        i += 2 * formats;
        int arguments = frame.getShort(i);
        i += 2;
        if (arguments < 0 || (formats > 1 && formats != arguments)) {
            throw new PgProtocolException("08P01", "invalid function call message: bad argument count");
        }
        for (int a = 0; a < arguments; a++) {
            if (i + 4 > end) {
                throw new PgProtocolException("08P01", "invalid function call message: argument " + (a + 1)
                        + " missing");
            }
            int length = frame.getInt(i);
            i += 4;
            if (length < -1 || (length > 0 && (long) i + length > end)) {
                throw new PgProtocolException("08P01", "invalid function call message: bad length of argument "
                        + (a + 1));
            }
            i += Math.max(length, 0);
        }
        if (i + 2 != end) {
            throw new PgProtocolException("08P01", "invalid function call message: bad result format");
        }
        return new FunctionCall(oid, arguments);
    }

    // ------------------------------------------------------------------ backend decoding

    /**
     * Whether a server message the proxy reads has the layout its type requires: every string terminated, every
     * count and length within the message ({@code length} bytes at {@code start}, type byte included). The proxy
     * parses these; a server (or something posing as one) that sends a malformed one ends the session instead of
     * leaving the proxy half through it. Other types pass unchecked.
     */
    public static boolean wellFormedBackend(ByteBuf frame, int start, int length) {
        int at = start + 5;
        int end = start + length;
        return switch (frame.getByte(start)) {
            case 'Z' -> end - at == 1;
            case 'C' -> end > at && frame.indexOf(at, end, (byte) 0) == end - 1;
            case 'E', 'N' -> wellFormedFields(frame, at, end);
            case 'S' -> {
                int name = frame.indexOf(at, end, (byte) 0);
                yield name >= 0 && frame.indexOf(name + 1, end, (byte) 0) == end - 1;
            }
            case 'T' -> wellFormedRowDescription(frame, at, end);
            case 'D' -> wellFormedDataRow(frame, at, end);
            case 'V' -> end - at >= 4 && (frame.getInt(at) == -1 ? end - at == 4 : frame.getInt(at) == end - at - 4);
            case 'G', 'H', 'W' -> end - at >= 3 && frame.getShort(at + 1) >= 0
                    && end - at == 3 + 2 * frame.getShort(at + 1);
            case '1', '2', '3', 'I', 'n', 's', 'c' -> end == at;
            default -> true;
        };
    }

    private static boolean wellFormedFields(ByteBuf frame, int at, int end) {
        int i = at;
        while (i < end && frame.getByte(i) != 0) {
            int value = frame.indexOf(i + 1, end, (byte) 0);
            if (value < 0) {
                return false;
            }
            i = value + 1;
        }
        return i == end - 1;
    }

    private static boolean wellFormedRowDescription(ByteBuf frame, int at, int end) {
        if (end - at < 2) {
            return false;
        }
        int columns = frame.getShort(at);
        int i = at + 2;
        for (int c = 0; c < columns; c++) {
            int name = frame.indexOf(i, end, (byte) 0);
            if (name < 0 || name + 19 > end) {
                return false;
            }
            i = name + 19; // table OID, column number, type OID, size, modifier, format
        }
        return columns >= 0 && i == end;
    }

    private static boolean wellFormedDataRow(ByteBuf frame, int at, int end) {
        if (end - at < 2) {
            return false;
        }
        int columns = frame.getShort(at);
        long i = at + 2;
        for (int c = 0; c < columns && i <= end - 4; c++) {
            int length = frame.getInt((int) i);
            if (length < -1) {
                return false;
            }
            i += 4 + Math.max(length, 0);
            if (c == columns - 1) {
                return i == end;
            }
        }
        return columns == 0 && i == end;
    }

    /** ReadyForQuery: transaction status 'I', 'T' or 'E'. */
    public static char readyForQueryStatus(ByteBuf frame) {
        return (char) frame.getByte(frame.readerIndex() + 5);
    }

    /** Authentication: the request code (0 ok, 3 cleartext, 5 md5, 10 SASL, 11 SASL continue, 12 SASL final). */
    public static int authenticationCode(ByteBuf frame) {
        return frame.getInt(frame.readerIndex() + 5);
    }

    /** Authentication payload after the request code. */
    public static ByteBuf authenticationData(ByteBuf frame) {
        return frame.slice(frame.readerIndex() + 9, frame.readableBytes() - 9);
    }

    /** CommandComplete: the command tag, e.g. "SELECT 5". */
    public static String commandTag(ByteBuf frame) {
        int from = frame.readerIndex() + 5;
        int end = cStringEnd(frame, from);
        int length = end - from;
        if (length > 32) {
            return string(frame, from, end, StandardCharsets.UTF_8);
        }
        // tags repeat ("SELECT 1", "UPDATE 1", "BEGIN"): the same string for the same bytes, without decoding
        int hash = 0;
        for (int i = from; i < end; i++) {
            hash = 31 * hash + (frame.getByte(i) & 0xff);
        }
        int slot = (hash ^ (hash >>> 16)) & (TAGS.length - 1);
        String cached = TAGS[slot];
        if (cached != null && cached.length() == length && sameAscii(cached, frame, from)) {
            return cached;
        }
        String tag = string(frame, from, end, StandardCharsets.UTF_8);
        if (tag.length() == length) { // ASCII (tags are): cacheable by byte comparison
            TAGS[slot] = tag;
        }
        return tag;
    }

    /** Recent command tags, direct-mapped; a racing write only replaces one valid entry with another. */
    private static final String[] TAGS = new String[256];

    private static boolean sameAscii(String s, ByteBuf frame, int from) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) != (frame.getByte(from + i) & 0xff)) {
                return false;
            }
        }
        return true;
    }

    /** Rows affected or returned according to a command tag, or -1 when the tag carries none. */
    public static long rowsFromTag(String tag) {
        int sp = tag.lastIndexOf(' ');
        if (sp < 0 || sp == tag.length() - 1) {
            return -1;
        }
        long n = 0;
        for (int i = sp + 1; i < tag.length(); i++) {
            char c = tag.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /**
     * ParameterStatus: name and value, read as ISO-8859-1 (one character per byte). The server sends them in the
     * client's encoding, which the proxy learns only from these very messages; ASCII values (every name, the
     * encodings, {@code standard_conforming_strings}) read as they are, and {@link #sessionStart} writes any value back
     * byte for byte (a non-ASCII {@code application_name} of a LATIN1 client, read as UTF-8, came back as U+FFFD).
     */
    public static Map.Entry<String, String> parameterStatus(ByteBuf frame) {
        ByteBuf p = payload(frame);
        String name = readCString(p, StandardCharsets.ISO_8859_1);
        String value = readCString(p, StandardCharsets.ISO_8859_1);
        return Map.entry(name, value);
    }

    /** ErrorResponse / NoticeResponse fields keyed by their field type byte. */
    public static Map<Character, String> errorFields(ByteBuf frame) {
        ByteBuf p = payload(frame);
        Map<Character, String> fields = new LinkedHashMap<>();
        while (p.isReadable()) {
            byte code = p.readByte();
            if (code == 0) {
                break;
            }
            fields.put((char) code, readCString(p, StandardCharsets.UTF_8));
        }
        return fields;
    }

    // ------------------------------------------------------------------ encoding

    private static ByteBuf begin(ByteBufAllocator alloc, char type, int sizeHint) {
        ByteBuf buf = alloc.buffer(5 + sizeHint);
        buf.writeByte(type);
        buf.writeInt(0);
        return buf;
    }

    private static ByteBuf end(ByteBuf buf) {
        buf.setInt(1, buf.writerIndex() - 1);
        return buf;
    }

    /** ErrorResponse (or NoticeResponse with type 'N') with severity, SQLSTATE, message and optional detail/hint. */
    public static ByteBuf errorResponse(ByteBufAllocator alloc, char type, PgError error) {
        ByteBuf buf = begin(alloc, type, 128);
        field(buf, 'S', error.severity());
        field(buf, 'V', error.severity());
        field(buf, 'C', error.sqlState());
        field(buf, 'M', error.message());
        if (error.detail() != null) {
            field(buf, 'D', error.detail());
        }
        if (error.hint() != null) {
            field(buf, 'H', error.hint());
        }
        buf.writeByte(0);
        return end(buf);
    }

    /** An ErrorResponse ('E') or NoticeResponse ('N') with exactly these fields, in this order. */
    public static ByteBuf fieldsResponse(ByteBufAllocator alloc, char type, Map<Character, String> fields) {
        ByteBuf buf = begin(alloc, type, 128);
        fields.forEach((code, value) -> field(buf, code, value));
        buf.writeByte(0);
        return end(buf);
    }

    public static ByteBuf errorResponse(ByteBufAllocator alloc, PgError error) {
        return errorResponse(alloc, 'E', error);
    }

    private static void field(ByteBuf buf, char code, String value) {
        buf.writeByte(code);
        writeCString(buf, value, StandardCharsets.UTF_8);
    }

    public static ByteBuf readyForQuery(ByteBufAllocator alloc, char status) {
        ByteBuf buf = begin(alloc, 'Z', 1);
        buf.writeByte(status);
        return end(buf);
    }

    public static ByteBuf authenticationRequest(ByteBufAllocator alloc, int code) {
        ByteBuf buf = begin(alloc, 'R', 4);
        buf.writeInt(code);
        return end(buf);
    }

    /**
     * What a server sends once a session is authenticated, as one buffer: AuthenticationOk, a ParameterStatus per
     * parameter (as {@link #parameterStatus} read them), BackendKeyData and, if {@code ready}, ReadyForQuery (idle).
     * One message each would be an allocation and a trip through the pipeline each, for a dozen parameters per
     * connection.
     */
    public static ByteBuf sessionStart(ByteBufAllocator alloc, Map<String, String> parameters, int pid, int secret,
                                       boolean ready) {
        int size = 9 + 13 + (ready ? 6 : 0);
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            size += 7 + p.getKey().length() + p.getValue().length(); // exact: a byte per character
        }
        // on the heap (array stores; Netty copies it into a direct buffer once, for the socket)
        ByteBuf buf = alloc.heapBuffer(size);
        buf.writeByte('R').writeInt(8).writeInt(0);
        for (Map.Entry<String, String> p : parameters.entrySet()) {
            int start = buf.writerIndex();
            buf.writeByte('S').writeInt(0);
            // as read (see parameterStatus): the server's bytes
            writeCString(buf, p.getKey(), StandardCharsets.ISO_8859_1);
            writeCString(buf, p.getValue(), StandardCharsets.ISO_8859_1);
            buf.setInt(start + 1, buf.writerIndex() - start - 1);
        }
        buf.writeByte('K').writeInt(12).writeInt(pid).writeInt(secret);
        if (ready) {
            buf.writeByte('Z').writeInt(5).writeByte('I');
        }
        return buf;
    }

    /** NegotiateProtocolVersion: newest minor version supported and the protocol options not recognized. */
    public static ByteBuf negotiateProtocolVersion(ByteBufAllocator alloc, int protocolVersion,
                                                   java.util.List<String> unsupportedOptions) {
        ByteBuf buf = begin(alloc, 'v', 16);
        buf.writeInt(protocolVersion);
        buf.writeInt(unsupportedOptions.size());
        for (String option : unsupportedOptions) {
            writeCString(buf, option, StandardCharsets.UTF_8);
        }
        return end(buf);
    }

    public static ByteBuf query(ByteBufAllocator alloc, String sql, Charset charset) {
        ByteBuf buf = begin(alloc, 'Q', sql.length() + 1);
        writeCString(buf, sql, charset);
        return end(buf);
    }

    /** Parse of the unnamed statement without parameter types. */
    public static ByteBuf parse(ByteBufAllocator alloc, String sql, Charset charset) {
        ByteBuf buf = begin(alloc, 'P', sql.length() + 4);
        buf.writeByte(0);
        writeCString(buf, sql, charset);
        buf.writeShort(0);
        return end(buf);
    }

    /** Bind of the unnamed portal to the unnamed statement, no parameters, text results. */
    public static ByteBuf bindUnnamed(ByteBufAllocator alloc) {
        ByteBuf buf = begin(alloc, 'B', 8);
        buf.writeByte(0);
        buf.writeByte(0);
        buf.writeShort(0);
        buf.writeShort(0);
        buf.writeShort(0);
        return end(buf);
    }

    /** Execute of the unnamed portal, all rows. */
    public static ByteBuf executeUnnamed(ByteBufAllocator alloc) {
        ByteBuf buf = begin(alloc, 'E', 5);
        buf.writeByte(0);
        buf.writeInt(0);
        return end(buf);
    }

    /** Parse of a named statement without parameter types. */
    public static ByteBuf parseNamed(ByteBufAllocator alloc, String statement, String sql, Charset charset) {
        ByteBuf buf = begin(alloc, 'P', statement.length() + sql.length() + 4);
        writeCString(buf, statement, charset);
        writeCString(buf, sql, charset);
        buf.writeShort(0);
        return end(buf);
    }

    /** Bind of a named portal to a named statement, no parameters, text results. */
    public static ByteBuf bindNamed(ByteBufAllocator alloc, String portal, String statement, Charset charset) {
        ByteBuf buf = begin(alloc, 'B', portal.length() + statement.length() + 8);
        writeCString(buf, portal, charset);
        writeCString(buf, statement, charset);
        buf.writeShort(0);
        buf.writeShort(0);
        buf.writeShort(0);
        return end(buf);
    }

    /** Execute of a named portal, all rows. */
    public static ByteBuf executeNamed(ByteBufAllocator alloc, String portal, Charset charset) {
        ByteBuf buf = begin(alloc, 'E', portal.length() + 5);
        writeCString(buf, portal, charset);
        buf.writeInt(0);
        return end(buf);
    }

    /** Close of a statement ('S') or portal ('P'). */
    public static ByteBuf close(ByteBufAllocator alloc, char kind, String name, Charset charset) {
        ByteBuf buf = begin(alloc, 'C', name.length() + 2);
        buf.writeByte(kind);
        writeCString(buf, name, charset);
        return end(buf);
    }

    /** Describe of a statement ('S') or portal ('P'). */
    public static ByteBuf describe(ByteBufAllocator alloc, char kind, String name, Charset charset) {
        ByteBuf buf = begin(alloc, 'D', name.length() + 2);
        buf.writeByte(kind);
        writeCString(buf, name, charset);
        return end(buf);
    }

    /** Flush: asks the server to send what it has buffered (no answer of its own). */
    public static ByteBuf flush(ByteBufAllocator alloc) {
        return end(begin(alloc, 'H', 0));
    }

    public static ByteBuf sync(ByteBufAllocator alloc) {
        return end(begin(alloc, 'S', 0));
    }

    public static ByteBuf terminate(ByteBufAllocator alloc) {
        return end(begin(alloc, 'X', 0));
    }

    /** CopyFail: ends a COPY FROM STDIN with an error (the server ignores it outside COPY). */
    public static ByteBuf copyFail(ByteBufAllocator alloc, String reason) {
        ByteBuf buf = begin(alloc, 'f', reason.length() + 1);
        writeCString(buf, reason, StandardCharsets.UTF_8);
        return end(buf);
    }

    /** PasswordMessage carrying a cleartext or MD5 password. */
    public static ByteBuf passwordMessage(ByteBufAllocator alloc, String password) {
        ByteBuf buf = begin(alloc, 'p', password.length() + 1);
        writeCString(buf, password, StandardCharsets.UTF_8);
        return end(buf);
    }

    public static ByteBuf saslInitialResponse(ByteBufAllocator alloc, String mechanism, byte[] data) {
        ByteBuf buf = begin(alloc, 'p', mechanism.length() + 5 + data.length);
        writeCString(buf, mechanism, StandardCharsets.UTF_8);
        buf.writeInt(data.length);
        buf.writeBytes(data);
        return end(buf);
    }

    public static ByteBuf saslResponse(ByteBufAllocator alloc, byte[] data) {
        ByteBuf buf = begin(alloc, 'p', data.length);
        buf.writeBytes(data);
        return end(buf);
    }

    /** Untyped StartupMessage (protocol 3.0) with the given parameters. */
    public static ByteBuf startupMessage(ByteBufAllocator alloc, Map<String, String> parameters) {
        ByteBuf buf = alloc.buffer(128);
        buf.writeInt(0);
        buf.writeInt(StartupPacket.PROTOCOL_3_0);
        parameters.forEach((k, v) -> {
            writeCString(buf, k, StandardCharsets.UTF_8);
            writeCString(buf, v, StandardCharsets.UTF_8);
        });
        buf.writeByte(0);
        buf.setInt(0, buf.writerIndex());
        return buf;
    }

    public static ByteBuf sslRequest(ByteBufAllocator alloc) {
        ByteBuf buf = alloc.buffer(8);
        buf.writeInt(8);
        buf.writeInt(StartupPacket.SSL_REQUEST_CODE);
        return buf;
    }

    public static ByteBuf cancelRequest(ByteBufAllocator alloc, int pid, int secret) {
        ByteBuf buf = alloc.buffer(16);
        buf.writeInt(16);
        buf.writeInt(StartupPacket.CANCEL_REQUEST_CODE);
        buf.writeInt(pid);
        buf.writeInt(secret);
        return buf;
    }
}
