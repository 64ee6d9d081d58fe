package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
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
     * Hash of the last text that missed in each {@link #byText} slot: a text is cached on its second sighting, so
     * the stream of one-off texts (the same statement with ever new literals) neither fills the table nor keeps
     * garbage alive.
     */
    private final AtomicIntegerArray lastMiss;
    private final AtomicReferenceArray<Fingerprint> fingerprints;
    private final int mask;
    private final int maxCachedLength;
    private static final ThreadLocal<StringBuilder> SCRATCH = ThreadLocal.withInitial(() -> new StringBuilder(256));

    /** @param slots table size, rounded up to a power of two */
    public StatementCache(int slots, int maxCachedLength) {
        int size = Integer.highestOneBit(Math.max(16, slots - 1)) << 1;
        this.byText = new AtomicReferenceArray<>(size);
        this.lastMiss = new AtomicIntegerArray(size);
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
        Entry e = byText.get(slot);
        if (e != null && e.standardConformingStrings() == standardConformingStrings && e.sql().equals(sql)) {
            return e.statements();
        }
        List<StatementInfo> result = analyse(sql, standardConformingStrings);
        if (lastMiss.get(slot) == hash) {
            byText.set(slot, new Entry(sql, standardConformingStrings, result));
        } else {
            lastMiss.set(slot, hash);
        }
        return result;
    }

    private List<StatementInfo> analyse(String sql, boolean scs) {
        List<SqlText.Statement> parts = SqlText.split(sql, scs);
        if (parts.size() == 1) {
            SqlText.Statement s = parts.getFirst();
            return List.of(info(s.text(), s.tokens(), s.source()));
        }
        List<StatementInfo> infos = new ArrayList<>(parts.size());
        for (SqlText.Statement s : parts) {
            infos.add(info(s.text(), s.tokens(), s.source()));
        }
        return List.copyOf(infos);
    }

    private StatementInfo info(String text, List<SqlToken> tokens, String source) {
        // normalized into a reused builder: the shape is usually cached, and then no string is made for it
        StringBuilder normalized = SCRATCH.get();
        normalized.setLength(0);
        SqlText.normalize(text, tokens, normalized);
        int hash = 0;
        for (int i = 0; i < normalized.length(); i++) {
            hash = 31 * hash + normalized.charAt(i); // String.hashCode of the normalized text
        }
        int slot = spread(hash) & mask;
        Fingerprint f = fingerprints.get(slot);
        if (f == null || !f.normalized().contentEquals(normalized)) {
            String n = normalized.toString();
            f = new Fingerprint(n, SqlText.fingerprint(n));
            fingerprints.set(slot, f);
        }
        if (normalized.capacity() > 64 * 1024) {
            SCRATCH.remove(); // do not keep a huge statement's buffer per thread
        }
        return new StatementInfo(text, tokens, f.normalized(), f.fingerprint(), source);
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }
}
