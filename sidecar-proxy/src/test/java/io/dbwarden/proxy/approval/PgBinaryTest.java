package io.dbwarden.proxy.approval;

import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The binary forms of numeric, date, time, timestamp, timestamptz, interval and bytea values, as PostgreSQL itself
 * writes them ({@code numeric_send} and the others), read back into text that the server reads as the very same
 * value: the text of the decoded literal cast to the type equals the text of the original, in a session whose
 * DateStyle and TimeZone are not the defaults (so the literals cannot depend on them).
 */
class PgBinaryTest {
    private static final EmbeddedPg PG = EmbeddedPg.get();
    private static final long SEED = Long.getLong("dbwarden.fuzz.seed", 20261204L);

    @Test
    void numericsOfEveryShape() throws Exception {
        List<String> values = new ArrayList<>(List.of("0", "0.000", "-0.5", "1", "-1", "10000", "9999.9999",
                "0.00000001", "-123456789012345678901234567890.123456789", "1e100", "1e-100", "'NaN'",
                "'Infinity'", "'-Infinity'", "100000000", "0.1000", "12345.678900", "100000000.00000001",
                "-0.00010000", "0.00001", "(1::numeric / 3)", "(2::numeric ^ 300)",
                // the largest there are: all the digits before the point, all the scale after it
                "repeat('9', 131072)", "('-0.' || repeat('1', 16382) || '7')"));
        Random random = new Random(SEED);
        for (int i = 0; i < 200; i++) {
            BigInteger unscaled = new BigInteger(1 + random.nextInt(200), random);
            BigDecimal d = new BigDecimal(random.nextBoolean() ? unscaled : unscaled.negate(),
                    random.nextInt(60) - 20);
            values.add(d.toString().replace("E+", "e").replace("E", "e"));
        }
        roundTrip("numeric", 1700, values);
    }

    @Test
    void datesTimesTimestampsAndIntervals() throws Exception {
        Random random = new Random(SEED);
        List<String> dates = new ArrayList<>(List.of("'2000-01-01'", "'1999-12-31'", "'0044-03-15 BC'",
                "'0001-01-01'", "'0001-12-31 BC'", "'4713-01-01 BC'", "'5874897-12-31'", "'infinity'", "'-infinity'",
                "'1582-10-10'", "'2024-02-29'"));
        for (int i = 0; i < 100; i++) {
            dates.add("(date '2000-01-01' + " + (random.nextInt(2 * 2_000_000) - 2_000_000) + ")");
        }
        roundTrip("date", 1082, dates);

        List<String> times = new ArrayList<>(List.of("'00:00'", "'24:00:00'", "'23:59:59.999999'", "'12:00:00.5'",
                "'01:02:03.000001'"));
        for (int i = 0; i < 50; i++) {
            times.add("(time '00:00' + interval '" + random.nextLong(86_400_000_000L) + " microseconds')");
        }
        roundTrip("time", 1083, times);

        List<String> stamps = new ArrayList<>(List.of("'2000-01-01 00:00'", "'1999-12-31 23:59:59.999999'",
                "'0044-03-15 12:00:00 BC'", "'294276-12-31 23:59:59'", "'4713-01-01 00:00 BC'", "'infinity'",
                "'-infinity'", "'2024-06-01 10:11:12.1'"));
        for (int i = 0; i < 100; i++) {
            stamps.add("(timestamp '2000-01-01' + interval '" + (random.nextLong(400_000_000_000_000_000L)
                    - 200_000_000_000_000_000L) + " microseconds')");
        }
        roundTrip("timestamp", 1114, stamps);
        List<String> zoned = new ArrayList<>(List.of("'2024-03-31 02:30:00+02'", "'0044-03-15 12:00:00+00 BC'",
                "'infinity'", "'-infinity'", "'2000-01-01 00:00:00.000001-11:30'"));
        zoned.addAll(stamps.subList(8, 60));
        roundTrip("timestamptz", 1184, zoned);

        List<String> intervals = new ArrayList<>(List.of("'0'", "'1 mon'", "'-1 mon 2 days -00:00:00.000001'",
                "'178000000 years'", "'1 day 25:00:00'", "'-3 days'"));
        for (int i = 0; i < 50; i++) {
            intervals.add("(interval '" + (random.nextInt(2000) - 1000) + " months' + interval '"
                    + (random.nextInt(20000) - 10000) + " days' + interval '"
                    + (random.nextLong(2_000_000_000_000L) - 1_000_000_000_000L) + " microseconds')");
        }
        roundTrip("interval", 1186, intervals);
    }

    @Test
    void byteaOfEveryByte() throws Exception {
        roundTrip("bytea", "byteasend", 17, List.of("''::bytea", "'\\x00ff7f80'::bytea",
                "(SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') FROM generate_series(0, 255) g)",
                "convert_to('it''s \\ a quote', 'UTF8')"));
    }

    @Test
    void malformedValuesAreNotGuessedAt() {
        // numeric: a digit count the length does not hold, a digit of 10000, a sign that is none, NaN with digits
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 2, 0, 0, 0, 0, 0, 0, 0, 1})).isNull();
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10})).isNull();
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 1, 0, 0, 0x12, 0, 0, 0, 0, 1})).isNull();
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 1, 0, 0, (byte) 0xC0, 0, 0, 0, 0, 1})).isNull();
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 0, 0})).isNull();
        // digits beyond the display scale: 1.5 said to have no decimals
        assertThat(BoundLiterals.fromBinary(1700, new byte[] {0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0x13, (byte) 0x88}))
                .isNull();
        // wrong lengths; a time past 24:00
        assertThat(BoundLiterals.fromBinary(1082, new byte[3])).isNull();
        assertThat(BoundLiterals.fromBinary(1114, new byte[4])).isNull();
        assertThat(BoundLiterals.fromBinary(1186, new byte[12])).isNull();
        assertThat(BoundLiterals.fromBinary(1083, java.nio.ByteBuffer.allocate(8).putLong(86_400_000_001L).array()))
                .isNull();
    }

    /**
     * Each expression's binary form from the server, decoded here, cast back to the type by the server: its text
     * must equal the original's.
     */
    private static void roundTrip(String type, int oid, List<String> expressions) throws SQLException {
        roundTrip(type, type + "_send", oid, expressions);
    }

    private static void roundTrip(String type, String send, int oid, List<String> expressions)
            throws SQLException {
        try (Connection c = PG.direct("postgres"); Statement s = c.createStatement();
             PreparedStatement same = c.prepareStatement("SELECT (?::" + type + ")::text")) {
            s.execute("SET DateStyle = 'ISO, DMY'");
            s.execute("SET TimeZone = 'America/St_Johns'");
            s.execute("SET IntervalStyle = 'sql_standard'");
            for (String expression : expressions) {
                String original;
                byte[] binary;
                try (ResultSet rs = s.executeQuery("SELECT x::text, " + send + "(x) FROM (SELECT (" + expression
                        + ")::" + type + " AS x) v")) {
                    assertThat(rs.next()).isTrue();
                    original = rs.getString(1);
                    binary = rs.getBytes(2);
                }
                String decoded = BoundLiterals.fromBinary(oid, binary);
                assertThat(decoded).as("%s %s", type, expression).isNotNull();
                same.setString(1, decoded);
                try (ResultSet rs = same.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getString(1)).as("%s %s read back from %s", type, expression, decoded)
                            .isEqualTo(original);
                }
            }
        }
    }
}
