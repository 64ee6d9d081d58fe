package io.dbwarden.proxy.audit;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** ISO-8601 UTC timestamps with millisecond precision, formatting the date-time part once per second. */
final class Timestamps {
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss")
            .withZone(ZoneOffset.UTC);

    private record Cached(long epochSecond, String prefix) {
    }

    private static volatile Cached cached = new Cached(Long.MIN_VALUE, "");

    private Timestamps() {
    }

    static String iso(long epochMillis) {
        long second = Math.floorDiv(epochMillis, 1000);
        Cached c = cached;
        if (c.epochSecond() != second) {
            c = new Cached(second, SECONDS.format(Instant.ofEpochSecond(second)));
            cached = c;
        }
        int millis = Math.floorMod(epochMillis, 1000);
        StringBuilder sb = new StringBuilder(24).append(c.prefix()).append('.');
        if (millis < 100) {
            sb.append('0');
        }
        if (millis < 10) {
            sb.append('0');
        }
        return sb.append(millis).append('Z').toString();
    }
}
