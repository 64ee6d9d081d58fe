package io.dbwarden.proxy.approval;

import java.nio.ByteBuffer;
import java.time.LocalDate;

/**
 * PostgreSQL's binary forms of numeric, date, time, timestamp and interval values (as {@code numeric_send},
 * {@code date_send} and the others write them) turned into text the server reads back as the same value: ISO dates
 * with a {@code BC} suffix for years before 1, {@code infinity} for the infinite ones, numerics with their display
 * scale. Null for a value that is malformed (wrong length, digits out of range): such a value is not guessed at.
 */
final class PgBinary {
    /** PostgreSQL's epoch for dates and timestamps. */
    private static final LocalDate EPOCH = LocalDate.of(2000, 1, 1);
    private static final long MICROS_PER_SECOND = 1_000_000L;
    private static final long MICROS_PER_DAY = 86_400L * MICROS_PER_SECOND;
    private static final int NUMERIC_POS = 0x0000;
    private static final int NUMERIC_NEG = 0x4000;
    private static final int NUMERIC_NAN = 0xC000;
    private static final int NUMERIC_PINF = 0xD000;
    private static final int NUMERIC_NINF = 0xF000;
    private static final int NUMERIC_MAX_DSCALE = 0x3FFF;
    private static final int NBASE = 10_000;

    private PgBinary() {
    }

    /**
     * numeric: digit count, weight (of the first digit, in base 10000), sign, display scale, then the base-10000
     * digits; the text has exactly the display scale's decimals, as the server prints it. Written digit group by
     * digit group (the server's own way, linear in the value's size: through {@code BigInteger} a numeric of its
     * largest size took a second to convert).
     */
    static String numeric(ByteBuffer b) {
        if (b.remaining() < 8) {
            return null;
        }
        int ndigits = b.getShort() & 0xFFFF;
        int weight = b.getShort();
        int sign = b.getShort() & 0xFFFF;
        int dscale = b.getShort() & 0xFFFF;
        if (b.remaining() != 2 * ndigits || dscale > NUMERIC_MAX_DSCALE) {
            return null;
        }
        switch (sign) {
            case NUMERIC_NAN -> {
                return ndigits == 0 ? "NaN" : null;
            }
            case NUMERIC_PINF -> {
                return ndigits == 0 ? "Infinity" : null;
            }
            case NUMERIC_NINF -> {
                return ndigits == 0 ? "-Infinity" : null;
            }
            case NUMERIC_POS, NUMERIC_NEG -> {
                // read below
            }
            default -> {
                return null;
            }
        }
        short[] digits = new short[ndigits];
        for (int i = 0; i < ndigits; i++) {
            digits[i] = b.getShort();
            if (digits[i] < 0 || digits[i] >= NBASE) {
                return null;
            }
        }
        // digit i stands for digits[i] * 10000^(weight - i): the groups before the point are weight..0
        StringBuilder sb = new StringBuilder(4 * Math.max(weight + 1, 1) + dscale + 2);
        if (sign == NUMERIC_NEG) {
            sb.append('-');
        }
        int integerStart = sb.length();
        for (int i = 0; i <= weight; i++) {
            appendGroup(sb, i < ndigits ? digits[i] : 0);
        }
        int firstNonZero = integerStart;
        while (firstNonZero < sb.length() - 1 && sb.charAt(firstNonZero) == '0') {
            firstNonZero++;
        }
        sb.delete(integerStart, firstNonZero);
        if (sb.length() == integerStart) {
            sb.append('0');
        }
        // the groups after the point: weight -1, -2, ... are digits weight + 1, weight + 2, ...; none of the digits
        // beyond the display scale may be other than zero (the server rounds to it before sending)
        int point = sb.length();
        int groups = (dscale + 3) / 4;
        for (int k = 1; k <= groups; k++) {
            int i = weight + k;
            appendGroup(sb, i >= 0 && i < ndigits ? digits[i] : 0);
        }
        for (int i = Math.max(weight + groups + 1, 0); i < ndigits; i++) {
            if (digits[i] != 0) {
                return null;
            }
        }
        for (int c = point + dscale; c < sb.length(); c++) {
            if (sb.charAt(c) != '0') {
                return null;
            }
        }
        sb.setLength(point + dscale);
        return dscale == 0 ? sb.toString() : sb.insert(point, '.').toString();
    }

