package io.dbwarden.proxy.masking;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class BinaryCopyTest {
    private static final byte[] SIGNATURE = "PGCOPY\n\u00ff\r\n\0".getBytes(StandardCharsets.ISO_8859_1);

    /** A stream of {@code rows} tuples of (int4, text, NULL), with a header extension of {@code extension} bytes. */
    private static byte[] stream(int rows, int extension, String prefix) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(SIGNATURE);
        out.writeBytes(ByteBuffer.allocate(8).putInt(0).putInt(extension).array());
        out.writeBytes(new byte[extension]);
        for (int i = 0; i < rows; i++) {
            byte[] text = (prefix + i).getBytes(StandardCharsets.UTF_8);
            out.writeBytes(ByteBuffer.allocate(2 + 8 + 4 + text.length + 4).putShort((short) 3).putInt(4).putInt(i)
                    .putInt(text.length).put(text).putInt(-1).array());
        }
        out.writeBytes(new byte[] {-1, -1});
        return out.toByteArray();
    }

    /** Column 1 upper-cased (a ligature becomes two letters, fewer bytes), the others as they are. */
    private static byte[] mask(int column, byte[] value) {
        return column == 1 ? new String(value, StandardCharsets.UTF_8).toUpperCase().getBytes(StandardCharsets.UTF_8)
                : value;
    }

    private static byte[] feedInPieces(BinaryCopy copy, byte[] in, Random random) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = 0;
        while (at < in.length) {
            int n = Math.min(in.length - at, random.nextInt(40));
            out.writeBytes(copy.feed(Arrays.copyOfRange(in, at, at + n)));
            at += n;
        }
        return out.toByteArray();
    }

    @Test
    void tuplesSplitAnywhereAcrossMessagesAreMaskedWhole() {
        Random random = new Random(42);
        byte[] expected = stream(50, 3, "STRAFFE ");
        for (int round = 0; round < 200; round++) {
            BinaryCopy copy = new BinaryCopy(3, BinaryCopyTest::mask);
            assertThat(feedInPieces(copy, stream(50, 3, "stra\ufb00e "), random)).isEqualTo(expected);
            assertThat(copy.broken()).isFalse();
        }
        // one message holding all of it, and an empty stream
        assertThat(new BinaryCopy(3, BinaryCopyTest::mask).feed(stream(50, 0, "stra\ufb00e ")))
                .isEqualTo(stream(50, 0, "STRAFFE "));
        assertThat(new BinaryCopy(3, BinaryCopyTest::mask).feed(stream(0, 0, ""))).isEqualTo(stream(0, 0, ""));
    }

    @Test
    void whatCannotBeReadIsCutOffWhereItStops() {
        byte[] good = stream(2, 0, "v");
        int firstTuple = 19;
        int secondTuple = firstTuple + 2 + 8 + 4 + 2 + 4;
        // another signature, a header with OIDs: nothing at all
        byte[] wrong = good.clone();
        wrong[0] = 'X';
        BinaryCopy copy = new BinaryCopy(3, BinaryCopyTest::mask);
        assertThat(copy.feed(wrong)).isEmpty();
        assertThat(copy.broken()).isTrue();
        assertThat(copy.feed(good)).isEmpty();
        byte[] oids = good.clone();
        oids[12] = 1;
        assertThat(new BinaryCopy(3, BinaryCopyTest::mask).feed(oids)).isEmpty();
        // a tuple of another width: the header and the tuples before it, then nothing
        byte[] narrow = good.clone();
        narrow[secondTuple + 1] = 2;
        assertThat(new BinaryCopy(3, BinaryCopyTest::mask).feed(narrow))
                .isEqualTo(Arrays.copyOf(stream(2, 0, "V"), secondTuple));
        // a negative length other than NULL's
        byte[] negative = good.clone();
        ByteBuffer.wrap(negative).putInt(firstTuple + 2, -7);
        assertThat(new BinaryCopy(3, BinaryCopyTest::mask).feed(negative)).isEqualTo(Arrays.copyOf(good, firstTuple));
        // bytes after the trailer: what came before is passed on, the stream is marked broken
        byte[] trailing = Arrays.copyOf(good, good.length + 1);
        BinaryCopy after = new BinaryCopy(3, BinaryCopyTest::mask);
        assertThat(after.feed(trailing)).isEqualTo(stream(2, 0, "V"));
        assertThat(after.broken()).isTrue();
    }
}
