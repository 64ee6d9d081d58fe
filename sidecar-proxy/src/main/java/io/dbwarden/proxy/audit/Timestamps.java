package io.dbwarden.proxy.audit;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** ISO-8601 UTC timestamps with millisecond precision, formatting the date-time part once per second. */
final class Timestamps {
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss")
            .withZone(ZoneOffset.UTC);

    private long cachedSecond = Long.MIN_VALUE;
    private byte[] cachedPrefix;

    /** Appends {@code "2026-11-30T05:01:02.345Z"} (quoted) for {@code epochMillis}. Not thread-safe. */
    void appendQuoted(long epochMillis, AuditLine line) {
        long second = Math.floorDiv(epochMillis, 1000);
        if (second != cachedSecond) {
            cachedPrefix = ('"' + SECONDS.format(Instant.ofEpochSecond(second)) + '.').getBytes(StandardCharsets.US_ASCII);
            cachedSecond = second;
        }
        int millis = Math.floorMod(epochMillis, 1000);
        line.raw(cachedPrefix)
                .ascii((char) ('0' + millis / 100))
                .ascii((char) ('0' + millis / 10 % 10))
                .ascii((char) ('0' + millis % 10))
                .ascii("Z\"");
    }
}
