package io.dbwarden.proxy.audit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tamper evidence for the audit log: every event line ends with {@code "seq":N,"prev":P,"hash":H} where H is the
 * SHA-256 of the line up to (not including) {@code ,"hash"} and P is the previous line's H. Changing, removing,
 * reordering or inserting a line breaks the chain at that point. A chain starts at seq 1 with P all zeros (a proxy
 * that has no earlier log to continue, e.g. logging to stdout, starts a new chain when it starts).
 */
public final class HashChain {
    public static final String GENESIS = "0".repeat(64);
    private static final Pattern TAIL = Pattern.compile(
            ",\"seq\":(\\d+),\"prev\":\"([0-9a-f]{64})\",\"hash\":\"([0-9a-f]{64})\"}$");
    private static final HexFormat HEX = HexFormat.of();
    private static final byte[] SEQ = "\"seq\":".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PREV = ",\"prev\":\"".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HASH = ",\"hash\":\"".getBytes(StandardCharsets.US_ASCII);

    private final MessageDigest sha256;
    private final byte[] digest = new byte[32];
    private long seq;
    /** The previous event's hash as the 64 ASCII hex digits that go into the next line. */
    private final byte[] prev = new byte[64];

    /** Continues after an event with sequence number {@code lastSeq} and hash {@code lastHash}. */
    public HashChain(long lastSeq, String lastHash) {
        if (lastHash.length() != 64) {
            throw new IllegalArgumentException("a chain hash has 64 hex digits");
        }
        this.seq = lastSeq;
        for (int i = 0; i < 64; i++) {
            prev[i] = (byte) lastHash.charAt(i);
        }
        this.sha256 = newSha256();
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }

    public static HashChain start() {
        return new HashChain(0, GENESIS);
    }

    /** Continues the chain of {@code lastLine}, or starts a new one when it is absent or not a chained event. */
    public static HashChain after(String lastLine) {
        if (lastLine == null) {
            return start();
        }
        Matcher m = TAIL.matcher(lastLine);
        return m.find() ? new HashChain(Long.parseLong(m.group(1)), m.group(3)) : start();
    }

    public long lastSeq() {
        return seq;
    }

    public String lastHash() {
        return new String(prev, StandardCharsets.US_ASCII);
    }

    /** Chains one event (a JSON object text) and returns its line (without the newline). Not thread-safe. */
    public String seal(String eventJson) {
        AuditLine line = new AuditLine(eventJson.length() + 200);
        byte[] utf8 = eventJson.getBytes(StandardCharsets.UTF_8);
        line.raw(utf8);
        seal(line);
        return line.toString();
    }

    /**
     * Chains the UTF-8 JSON object in {@code line} in place: the closing brace becomes the chain fields and the
     * hash, computed over the very bytes that are written. Not thread-safe.
     */
    void seal(AuditLine line) {
        int len = line.length();
        if (len == 0 || line.byteAt(len - 1) != '}') {
            throw new IllegalArgumentException("not a JSON object");
        }
        seq++;
        line.setLength(len - 1);
        if (len > 2) {
            line.ascii(',');
        }
        line.raw(SEQ).number(seq).raw(PREV).raw(prev).ascii('"');
        sha256.update(line.bytes(), 0, line.length());
        try {
            sha256.digest(digest, 0, 32);
        } catch (java.security.DigestException e) {
            throw new IllegalStateException(e);
        }
        line.raw(HASH);
        int hashStart = line.length();
        line.hex(digest);
        System.arraycopy(line.bytes(), hashStart, prev, 0, 64);
        line.ascii("\"}");
    }

    /** The outcome of checking a sequence of lines. */
    public record Verification(long events, List<Long> chainStarts, List<String> problems) {
        public boolean intact() {
            return problems.isEmpty();
        }
    }

    /**
     * Checks lines in order (1-based line numbers in the messages). A new chain may only start with seq 1 and the
     * genesis hash; such restarts are reported in {@link Verification#chainStarts()}, not as problems.
     */
    public static Verification verify(Iterable<String> lines) {
        MessageDigest sha = newSha256();
        List<String> problems = new ArrayList<>();
        List<Long> starts = new ArrayList<>();
        long lineNo = 0;
        long events = 0;
        long expectedSeq = -1;
        String expectedPrev = null;
        for (String line : lines) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            Matcher m = TAIL.matcher(line);
            if (!m.find()) {
                problems.add("line " + lineNo + ": not a chained audit event");
                expectedSeq = -1;
                expectedPrev = null;
                continue;
            }
            events++;
            long seq = Long.parseLong(m.group(1));
            String prev = m.group(2);
            String hash = m.group(3);
            String body = line.substring(0, m.start()) + ",\"seq\":" + seq + ",\"prev\":\"" + prev + "\"";
            String actual = HEX.formatHex(sha.digest(body.getBytes(StandardCharsets.UTF_8)));
            if (!actual.equals(hash)) {
                problems.add("line " + lineNo + " (seq " + seq + "): content does not match its hash (modified)");
            }
            if (seq == 1 && GENESIS.equals(prev)) {
                starts.add(lineNo);
            } else if (expectedPrev == null) {
                // the first event of a file may be mid-chain (rotated logs); links are checked from here on
                starts.add(lineNo);
            } else if (seq != expectedSeq) {
                problems.add("line " + lineNo + ": seq " + seq + " follows seq " + (expectedSeq - 1)
                        + " (events missing, inserted or reordered)");
            } else if (!prev.equals(expectedPrev)) {
                problems.add("line " + lineNo + " (seq " + seq + "): does not link to the previous event");
            }
            expectedSeq = seq + 1;
            expectedPrev = hash;
        }
        return new Verification(events, List.copyOf(starts), List.copyOf(problems));
    }
}
