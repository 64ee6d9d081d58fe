package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;

import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 */
public final class StatementCache {
    private record Entry(String sql, boolean standardConformingStrings, List<StatementInfo> statements) {
    }

    private record Fingerprint(String normalized, String fingerprint) {
    }

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
    private final int mask;
    private final int maxCachedLength;
    private static final ThreadLocal<SqlText.Scan> SCAN = ThreadLocal.withInitial(SqlText.Scan::new);

    /** @param slots table size, rounded up to a power of two */
    public StatementCache(int slots, int maxCachedLength) {
        int size = Integer.highestOneBit(Math.max(16, slots - 1)) << 1;
        this.byText = new AtomicReferenceArray<>(size);
        this.hashes = new int[2 * size];
        this.fingerprints = new AtomicReferenceArray<>(size);
        this.mask = size - 1;
        this.maxCachedLength = maxCachedLength;
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
        List<StatementInfo> result = analyse(sql, standardConformingStrings);
        if (hashes[at + 1] == hash) {
            byText.set(slot, new Entry(sql, standardConformingStrings, result));
            hashes[at] = hash;
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
        // one lexer pass that splits and normalizes without token objects: the shapes are usually cached (the same
        // statement with other literals), and then nothing else is computed; tokens are made only if a filter asks
        SqlText.Scan scan = SCAN.get();
        int n = scan.scan(sql, scs);
        try {
            if (n == 1) {
                return List.of(info(sql, scs, scan, 0));
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
            fingerprints.set(slot, f);
        }
        return new StatementInfo(text, SqlText.lazyTokens(text, scs), f.normalized(), f.fingerprint(),
                scan.source(sql, i, text));
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
