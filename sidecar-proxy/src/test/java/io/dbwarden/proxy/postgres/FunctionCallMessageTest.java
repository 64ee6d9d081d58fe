package io.dbwarden.proxy.postgres;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Decoding of the FunctionCall message: OID and argument count, and its whole layout checked. */
@ExtendWith(LeakDetection.class)
class FunctionCallMessageTest {
    /** 'F', length, then {@code body}. */
    private static ByteBuf frame(Consumer<ByteBuf> body) {
        ByteBuf b = Unpooled.buffer().writeByte('F').writeInt(0);
        body.accept(b);
        return b.setInt(1, b.writerIndex() - 1);
    }

    @Test
    void readsTheOidAndTheNumberOfArguments() {
        // lo_open(oid, int4) as libpq sends it: one format code (binary) for both arguments, binary result
        ByteBuf f = frame(b -> b.writeInt(952).writeShort(1).writeShort(1).writeShort(2)
                .writeInt(4).writeInt(16_500).writeInt(4).writeInt(0x20000).writeShort(1));
        try {
            assertThat(PgMessages.functionCall(f)).isEqualTo(new PgMessages.FunctionCall(952, 2));
        } finally {
            f.release();
        }
        // per-argument format codes, a NULL argument, an OID above 2^31
        ByteBuf g = frame(b -> b.writeInt(0xFFFF_FFF0).writeShort(2).writeShort(0).writeShort(1).writeShort(2)
                .writeInt(-1).writeInt(3).writeBytes(new byte[] {'a', 'b', 'c'}).writeShort(0));
        try {
            PgMessages.FunctionCall call = PgMessages.functionCall(g);
            assertThat(Integer.toUnsignedString(call.functionOid())).isEqualTo("4294967280");
            assertThat(call.arguments()).isEqualTo(2);
        } finally {
            g.release();
        }
        ByteBuf none = frame(b -> b.writeInt(2286).writeShort(0).writeShort(0).writeShort(0));
        try {
            assertThat(PgMessages.functionCall(none).arguments()).isZero();
        } finally {
            none.release();
        }
    }

    @Test
    void malformedMessagesAreProtocolViolations() {
        assertMalformed(b -> b.writeInt(952), "too short");
        assertMalformed(b -> b.writeInt(952).writeShort(5).writeShort(1), "bad argument format count");
        assertMalformed(b -> b.writeInt(952).writeShort(2).writeShort(0).writeShort(0).writeShort(3)
                .writeInt(-1).writeInt(-1).writeInt(-1).writeShort(0), "bad argument count");
        assertMalformed(b -> b.writeInt(952).writeShort(0).writeShort(2).writeInt(-1), "argument 2 missing");
        assertMalformed(b -> b.writeInt(952).writeShort(0).writeShort(1).writeInt(100).writeInt(1).writeShort(0),
                "bad length of argument 1");
        assertMalformed(b -> b.writeInt(952).writeShort(0).writeShort(1).writeInt(-2).writeShort(0),
                "bad length of argument 1");
        assertMalformed(b -> b.writeInt(952).writeShort(0).writeShort(0), "bad result format");
        assertMalformed(b -> b.writeInt(952).writeShort(0).writeShort(0).writeShort(0).writeByte(9),
                "bad result format");
    }

    private static void assertMalformed(Consumer<ByteBuf> body, String message) {
        ByteBuf f = frame(body);
        try {
            assertThatThrownBy(() -> PgMessages.functionCall(f))
                    .isInstanceOfSatisfying(PgProtocolException.class,
                            e -> assertThat(e.sqlState()).isEqualTo(PgError.PROTOCOL_VIOLATION))
                    .hasMessageContaining(message);
        } finally {
            f.release();
        }
    }
}
