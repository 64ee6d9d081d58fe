package io.dbwarden.proxy.sql;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TextKeyedCacheTest {

    @Test
    void entriesAreBoundedByCount() {
        TextKeyedCache<Integer> cache = new TextKeyedCache<>(100, 1 << 20);
        for (int i = 0; i < 1_000; i++) {
            cache.put("select " + i, i);
            assertThat(cache.size()).isLessThanOrEqualTo(100);
        }
        assertThat(cache.get("select 999")).isEqualTo(999); // the newest is always kept
        assertThat(cache.chars()).isEqualTo(charsOfKeysHeld(cache, 1_000));
    }

    /** An IN list of every length is a shape of its own: a count alone would let them fill the heap. */
    @Test
    void entriesAreBoundedByTheCharactersOfTheirKeys() {
        long budget = 100_000;
        TextKeyedCache<String> cache = new TextKeyedCache<>(50_000, budget);
        for (int n = 1; n <= 3_000; n++) {
            String shape = "select * from t where id in (" + "?, ".repeat(n) + "?)";
            cache.put(shape, "verdict " + n);
            assertThat(cache.chars()).isLessThanOrEqualTo(budget);
            assertThat(cache.get(shape)).as("a key that fits is kept").isEqualTo(shape.length() <= budget / 8
                    ? "verdict " + n : null);
        }
        assertThat(cache.size()).isLessThan(100);
    }

    @Test
    void aKeyLongerThanAnEighthOfTheBudgetIsNotKept() {
        TextKeyedCache<String> cache = new TextKeyedCache<>(10, 800);
        cache.put("x".repeat(101), "too long");
        cache.put("y".repeat(100), "fits");
        assertThat(cache.get("x".repeat(101))).isNull();
        assertThat(cache.get("y".repeat(100))).isEqualTo("fits");
        assertThat(cache.chars()).isEqualTo(100);
        cache.put("y".repeat(100), "replaced");
        assertThat(cache.chars()).as("a replaced value does not count its key twice").isEqualTo(100);
        assertThatThrownBy(() -> new TextKeyedCache<String>(0, 100)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void threadsRacingKeepTheBoundsAndTheCount() throws InterruptedException {
        TextKeyedCache<Integer> cache = new TextKeyedCache<>(500, 20_000);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int base = t * 100_000;
            threads.add(Thread.ofPlatform().start(() -> {
                for (int i = 0; i < 20_000; i++) {
                    cache.put("select " + (base + i % 3_000) + " from t", i);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(cache.size()).isLessThanOrEqualTo(500 + 4);
        assertThat(cache.chars()).isEqualTo(charsOfKeysHeld(cache, 400_000)).isLessThanOrEqualTo(20_000 + 4 * 20);
    }

    private static long charsOfKeysHeld(TextKeyedCache<?> cache, int upTo) {
        long chars = 0;
        for (int i = 0; i < upTo; i++) {
            for (String key : new String[] {"select " + i, "select " + i + " from t"}) {
                if (cache.get(key) != null) {
                    chars += key.length();
                }
            }
        }
        return chars;
    }
}
