package io.dbwarden.proxy.sql;

import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Values by statement text (a literal-free text, usually), shared by all connections, bounded both in entries and in
 * the characters of its keys: statement texts range from a few dozen characters to megabytes (an {@code IN} list of
 * thousands of parameters has a shape of its own for every length), so a count alone does not bound the memory. When
 * either bound is reached, a tenth of the entries (more, until there is room for the new key) go, in no particular
 * order; a key longer than an eighth of the budget is not kept at all. Thread-safe; the character count may briefly
 * run ahead of the entries while threads race.
 */
public final class TextKeyedCache<V> {
    private final ConcurrentHashMap<String, V> map = new ConcurrentHashMap<>();
    private final AtomicLong chars = new AtomicLong();
    private final int maxEntries;
    private final long maxChars;

    public TextKeyedCache(int maxEntries, long maxChars) {
        if (maxEntries < 1 || maxChars < 8) {
            throw new IllegalArgumentException("a cache needs room for an entry");
        }
        this.maxEntries = maxEntries;
        this.maxChars = maxChars;
    }

    public V get(String key) {
        return map.get(key);
    }

    /** Keeps {@code value} for {@code key}, first making room if a bound is reached. */
    public void put(String key, V value) {
        int length = key.length();
        if (length > maxChars / 8) {
            return;
        }
        if (map.size() >= maxEntries || chars.get() + length > maxChars) {
            evict(length);
        }
        if (map.put(key, value) == null) {
            chars.addAndGet(length);
        }
    }

    private void evict(int room) {
        int tenth = Math.max(1, maxEntries / 10);
        Iterator<String> it = map.keySet().iterator();
        for (int removed = 0; it.hasNext() && (removed < tenth || chars.get() + room > maxChars); removed++) {
            String key = it.next();
            if (map.remove(key) != null) {
                chars.addAndGet(-key.length());
            }
        }
    }

    public int size() {
        return map.size();
    }

    /** Characters of the keys held now. */
    public long chars() {
        return chars.get();
    }
}
