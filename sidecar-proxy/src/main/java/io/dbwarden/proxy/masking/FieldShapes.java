package io.dbwarden.proxy.masking;

import java.util.regex.Pattern;

/**
 * The text forms of the built-in types whose output has a fixed shape whatever the session's settings (DateStyle,
 * IntervalStyle and the like change dates and times; lc_monetary money): integers, floating-point and numeric values,
 * booleans and UUIDs, as the server writes them.
 */
final class FieldShapes {
    private static final Pattern INTEGER = Pattern.compile("-?[0-9]+");
    private static final Pattern DECIMAL = Pattern.compile(
            "[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?|NaN|-?Infinity");
    private static final Pattern UUID = Pattern.compile(
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private FieldShapes() {
    }

    /**
     * Whether {@code text} has the shape of type {@code typeOid}'s output; null for a type whose output shape is not
     * known here.
     */
    static Boolean fits(int typeOid, String text) {
        return switch (typeOid) {
            case 20, 21, 23, 26, 28, 29 -> INTEGER.matcher(text).matches(); // int8, int2, int4, oid, xid, cid
            case 700, 701, 1700 -> DECIMAL.matcher(text).matches();
            case 16 -> text.equals("t") || text.equals("f");
            case 2950 -> UUID.matcher(text).matches();
            default -> null;
        };
    }
}
