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

    private final MessageDigest sha256;
    private long seq;
    private String prev;

    /** Continues after an event with sequence number {@code lastSeq} and hash {@code lastHash}. */
    public HashChain(long lastSeq, String lastHash) {
        this.seq = lastSeq;
        this.prev = lastHash;
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
        return prev;
    }

    /** Chains one event (a JSON object text) and returns its line (without the newline). Not thread-safe. */
    public String seal(String eventJson) {
        StringBuilder sb = new StringBuilder(eventJson.length() + 180).append(eventJson);
        seal(sb);
        return sb.toString();
    }

    private byte[] ascii = new byte[1024];
    private final byte[] digest = new byte[32];
    private static final char[] HEX_DIGITS = "0123456789abcdef".toCharArray();

    /**
     * Chains the event JSON object in {@code sb} in place: the closing brace becomes the chain fields and the hash.
     * Allocation-free for ASCII events (the usual case: literal-free statements). Not thread-safe.
     */
    public void seal(StringBuilder sb) {
        int len = sb.length();
        if (len == 0 || sb.charAt(len - 1) != '}') {
            throw new IllegalArgumentException("not a JSON object");
        }
        seq++;
        sb.setLength(len - 1);
        if (len > 2) {
            sb.append(',');
        }
        sb.append("\"seq\":").append(seq).append(",\"prev\":\"").append(prev).append('"');
        int n = sb.length();
        boolean plain = true;
        if (ascii.length < n) {
            ascii = new byte[Math.max(n, ascii.length * 2)];
        }
        for (int i = 0; i < n; i++) {
            char c = sb.charAt(i);
            if (c >= 0x80) {
                plain = false;
                break;
            }
            ascii[i] = (byte) c;
        }
        if (plain) {
            sha256.update(ascii, 0, n);
        } else {
            sha256.update(sb.toString().getBytes(StandardCharsets.UTF_8));
        }
        try {
            sha256.digest(digest, 0, 32);
        } catch (java.security.DigestException e) {
            throw new IllegalStateException(e);
        }
        sb.append(",\"hash\":\"");
        int hashStart = sb.length();
        for (byte b : digest) {
            sb.append(HEX_DIGITS[(b >> 4) & 0xf]).append(HEX_DIGITS[b & 0xf]);
        }
        prev = sb.substring(hashStart, hashStart + 64);
        sb.append("\"}");
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
