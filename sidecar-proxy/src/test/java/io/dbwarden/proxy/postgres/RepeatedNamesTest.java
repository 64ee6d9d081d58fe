package io.dbwarden.proxy.postgres;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@ExtendWith(LeakDetection.class)
class RepeatedNamesTest {
    private static final Charset LATIN1 = StandardCharsets.ISO_8859_1;

    private final RepeatedNames<PgMessages.Parse> parses = new RepeatedNames<>(PgMessages.Parse::new);

    @Test
    void aRepeatedParseIsTheSameResultAndADifferentOneIsDecoded() {
        PgMessages.Parse first = decode(parses, parse("", "SELECT abalance FROM t WHERE aid = $1"));
        assertThat(first).isEqualTo(new PgMessages.Parse("", "SELECT abalance FROM t WHERE aid = $1"));
        PgMessages.Parse again = decode(parses, parse("", "SELECT abalance FROM t WHERE aid = $1"));
        assertThat(again).isSameAs(first);
        assertThat(decode(parses, parse("s1", "SELECT abalance FROM t WHERE aid = $1")))
                .isEqualTo(new PgMessages.Parse("s1", "SELECT abalance FROM t WHERE aid = $1"));
        assertThat(decode(parses, parse("s1", "SELECT abalance FROM t WHERE aid = $2")))
                .isEqualTo(new PgMessages.Parse("s1", "SELECT abalance FROM t WHERE aid = $2"));
    }

    @Test
    void theSameBytesInAnotherEncodingAreDecodedAgain() {
        byte[] sql = "SELECT 'é'".getBytes(StandardCharsets.UTF_8);
        PgMessages.Parse utf8 = decode(parses, frame('P', new byte[0], sql), StandardCharsets.UTF_8);
        PgMessages.Parse latin1 = decode(parses, frame('P', new byte[0], sql), LATIN1);
        assertThat(utf8.sql()).isEqualTo("SELECT 'é'");
        assertThat(latin1.sql()).isEqualTo("SELECT 'Ã©'");
        assertThat(decode(parses, frame('P', new byte[0], sql), LATIN1)).isSameAs(latin1);
    }

    @Test
    void longOpeningsAreDecodedEveryTimeAndNotKept() {
        String big = "SELECT " + "x".repeat(RepeatedNames.LIMIT);
        PgMessages.Parse small = decode(parses, parse("", "SELECT 1"));
        PgMessages.Parse long1 = decode(parses, parse("", big));
        PgMessages.Parse long2 = decode(parses, parse("", big));
        assertThat(long1.sql()).isEqualTo(big);
        assertThat(long2).isEqualTo(long1).isNotSameAs(long1);
        assertThat(decode(parses, parse("", "SELECT 1"))).isSameAs(small); // the long ones did not replace it
    }

    @Test
    void aBindsNamesAreReadBeforeItsParameters() {
        RepeatedNames<PgMessages.Bind> binds = new RepeatedNames<>(PgMessages.Bind::new);
        byte[] parameters = {0, 0, 0, 1, 0, 0, 0, 1, '7', 0, 0};
        PgMessages.Bind first = decode(binds, frame('B', "".getBytes(StandardCharsets.UTF_8), "P0_1".getBytes(
                StandardCharsets.UTF_8), parameters));
        assertThat(first).isEqualTo(new PgMessages.Bind("", "P0_1"));
        parameters[8] = '8'; // other values, the same names
        assertThat(decode(binds, frame('B', new byte[0], "P0_1".getBytes(StandardCharsets.UTF_8), parameters)))
                .isSameAs(first);
    }

    @Test
    void aMissingTerminatorIsAProtocolError() {
        ByteBuf frame = Unpooled.buffer();
        frame.writeByte('P').writeInt(4 + 3).writeBytes(new byte[] {0, 'a', 'b'});
        try {
            assertThatThrownBy(() -> parses.decode(frame, StandardCharsets.UTF_8))
                    .isInstanceOf(PgProtocolException.class).hasMessageContaining("missing terminator");
        } finally {
            frame.release();
        }
    }

    /** Random runs of repeated and new messages of all lengths around the limit, inside larger buffers. */
    @Test
    void anyRunOfMessagesDecodesAsTheBytesSay() {
        Random random = new Random(20261203);
        List<byte[][]> pool = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            pool.add(new byte[][] {bytes(random, random.nextInt(4) == 0 ? 0 : random.nextInt(20)),
                    bytes(random, random.nextInt(3) == 0 ? random.nextInt(2 * RepeatedNames.LIMIT)
                            : random.nextInt(200))});
        }
        for (int i = 0; i < 5_000; i++) {
            byte[][] m = pool.get(random.nextInt(random.nextBoolean() ? 3 : pool.size()));
            Charset charset = random.nextInt(10) == 0 ? LATIN1 : StandardCharsets.UTF_8;
            ByteBuf outer = Unpooled.directBuffer();
            int prefix = random.nextInt(8);
            outer.writeZero(prefix);
            ByteBuf frame = frame('P', m[0], m[1]);
            outer.writeBytes(frame);
            frame.release();
            try {
                PgMessages.Parse p = parses.decode(outer.slice(prefix, outer.readableBytes() - prefix), charset);
                assertThat(p.statementName()).isEqualTo(new String(m[0], charset));
                assertThat(p.sql()).isEqualTo(new String(m[1], charset));
            } finally {
                outer.release();
            }
        }
    }

    private static byte[] bytes(Random random, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (random.nextInt(3) == 0 ? 0x80 + random.nextInt(0x7f) : 'a' + random.nextInt(26));
        }
        return b;
    }

    private static <T> T decode(RepeatedNames<T> names, ByteBuf frame) {
        return decode(names, frame, StandardCharsets.UTF_8);
    }

    private static <T> T decode(RepeatedNames<T> names, ByteBuf frame, Charset charset) {
        try {
            return names.decode(frame, charset);
        } finally {
            frame.release();
        }
    }

    private static ByteBuf parse(String name, String sql) {
        return frame('P', name.getBytes(StandardCharsets.UTF_8), sql.getBytes(StandardCharsets.UTF_8), new byte[2]);
    }

    /** A frontend message: type, length, two NUL-terminated strings, then {@code rest}. */
    private static ByteBuf frame(char type, byte[] first, byte[] second, byte[]... rest) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(first);
        body.write(0);
        body.writeBytes(second);
        body.write(0);
        for (byte[] r : rest) {
            body.writeBytes(r);
        }
        ByteBuf frame = Unpooled.directBuffer();
        frame.writeByte(type).writeInt(4 + body.size()).writeBytes(body.toByteArray());
        return frame;
    }
}
