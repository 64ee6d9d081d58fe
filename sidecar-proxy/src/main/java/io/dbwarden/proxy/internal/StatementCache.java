package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlLexer;
import io.dbwarden.proxy.sql.SqlText;

import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Split and analysed statements by query text, shared by all connections. Two direct-mapped tables (no locks, no
 * eviction scans: a new entry simply replaces whatever shared its slot):
 * <ul>
 *   <li>query text to its statements, which pays off for texts repeated verbatim (prepared statements,
 *       literal-free queries); a text enters on its second sighting;</li>
 *   <li>literal-free text to its fingerprint, which pays off for the common case of the same statement with
 *       different literals (the fingerprint hash is the expensive part after lexing).</li>
 * </ul>
 * A third table holds shapes: a one-statement text whose number literals are plain digits (the common OLTP
 * statement, {@code ... WHERE id = 42}) is a template for the texts that differ from it only in those digits. Such a
 * text is matched against the template (its other characters compared, each literal a run of digits) instead of being
 * lexed: the lexer reads a text left to right, and a run of digits that follows exactly what preceded the template's
 * literal and is followed by what followed it (a character that cannot continue a number) is lexed as a number there
 * too, so the statement's tokens are the template's with other digits, and its literal-free text and fingerprint are
 * the template's. Anything else (a decimal, a literal that grew into a word, another statement after it) does not
 * match and is lexed.
 * <p>
 * The tables hold at most {@code maxCachedChars} characters of text in all (statement texts, literal-free texts,
 * shapes), so that a client sending many large texts cannot fill the heap through them (with its tokens, made on
 * demand, an entry takes several times its text): beyond that, new texts are analysed without being kept until
 * replacements free room.
 */
public final class StatementCache {
    /** What a table slot holds, with the characters of text it counts against the budget. */
    private interface Cached {
        int chars();
    }

    private record Entry(String sql, boolean standardConformingStrings, List<StatementInfo> statements)
            implements Cached {
        @Override
        public int chars() {
            return sql.length();
        }
    }

    private record Fingerprint(String normalized, String fingerprint) implements Cached {
        @Override
        public int chars() {
            return normalized.length();
        }
    }

    /**
     * A one-statement text with {@code literals} (start and end of each of its number literals, all plain digits, each
     * followed by the end of the text or a character that cannot continue a number): what matches it is analysed as
     * it was. Offsets after the last literal are kept from the end of the text, whose tail the match compares.
     */
    private record Shape(String sql, boolean standardConformingStrings, int[] literals, int start, int endFromEnd,
                         int sourceStart, int sourceEndFromEnd, boolean sourceIsText, String normalized,
                         String fingerprint) implements Cached {

        @Override
        public int chars() {
            return sql.length();
        }

        /** {@code text}'s statements if it is this shape with other digits in its literals, else null. */
        List<StatementInfo> match(String text) {
            int at = 0;
            int from = 0;
            for (int k = 0; k < literals.length; k += 2) {
                int fixed = literals[k] - from;
                if (!text.regionMatches(at, sql, from, fixed)) {
                    return null;
                }
                int digits = at + fixed;
                at = digits;
                while (at < text.length() && SqlLexer.isDigit(text.charAt(at))) {
                    at++;
                }
                if (at == digits) {
                    return null;
                }
                from = literals[k + 1];
            }
            int tail = sql.length() - from;
            if (text.length() - at != tail || !text.regionMatches(at, sql, from, tail)) {
                return null;
            }
            int end = text.length() - endFromEnd;
            String statement = start == 0 && end == text.length() ? text : text.substring(start, end);
            String source = sourceIsText ? statement
                    : text.substring(sourceStart, text.length() - sourceEndFromEnd).strip();
            return List.of(new StatementInfo(statement, SqlText.lazyTokens(statement, standardConformingStrings),
                    normalized, fingerprint, source));
        }
    }

    /** Longest text kept as a shape, and most literals in one: templates are for short OLTP statements. */
    static final int MAX_SHAPE_LENGTH = 4096;
    static final int MAX_SHAPE_LITERALS = 64;

    private final AtomicReferenceArray<Entry> byText;
    /**
     * Two hashes per {@link #byText} slot, side by side (one memory access for both): that of the cached text, so
     * a lookup that misses (the usual case for texts with literals) does not load the entry and its strings, and
     * that of the last text that missed there: a text is cached on its second sighting, so the stream of one-off
     * texts (the same statement with ever new literals) neither fills the table nor keeps garbage alive. Read and
     * written without synchronization: a stale hash only costs a comparison or a later caching, since the entry
     * itself is always compared.
     */
    private final int[] hashes;
    private final AtomicReferenceArray<Fingerprint> fingerprints;
    private final AtomicReferenceArray<Shape> shapes;
    /** Per {@link #shapes} slot the skeleton hash of the last text that missed there (shapes enter when seen twice). */
    private final int[] shapeMisses;
    private final int mask;
    private final int maxCachedLength;
    private static final ThreadLocal<SqlText.Scan> SCAN = ThreadLocal.withInitial(SqlText.Scan::new);

