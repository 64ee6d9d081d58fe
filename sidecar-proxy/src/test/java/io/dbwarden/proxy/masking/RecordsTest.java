package io.dbwarden.proxy.masking;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RecordsTest {
    /** Masks fields holding "secret" (to "x,\"y\\" with a comma, quote and backslash) and nulls fields "drop". */
    private static final List<String> SEEN = new ArrayList<>();

    private static byte[] field(byte[] f, int type, int index) {
        String s = new String(f, StandardCharsets.UTF_8);
        SEEN.add(type + ":" + s);
        return s.equals("drop") ? null : s.contains("secret")
                ? s.replace("secret", "x,\"y\\").getBytes(StandardCharsets.UTF_8) : f;
    }

    private static String text(String record, int[] types) throws TextArrays.Unreadable {
        byte[] in = record.getBytes(StandardCharsets.UTF_8);
        byte[] out = Records.mask(in, types, RecordsTest::field);
        return out == in ? "same" : new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void textFieldsAreReadAsRecordInReadsThemAndMaskedOnesWrittenQuoted() throws Exception {
        SEEN.clear();
        assertThat(text("(1,,\"\",\"a \"\"b\"\" \\\\c\",pl\"ai\"n\\,x)", null)).isEqualTo("same");
        // NULL (nothing at all) is not asked about; an empty quoted string is; quotes and escapes decoded
        assertThat(SEEN).containsExactly("0:1", "0:", "0:a \"b\" \\c", "0:plain,x");
        assertThat(text("(1,\"my secret\",drop,secret)", new int[] {23, 25, 25, 25}))
                .isEqualTo("(1,\"my x,\"\"y\\\\\",,\"x,\"\"y\\\\\")");
        assertThat(SEEN.subList(4, 8)).containsExactly("23:1", "25:my secret", "25:drop", "25:secret");
    }

    @Test
    void unreadableTextRecordsAreRefused() {
        for (String bad : List.of("(1,\"x)", "(1,2", "(1)x", "(1,\\")) {
            assertThatThrownBy(() -> text(bad, null)).as(bad).isInstanceOf(TextArrays.Unreadable.class);
        }
        // another number of fields than the type has
        assertThatThrownBy(() -> text("(1,2)", new int[] {23})).isInstanceOf(TextArrays.Unreadable.class);
        assertThatThrownBy(() -> text("(1)", new int[] {23, 23})).isInstanceOf(TextArrays.Unreadable.class);
    }

    @Test
    void binaryFieldsCarryTheirTypesAndLengthsAreRewritten() throws Exception {
        SEEN.clear();
        byte[] secret = "a secret".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + 12 + 8 + secret.length + 8 + 4 + 8).putInt(4)
                .putInt(23).putInt(4).putInt(7)
                .putInt(25).putInt(secret.length).put(secret)
                .putInt(25).putInt(4).put("drop".getBytes(StandardCharsets.UTF_8))
                .putInt(25).putInt(-1);
        byte[] out = Records.mask(b.array(), null, RecordsTest::field);
        ByteBuffer o = ByteBuffer.wrap(out);
        assertThat(o.getInt()).isEqualTo(4);
        assertThat(o.getInt()).isEqualTo(23);
        assertThat(o.getInt()).isEqualTo(4);
        assertThat(o.getInt()).isEqualTo(7);
        assertThat(o.getInt()).isEqualTo(25);
        byte[] masked = new byte[o.getInt()];
        o.get(masked);
        assertThat(new String(masked, StandardCharsets.UTF_8)).isEqualTo("a x,\"y\\");
        assertThat(o.getInt()).isEqualTo(25);
        assertThat(o.getInt()).isEqualTo(-1); // nulled
        assertThat(o.getInt()).isEqualTo(25);
        assertThat(o.getInt()).isEqualTo(-1); // NULL stays NULL
        assertThat(o.hasRemaining()).isFalse();
        assertThat(SEEN).containsExactly("23:\u0000\u0000\u0000\u0007", "25:a secret", "25:drop");
        // nothing masked: the same instance; a length beyond the value: unreadable
        byte[] plain = ByteBuffer.allocate(4 + 8 + 1).putInt(1).putInt(25).putInt(1).put((byte) 'p').array();
        assertThat(Records.mask(plain, null, RecordsTest::field)).isSameAs(plain);
        byte[] cut = ByteBuffer.allocate(4 + 8).putInt(1).putInt(25).putInt(5).array();
        assertThatThrownBy(() -> Records.mask(cut, null, RecordsTest::field))
                .isInstanceOf(TextArrays.Unreadable.class);
    }
}
