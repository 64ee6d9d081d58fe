package io.dbwarden.proxy.postgres;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/** The layout check of the server messages the proxy parses, both ways. */
@ExtendWith(LeakDetection.class)
class BackendMessageLayoutTest {
    private static boolean wellFormed(char type, Consumer<ByteBuf> body) {
        ByteBuf b = Unpooled.buffer().writeByte('x').writeByte(type).writeInt(0);
        body.accept(b);
        b.setInt(2, b.writerIndex() - 2);
        try {
            return PgMessages.wellFormedBackend(b, 1, b.writerIndex() - 1); // not at index 0: offsets are honoured
        } finally {
            b.release();
        }
    }

    private static Consumer<ByteBuf> text(String s) {
        return b -> b.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void acceptsWhatServersSend() {
        assertThat(wellFormed('Z', b -> b.writeByte('I'))).isTrue();
        assertThat(wellFormed('C', text("SELECT 1\0"))).isTrue();
        assertThat(wellFormed('E', text("SERROR\0C42000\0Mboom\0\0"))).isTrue();
        assertThat(wellFormed('N', text("\0"))).isTrue();
        assertThat(wellFormed('S', text("TimeZone\0UTC\0"))).isTrue();
        assertThat(wellFormed('T', b -> b.writeShort(2).writeBytes("a\0".getBytes(StandardCharsets.UTF_8))
                .writeZero(18).writeBytes("b\0".getBytes(StandardCharsets.UTF_8)).writeZero(18))).isTrue();
        assertThat(wellFormed('D', b -> b.writeShort(3).writeInt(2).writeShort(0x4142).writeInt(-1).writeInt(0)))
                .isTrue();
        assertThat(wellFormed('D', b -> b.writeShort(0))).isTrue();
        assertThat(wellFormed('V', b -> b.writeInt(4).writeInt(42))).isTrue();
        assertThat(wellFormed('V', b -> b.writeInt(-1))).isTrue();
        assertThat(wellFormed('H', b -> b.writeByte(0).writeShort(2).writeShort(0).writeShort(0))).isTrue();
        assertThat(wellFormed('1', b -> { })).isTrue();
        assertThat(wellFormed('A', text("whatever"))).as("types the proxy does not parse pass").isTrue();
    }

    @Test
    void refusesTruncatedOrOverlongLayouts() {
        assertThat(wellFormed('Z', b -> { })).isFalse();
        assertThat(wellFormed('Z', b -> b.writeByte('I').writeByte('I'))).isFalse();
        assertThat(wellFormed('C', text("SELECT 1"))).isFalse();
        assertThat(wellFormed('C', text("SELECT\0 1\0"))).isFalse();
        assertThat(wellFormed('E', text("SERROR\0C42000"))).isFalse();
        assertThat(wellFormed('E', text("SERROR\0"))).isFalse();
        assertThat(wellFormed('S', text("TimeZone\0"))).isFalse();
        assertThat(wellFormed('S', text("a\0b\0c\0"))).isFalse();
        assertThat(wellFormed('T', b -> b.writeShort(1).writeBytes("a\0".getBytes(StandardCharsets.UTF_8))
                .writeZero(17))).isFalse();
        assertThat(wellFormed('T', b -> b.writeShort(-1))).isFalse();
        assertThat(wellFormed('D', b -> b.writeShort(2).writeInt(2).writeShort(0x4142))).isFalse();
        assertThat(wellFormed('D', b -> b.writeShort(1).writeInt(100).writeInt(0))).isFalse();
        assertThat(wellFormed('D', b -> b.writeShort(1).writeInt(-2))).isFalse();
        assertThat(wellFormed('D', b -> b.writeShort(1).writeInt(1).writeByte(1).writeByte(2))).isFalse();
        assertThat(wellFormed('V', b -> b.writeInt(8).writeInt(42))).isFalse();
        assertThat(wellFormed('H', b -> b.writeByte(0).writeShort(2).writeShort(0))).isFalse();
        assertThat(wellFormed('2', b -> b.writeByte(0))).isFalse();
    }
}
