package io.dbwarden.proxy.approval;

import io.dbwarden.proxy.postgres.BoundValues;
import io.dbwarden.proxy.sql.SqlToken;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * A statement with bind parameters written with the values a Bind supplies as literals, so that the planner estimates
 * the rows it would change with exactly those values ({@code EXPLAIN} of a statement with {@code $1} cannot be
 * planned, and a generic plan's estimate would not be about these values). Only for the estimate on the proxy's side
 * connection; never logged.
 */
final class BoundLiterals {
    /** Declared parameter types written as casts; other types are left to the server, as unspecified ones are. */
    private static final Map<Integer, String> TYPE_NAMES = Map.ofEntries(Map.entry(16, "bool"), Map.entry(17, "bytea"),
            Map.entry(19, "name"), Map.entry(20, "int8"), Map.entry(21, "int2"), Map.entry(23, "int4"),
            Map.entry(25, "text"), Map.entry(26, "oid"), Map.entry(114, "json"), Map.entry(700, "float4"),
            Map.entry(701, "float8"), Map.entry(1042, "bpchar"), Map.entry(1043, "varchar"), Map.entry(1082, "date"),
            Map.entry(1083, "time"), Map.entry(1114, "timestamp"), Map.entry(1184, "timestamptz"),
            Map.entry(1186, "interval"), Map.entry(1700, "numeric"), Map.entry(2950, "uuid"),
            Map.entry(3802, "jsonb"));

    private BoundLiterals() {
    }

    /**
     * {@code text} with each {@code $n} among {@code tokens} replaced by the literal of the value bound to it; null
     * when a value cannot be written as one (a binary value of a type not decoded here, a parameter without a value,
     * a value the text format cannot carry).
     */
    static String substituted(String text, List<SqlToken> tokens, BoundValues values) {
        StringBuilder sb = new StringBuilder(text.length() + 32);
        int from = 0;
        for (SqlToken t : tokens) {
            if (t.kind() != SqlToken.Kind.PARAM) {
                continue;
            }
            int n;
            try {
                n = Integer.parseInt(text.substring(t.start() + 1, t.end()));
            } catch (NumberFormatException e) {
                return null;
            }
            if (n < 1 || n > values.count()) {
                return null;
            }
            String literal = literal(values, n - 1);
            if (literal == null) {
                return null;
            }
            sb.append(text, from, t.start()).append(literal);
            from = t.end();
        }
        return sb.append(text, from, text.length()).toString();
    }

    /**
     * One value as a parenthesised literal, cast to its declared type when that is one of {@link #TYPE_NAMES}: quoted
     * with doubled quotes (the estimate query turns standard_conforming_strings on, so a backslash is a backslash).
     */
    static String literal(BoundValues values, int i) {
        byte[] v = values.value(i);
        int type = values.type(i);
        String text;
        if (v == null) {
            text = null;
        } else if (!values.binary(i)) {
            text = new String(v, StandardCharsets.UTF_8);
        } else {
            text = fromBinary(type, v);
            if (text == null) {
                return null;
            }
        }
        if (text != null && text.indexOf('\0') >= 0) {
            return null;
        }
        String literal = text == null ? "NULL" : "'" + text.replace("'", "''") + "'";
        String cast = TYPE_NAMES.get(type);
        return "(" + literal + (cast == null ? "" : "::pg_catalog." + cast) + ")";
    }

    /** The text form of a binary value of the types decoded here; null for others and for malformed values. */
    static String fromBinary(int type, byte[] v) {
        ByteBuffer b = ByteBuffer.wrap(v);
        return switch (type) {
            case 16 -> v.length == 1 ? (v[0] != 0 ? "t" : "f") : null;
            case 21 -> v.length == 2 ? Short.toString(b.getShort()) : null;
            case 23 -> v.length == 4 ? Integer.toString(b.getInt()) : null;
            case 26 -> v.length == 4 ? Integer.toUnsignedString(b.getInt()) : null;
            case 20 -> v.length == 8 ? Long.toString(b.getLong()) : null;
            case 700 -> v.length == 4 ? floatText(b.getFloat()) : null;
            case 701 -> v.length == 8 ? floatText(b.getDouble()) : null;
            case 25, 1042, 1043, 19, 114 -> new String(v, StandardCharsets.UTF_8);
            case 3802 -> v.length > 0 && v[0] == 1 ? new String(v, 1, v.length - 1, StandardCharsets.UTF_8) : null;
            case 2950 -> v.length == 16 ? new UUID(b.getLong(), b.getLong()).toString() : null;
            case 17 -> byteaText(v);
            case 1700 -> PgBinary.numeric(b);
            case 1082 -> v.length == 4 ? PgBinary.date(b.getInt()) : null;
            case 1083 -> v.length == 8 ? PgBinary.time(b.getLong()) : null;
            case 1114 -> v.length == 8 ? PgBinary.timestamp(b.getLong(), false) : null;
            case 1184 -> v.length == 8 ? PgBinary.timestamp(b.getLong(), true) : null;
            case 1186 -> v.length == 16 ? PgBinary.interval(b.getLong(), b.getInt(), b.getInt()) : null;
            default -> null;
        };
    }

    /** bytea in its hex text form (read as such with standard_conforming_strings on). */
    private static String byteaText(byte[] v) {
        StringBuilder sb = new StringBuilder(2 + 2 * v.length).append("\\x");
        for (byte x : v) {
            sb.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return sb.toString();
    }

    private static String floatText(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        return Double.toString(d);
    }
}