    private static void appendGroup(StringBuilder sb, int group) {
        sb.append((char) ('0' + group / 1000)).append((char) ('0' + group / 100 % 10))
                .append((char) ('0' + group / 10 % 10)).append((char) ('0' + group % 10));
    }

    /** date: days since 2000-01-01; the extreme values are the infinite dates. */
    static String date(int days) {
        if (days == Integer.MAX_VALUE) {
            return "infinity";
        }
        if (days == Integer.MIN_VALUE) {
            return "-infinity";
        }
        StringBuilder sb = new StringBuilder(16);
        LocalDate d = EPOCH.plusDays(days);
        appendDate(sb, d);
        return bc(sb, d.getYear());
    }

    /** time: microseconds since midnight, 24:00:00 included. */
    static String time(long micros) {
        if (micros < 0 || micros > MICROS_PER_DAY) {
            return null;
        }
        StringBuilder sb = new StringBuilder(16);
        appendTime(sb, micros);
        return sb.toString();
    }

    /**
     * timestamp and timestamptz: microseconds since 2000-01-01 00:00:00 (UTC for timestamptz, written with its
     * {@code +00} offset so the server's time zone does not shift it).
     */
    static String timestamp(long micros, boolean utc) {
        if (micros == Long.MAX_VALUE) {
            return "infinity";
        }
        if (micros == Long.MIN_VALUE) {
            return "-infinity";
        }
        long days = Math.floorDiv(micros, MICROS_PER_DAY);
        long ofDay = Math.floorMod(micros, MICROS_PER_DAY);
        LocalDate day = EPOCH.plusDays(days);
        StringBuilder sb = new StringBuilder(40);
        appendDate(sb, day);
        sb.append(' ');
        appendTime(sb, ofDay);
        if (utc) {
            sb.append("+00");
        }
        return bc(sb, day.getYear());
    }

    /**
     * interval: microseconds, days and months, each written with its own sign (under IntervalStyle sql_standard a
     * leading minus would otherwise apply to the fields after it).
     */
    static String interval(long micros, int days, int months) {
        return signed(months) + " months " + signed(days) + " days " + signed(micros) + " microseconds";
    }

    private static String signed(long v) {
        return v < 0 ? Long.toString(v) : "+" + v;
    }

    private static void appendDate(StringBuilder sb, LocalDate d) {
        int year = d.getYear();
        int shown = year > 0 ? year : 1 - year; // year 0 is 1 BC
        String y = Integer.toString(shown);
        sb.append("0".repeat(Math.max(0, 4 - y.length()))).append(y).append('-');
        two(sb, d.getMonthValue()).append('-');
        two(sb, d.getDayOfMonth());
    }

    private static void appendTime(StringBuilder sb, long micros) {
        long seconds = micros / MICROS_PER_SECOND;
        long fraction = micros % MICROS_PER_SECOND;
        two(sb, (int) (seconds / 3600)).append(':');
        two(sb, (int) (seconds / 60 % 60)).append(':');
        two(sb, (int) (seconds % 60));
        if (fraction != 0) {
            String f = Long.toString(fraction + MICROS_PER_SECOND).substring(1);
            int end = f.length();
            while (f.charAt(end - 1) == '0') {
                end--;
            }
            sb.append('.').append(f, 0, end);
        }
    }

    private static String bc(StringBuilder sb, int year) {
        return year > 0 ? sb.toString() : sb.append(" BC").toString();
    }

    private static StringBuilder two(StringBuilder sb, int v) {
        return sb.append((char) ('0' + v / 10)).append((char) ('0' + v % 10));
    }
}
