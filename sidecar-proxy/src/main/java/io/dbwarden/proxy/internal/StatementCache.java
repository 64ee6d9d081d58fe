package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Split and analysed statements by query text, shared by all connections so that lexing, normalization and
 * fingerprinting happen once per distinct text. Bounded: past the limit an arbitrary tenth is evicted
 * (cheap, lock-free reads; applications repeat a small set of texts).
 */
public final class StatementCache {
    private record Key(String sql, boolean standardConformingStrings) {
    }

    private final ConcurrentHashMap<Key, List<StatementInfo>> cache = new ConcurrentHashMap<>();
    private final int maxEntries;
    private final int maxCachedLength;

    public StatementCache(int maxEntries, int maxCachedLength) {
        this.maxEntries = maxEntries;
        this.maxCachedLength = maxCachedLength;
    }

    /** The statements of a query string, in order; empty when it holds only whitespace and comments. */
    public List<StatementInfo> split(String sql, boolean standardConformingStrings) {
        if (sql.length() > maxCachedLength) {
            return analyse(sql, standardConformingStrings);
        }
        Key key = new Key(sql, standardConformingStrings);
        List<StatementInfo> hit = cache.get(key);
        if (hit != null) {
            return hit;
        }
        List<StatementInfo> result = analyse(sql, standardConformingStrings);
        if (cache.size() >= maxEntries) {
            evictSome();
        }
        cache.put(key, result);
        return result;
    }

    private static List<StatementInfo> analyse(String sql, boolean scs) {
        List<SqlText.Statement> parts = SqlText.split(sql, scs);
        List<StatementInfo> infos = new ArrayList<>(parts.size());
        for (SqlText.Statement s : parts) {
            infos.add(StatementInfo.of(s));
        }
        return List.copyOf(infos);
    }

    private void evictSome() {
        int toRemove = Math.max(1, maxEntries / 10);
        Iterator<Key> it = cache.keySet().iterator();
        while (toRemove-- > 0 && it.hasNext()) {
            it.next();
            it.remove();
        }
    }

    public int size() {
        return cache.size();
    }
}