    /** Characters of text the tables hold at most by default (some tens of megabytes with the tokens made of them). */
    public static final long DEFAULT_MAX_CACHED_CHARS = 4L << 20;

    private final long maxCachedChars;
    private final AtomicLong cachedChars = new AtomicLong();

    /** A cache holding at most {@link #DEFAULT_MAX_CACHED_CHARS} characters of text. */
    public StatementCache(int slots, int maxCachedLength) {
        this(slots, maxCachedLength, DEFAULT_MAX_CACHED_CHARS);
    }

    /**
     * @param slots           table size, rounded up to a power of two
     * @param maxCachedLength longest query text kept
     * @param maxCachedChars  characters of text the tables hold at most in all
     */
    public StatementCache(int slots, int maxCachedLength, long maxCachedChars) {
        int size = Integer.highestOneBit(Math.max(16, slots - 1)) << 1;
        this.byText = new AtomicReferenceArray<>(size);
        this.hashes = new int[2 * size];
        this.fingerprints = new AtomicReferenceArray<>(size);
        this.shapes = new AtomicReferenceArray<>(size);
        this.shapeMisses = new int[size];
        this.mask = size - 1;
        this.maxCachedLength = maxCachedLength;
        this.maxCachedChars = maxCachedChars;
    }

    /** The statements of a query string, in order; empty when it holds only whitespace and comments. */
    public List<StatementInfo> split(String sql, boolean standardConformingStrings) {
        if (sql.length() > maxCachedLength) {
            return analyse(sql, standardConformingStrings);
        }
        int hash = sql.hashCode();
        int slot = spread(hash) & mask;
        int at = slot << 1;
        if (hashes[at] == hash) {
            Entry e = byText.get(slot);
            if (e != null && e.standardConformingStrings() == standardConformingStrings && e.sql().equals(sql)) {
                return e.statements();
            }
        }
        int skeleton = 0;
        int shapeSlot = -1;
        if (sql.length() <= MAX_SHAPE_LENGTH) {
            skeleton = skeletonHash(sql);
            shapeSlot = spread(skeleton) & mask;
            Shape shape = shapes.get(shapeSlot);
            if (shape != null && shape.standardConformingStrings() == standardConformingStrings) {
                List<StatementInfo> matched = shape.match(sql);
                if (matched != null) {
                    return matched;
                }
            }
        }
        List<StatementInfo> result = analyse(sql, standardConformingStrings, shapeSlot, skeleton);
        if (hashes[at + 1] == hash) {
            if (keep(byText, slot, new Entry(sql, standardConformingStrings, result))) {
                hashes[at] = hash;
            }
        } else {
            hashes[at + 1] = hash;
        }
        return result;
    }

