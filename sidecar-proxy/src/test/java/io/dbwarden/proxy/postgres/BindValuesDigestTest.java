package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The digest of a Bind's values: what an approval of a statement with bind parameters covers besides its text. */
class BindValuesDigestTest {
    /** 'B', length, portal, statement, then {@code rest}. */
    private static byte[] digest(String portal, String statement, Consumer<ByteBuf> rest) {
        return digest(portal, statement, rest, new byte[] {0, 0});
    }

    private static byte[] digest(String portal, String statement, Consumer<ByteBuf> rest, byte[] types) {
        ByteBuf b = Unpooled.buffer().writeByte('B').writeInt(0);
        b.writeCharSequence(portal, StandardCharsets.UTF_8);
        b.writeByte(0);
        b.writeCharSequence(statement, StandardCharsets.UTF_8);
        b.writeByte(0);
        rest.accept(b);
        b.setInt(1, b.writerIndex() - 1);
        try {
            return PgMessages.bindValuesDigest(b, types);
        } finally {
            b.release();
        }
    }

    /** No format codes (all text), the values, then the result format codes. */
    private static Consumer<ByteBuf> text(String value, int... resultFormats) {
        return b -> {
            b.writeShort(0).writeShort(2).writeInt(-1);
            b.writeInt(value.length()).writeCharSequence(value, StandardCharsets.UTF_8);
            b.writeShort(resultFormats.length);
            for (int f : resultFormats) {
                b.writeShort(f);
            }
        };
    }

    @Test
    void coversTheValuesNotTheNamesOrTheResultFormats() {
        byte[] seven = digest("p", "s", text("7"));
        assertThat(seven).hasSize(32);
        assertThat(digest("", "other", text("7", 1, 1))).as("names and result formats are not values")
                .isEqualTo(seven);
        assertThat(digest("p", "s", text("8"))).isNotEqualTo(seven);
        // the same value sent in binary is another Bind: another digest
        assertThat(digest("p", "s", b -> b.writeShort(1).writeShort(1).writeShort(2).writeInt(-1).writeInt(4)
                .writeInt(7).writeShort(0))).isNotEqualTo(seven);
        // the same bytes under other declared parameter types are other values
        Consumer<ByteBuf> eightBytes = b -> b.writeShort(1).writeShort(1).writeShort(1).writeInt(8).writeLong(100)
                .writeShort(0);
        byte[] int8 = digest("p", "s", eightBytes, parseTypes(20));
        assertThat(int8).isNotEqualTo(digest("p", "s", eightBytes, parseTypes(701)))
                .isNotEqualTo(digest("p", "s", eightBytes)).isEqualTo(digest("q", "s", eightBytes, parseTypes(20)));
        // a NULL is not an empty string
        assertThat(digest("p", "s", b -> b.writeShort(0).writeShort(1).writeInt(-1).writeShort(0)))
                .isNotEqualTo(digest("p", "s", b -> b.writeShort(0).writeShort(1).writeInt(0).writeShort(0)));
    }

    @Test
    void malformedBindsAreProtocolViolations() {
        assertThatThrownBy(() -> digest("p", "s", b -> b.writeShort(0))).isInstanceOf(PgProtocolException.class)
                .hasMessageContaining("parameter count");
        assertThatThrownBy(() -> digest("p", "s", b -> b.writeShort(0).writeShort(1).writeInt(10).writeByte('x')))
                .isInstanceOf(PgProtocolException.class).hasMessageContaining("longer than the message");
        assertThatThrownBy(() -> digest("p", "s", b -> b.writeShort(0).writeShort(1).writeInt(-2)))
                .isInstanceOf(PgProtocolException.class).hasMessageContaining("parameter length -2");
        assertThatThrownBy(() -> digest("p", "s", b -> b.writeShort(3).writeShort(0)))
                .isInstanceOf(PgProtocolException.class).hasMessageContaining("parameter count");
    }

    /** The parameter types of a Parse declaring these OIDs, as {@link PgMessages#parseParameterTypes} reads them. */
    private static byte[] parseTypes(int... oids) {
        ByteBuf b = Unpooled.buffer().writeByte('P').writeInt(0);
        b.writeCharSequence("s", StandardCharsets.UTF_8);
        b.writeByte(0);
        b.writeCharSequence("SELECT $1", StandardCharsets.UTF_8);
        b.writeByte(0);
        b.writeShort(oids.length);
        for (int oid : oids) {
            b.writeInt(oid);
        }
        b.setInt(1, b.writerIndex() - 1);
        try {
            return PgMessages.parseParameterTypes(b);
        } finally {
            b.release();
        }
    }

    @Test
    void parseParameterTypesAreReadAndChecked() {
        assertThat(parseTypes()).containsExactly(0, 0);
        assertThat(parseTypes(20, 0)).containsExactly(0, 2, 0, 0, 0, 20, 0, 0, 0, 0);
        ByteBuf b = Unpooled.buffer().writeByte('P').writeInt(0).writeByte(0);
        b.writeCharSequence("SELECT 1", StandardCharsets.UTF_8);
        b.writeByte(0);
        b.writeShort(2).writeInt(23);
        b.setInt(1, b.writerIndex() - 1);
        try {
            assertThatThrownBy(() -> PgMessages.parseParameterTypes(b)).isInstanceOf(PgProtocolException.class)
                    .hasMessageContaining("parameter types longer than the message");
        } finally {
            b.release();
        }
    }

    @Test
    void formatCodesApplyAsTheProtocolSays() {
        byte[] v = "1".getBytes(StandardCharsets.UTF_8);
        BoundValues none = io.dbwarden.proxy.testing.BoundValuesOf.values(new int[0], new short[0], v, v);
        assertThat(none.binary(0)).isFalse();
        assertThat(none.binary(1)).isFalse();
        BoundValues one = io.dbwarden.proxy.testing.BoundValuesOf.values(new int[0], new short[] {1}, v, v);
        assertThat(one.binary(0)).isTrue();
        assertThat(one.binary(1)).isTrue();
        BoundValues each = io.dbwarden.proxy.testing.BoundValuesOf.values(new int[0], new short[] {0, 1}, v, v);
        assertThat(each.binary(0)).isFalse();
        assertThat(each.binary(1)).isTrue();
        // fewer codes than values (the server refuses such a Bind): the value without a code is not read as text
        BoundValues fewer = io.dbwarden.proxy.testing.BoundValuesOf.values(new int[0], new short[] {0, 0}, v, v, v);
        assertThat(fewer.binary(1)).isFalse();
        assertThat(fewer.binary(2)).isTrue();
    }
}
