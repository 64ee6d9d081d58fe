package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.testing.EmbeddedPg;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The shapes are those of the server's own output, under each extra_float_digits a client may set. */
class FieldShapesTest {
    @Test
    void theServersOutputHasTheShapeOfItsType() throws Exception {
        List<String> queries = List.of(
                "SELECT 20, x::int8::text FROM unnest(ARRAY[0, -1, 9223372036854775807, -9223372036854775808]) x",
                "SELECT 21, x::int2::text FROM unnest(ARRAY[0, -32768, 32767]) x",
                "SELECT 23, x::text FROM unnest(ARRAY[0, -2147483648, 2147483647]) x",
                "SELECT 26, x::oid::text FROM unnest(ARRAY[0, 4294967295]) x",
                "SELECT 700, x::float4::text FROM unnest(ARRAY['1.5e30', '-0', '0.1', 'NaN', 'Infinity', '-Infinity',"
                        + " '1e-40', '123456789']::float8[]) x",
                "SELECT 701, x::text FROM unnest(ARRAY['1.5e300', '-0', '0.1', 'NaN', '-Infinity', '5e-324',"
                        + " '1e21', '1e-7', '100']::float8[]) x",
                "SELECT 1700, x::text FROM unnest(ARRAY['0', '-0.000', '1e100', '-1.5', 'NaN', 'Infinity',"
                        + " '-Infinity', '.5']::numeric[]) x",
                "SELECT 16, textin(boolout(x)) FROM unnest(ARRAY[true, false]) x", // as in a row, not the cast
                "SELECT 2950, gen_random_uuid()::text");
        try (Connection c = EmbeddedPg.get().direct("postgres"); Statement s = c.createStatement()) {
            for (int digits : new int[] {-15, 0, 1, 3}) {
                s.execute("SET extra_float_digits = " + digits);
                for (String q : queries) {
                    try (ResultSet rs = s.executeQuery(q)) {
                        while (rs.next()) {
                            assertThat(FieldShapes.fits(rs.getInt(1), rs.getString(2)))
                                    .as("type %d %s (extra_float_digits %d)", rs.getInt(1), rs.getString(2), digits)
                                    .isTrue();
                        }
                    }
                }
            }
        }
    }

    @Test
    void textThatIsNotOfTheTypeDoesNotFit() {
        for (int type : new int[] {20, 21, 23, 26, 700, 701, 1700, 16, 2950}) {
            for (String text : List.of("ann@example.com", "", "1 2", "sk_live_0123456789abcdef", "t f", "0x10")) {
                assertThat(FieldShapes.fits(type, text)).as("type %d %s", type, text).isFalse();
            }
        }
        assertThat(FieldShapes.fits(1082, "2024-01-02")).isNull();
    }
}
