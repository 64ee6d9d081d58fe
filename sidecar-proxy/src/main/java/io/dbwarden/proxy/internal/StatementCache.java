package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Split and analysed statements by query text, shared by all connections. Two direct-mapped tables (no locks, no
 * eviction scans: a new entry simply replaces whatever shared its slot):
 * <ul>
 *   <li>query text to its statements, which pays off for texts repeated verbatim (prepared statements,
 *       literal-free queries);</li>
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
    private final AtomicReferenceArray<Fingerprint> fingerprints;
    private final int mask;
    private final int maxCachedLength;

    /** @param slots table size, rounded up to a power of two */
    public StatementCache(int slots, int maxCachedLength) {
        int size = Integer.highestOneBit(Math.max(16, slots - 1)) << 1;
        this.byText = new AtomicReferenceArray<>(size);
        this.fingerprints = new AtomicReferenceArray<>(size);
        this.mask = size - 1;
        this.maxCachedLength = maxCachedLength;
    }

    /** The statements of a query string, in order; empty when it holds only whitespace and comments. */
    public List<StatementInfo> split(String sql, boolean standardConformingStrings) {
        if (sql.length() > maxCachedLength) {
            return analyse(sql, standardConformingStrings);
        }
        int slot = spread(sql.hashCode()) & mask;
        Entry e = byText.get(slot);
        if (e != null && e.standardConformingStrings() == standardConformingStrings && e.sql().equals(sql)) {
            return e.statements();
        }
        List<StatementInfo> result = analyse(sql, standardConformingStrings);
        byText.set(slot, new Entry(sql, standardConformingStrings, result));
        return result;
    }

    private List<StatementInfo> analyse(String sql, boolean scs) {
        List<SqlText.Statement> parts = SqlText.split(sql, scs);
        List<StatementInfo> infos = new ArrayList<>(parts.size());
        for (SqlText.Statement s : parts) {
            infos.add(info(s.text(), s.tokens(), s.source()));
        }
        return List.copyOf(infos);
    }

    private StatementInfo info(String text, List<SqlToken> tokens, String source) {
        String normalized = SqlText.normalize(text, tokens);
        int slot = spread(normalized.hashCode()) & mask;
        Fingerprint f = fingerprints.get(slot);
        if (f == null || !f.normalized().equals(normalized)) {
            f = new Fingerprint(normalized, SqlText.fingerprint(normalized));
            fingerprints.set(slot, f);
        }
        return new StatementInfo(text, tokens, f.normalized(), f.fingerprint(), source);
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }
}