    /**
     * {@link #split} on a worker, for query texts too large to lex on an event loop. The workers (daemon threads,
     * half the cores, a bounded queue) are the proxy's own, so a burst of huge texts neither delays other work on
     * shared pools nor piles up without bound: when the queue is full the stage fails, and the proxy blocks the text.
     */
    public CompletableFuture<List<StatementInfo>> splitAsync(String sql, boolean standardConformingStrings) {
        try {
            return CompletableFuture.supplyAsync(() -> split(sql, standardConformingStrings), LARGE_TEXTS);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new IllegalStateException(
                    "too many large query texts are being analysed at once", e));
        }
    }

    private static final ThreadPoolExecutor LARGE_TEXTS = largeTextWorkers();

    private static ThreadPoolExecutor largeTextWorkers() {
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(256), r -> {
                    Thread t = new Thread(r, "dbwarden-split-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    private List<StatementInfo> analyse(String sql, boolean scs) {
        return analyse(sql, scs, -1, 0);
    }

    /** Analyses {@code sql}; with a shape slot, keeps the text as a shape there if it is one and was seen before. */
    private List<StatementInfo> analyse(String sql, boolean scs, int shapeSlot, int skeleton) {
        // one lexer pass that splits and normalizes without token objects: the shapes are usually cached (the same
        // statement with other literals), and then nothing else is computed; tokens are made only if a filter asks
        SqlText.Scan scan = SCAN.get();
        int n = scan.scan(sql, scs);
        try {
            if (n == 1) {
                StatementInfo info = info(sql, scs, scan, 0);
                if (shapeSlot >= 0) {
                    if (shapeMisses[shapeSlot] == skeleton) {
                        Shape shape = shape(sql, scs, scan, info);
                        if (shape != null) {
                            keep(shapes, shapeSlot, shape);
                        }
                    } else {
                        shapeMisses[shapeSlot] = skeleton;
                    }
                }
                return List.of(info);
            }
            StatementInfo[] infos = new StatementInfo[n];
            for (int i = 0; i < n; i++) {
                infos[i] = info(sql, scs, scan, i);
            }
            return List.of(infos);
        } finally {
            if (scan.oversized()) {
                SCAN.remove(); // do not keep a huge statement's buffers per thread
            }
        }
    }

    private StatementInfo info(String sql, boolean scs, SqlText.Scan scan, int i) {
        int start = scan.start(i);
        int end = scan.end(i);
        String text = start == 0 && end == sql.length() ? sql : sql.substring(start, end);
        StringBuilder normalized = scan.normalized();
        int from = scan.normalizedStart(i);
        int to = scan.normalizedEnd(i);
        int hash = 0;
        for (int k = from; k < to; k++) {
            hash = 31 * hash + normalized.charAt(k); // String.hashCode of the normalized text
        }
        int slot = spread(hash) & mask;
        Fingerprint f = fingerprints.get(slot);
        if (f == null || !sameText(f.normalized(), normalized, from, to)) {
            String n = normalized.subSequence(from, to).toString();
            f = new Fingerprint(n, SqlText.fingerprint(n));
            keep(fingerprints, slot, f);
        }
        return new StatementInfo(text, SqlText.lazyTokens(text, scs), f.normalized(), f.fingerprint(),
                scan.source(sql, i, text));
    }

    /**
     * Puts {@code entry} into {@code table}'s slot if the tables have room for its text once the entry it replaces is
     * gone; false if they have not (the slot keeps what it had).
     */
    private <T extends Cached> boolean keep(AtomicReferenceArray<T> table, int slot, T entry) {
        T current = table.get(slot);
        int chars = entry.chars();
        int freed = current == null ? 0 : current.chars();
        if (chars > freed && cachedChars.get() + chars - freed > maxCachedChars) {
            return false;
        }
        T replaced = table.getAndSet(slot, entry); // another thread may have put something else there meanwhile
        cachedChars.addAndGet(chars - (replaced == null ? 0 : replaced.chars()));
        return true;
    }

    /** Characters of text the tables hold now (for tests). */
    long cachedChars() {
        return cachedChars.get();
    }

    /** Whether {@code sql} would be matched against a shape instead of lexed (for tests). */
    boolean matchesShape(String sql, boolean standardConformingStrings) {
        Shape shape = sql.length() <= MAX_SHAPE_LENGTH ? shapes.get(spread(skeletonHash(sql)) & mask) : null;
        return shape != null && shape.standardConformingStrings() == standardConformingStrings
                && shape.match(sql) != null;
    }

    /** The one-statement text just scanned as a shape, or null if it holds no literal or one that is not digits. */
    private static Shape shape(String sql, boolean scs, SqlText.Scan scan, StatementInfo info) {
        int literals = scan.numberCount();
        if (literals == 0 || literals > MAX_SHAPE_LITERALS) {
            return null;
        }
        int[] spans = new int[2 * literals];
        for (int i = 0; i < literals; i++) {
            int start = scan.numberStart(i);
            int end = scan.numberEnd(i);
            for (int k = start; k < end; k++) {
                if (!SqlLexer.isDigit(sql.charAt(k))) {
                    return null; // a decimal, an exponent, 0x1F, 1_000: lexed every time
                }
            }
            if (end < sql.length() && !endsNumber(sql.charAt(end))) {
                return null;
            }
            spans[2 * i] = start;
            spans[2 * i + 1] = end;
        }
        int length = sql.length();
        boolean sourceIsText = info.source() == info.text(); // the same string: no comments around the statement
        return new Shape(sql, scs, spans, scan.start(0), length - scan.end(0), scan.sourceStart(0),
                length - scan.sourceEnd(0), sourceIsText, info.normalized(), info.fingerprint());
    }

    /** Whether {@code c} after a run of digits ends the number (it cannot continue a number or a word). */
    private static boolean endsNumber(char c) {
        return !SqlLexer.isIdentPart(c) && c != '.';
    }

    /**
     * A hash of {@code sql} with every run of digits that does not continue a word counted as one placeholder: the
     * same for texts that differ only in their number literals (a lookup key; {@link Shape#match} decides).
     */
    static int skeletonHash(String sql) {
        int hash = 0;
        boolean inWord = false;
        for (int i = 0, n = sql.length(); i < n; i++) {
            char c = sql.charAt(i);
            if (!inWord && SqlLexer.isDigit(c)) {
                while (i + 1 < n && SqlLexer.isDigit(sql.charAt(i + 1))) {
                    i++;
                }
                hash = 31 * hash + 0x10000; // not a char value
                continue;
            }
            hash = 31 * hash + c;
            inWord = SqlLexer.isIdentPart(c);
        }
        return hash;
    }

    private static boolean sameText(String s, StringBuilder seq, int from, int to) {
        if (s.length() != to - from) {
            return false;
        }
        if (from == 0 && to == seq.length()) {
            return s.contentEquals(seq); // one statement: compares the arrays directly
        }
        for (int k = 0; k < s.length(); k++) {
            if (s.charAt(k) != seq.charAt(from + k)) {
                return false;
            }
        }
        return true;
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }
}
