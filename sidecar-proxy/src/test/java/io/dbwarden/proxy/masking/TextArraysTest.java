package io.dbwarden.proxy.masking;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Element-wise masking of text arrays in both result formats. */
class TextArraysTest {
    /** Masks elements holding "secret"; "gone" becomes NULL; anything else is left (the same instance). */
    private static final UnaryOperator<String> DETECT = e -> e.equals("gone") ? null
            : e.contains("secret") ? e.replace("secret", "***") : e;

    private static String text(String array) throws TextArrays.Unreadable {
        byte[] in = array.getBytes(StandardCharsets.UTF_8);
        byte[] out = TextArrays.mask(in, DETECT);
        return out == in ? "unchanged" : new String(out, StandardCharsets.UTF_8);
    }

    @Test
    void textFormatKeepsTheShapeAndQuotesWhatItReplaces() throws Exception {
        assertThat(text("{a,b}")).isEqualTo("unchanged");
        assertThat(text("{}")).isEqualTo("unchanged");
        assertThat(text("{my-secret,b,NULL,null}")).isEqualTo("{\"my-***\",b,NULL,null}");
        // quoted elements with escapes are read as the server wrote them, and written back escaped
        assertThat(text("{\"a \\\"secret\\\" \\\\ here\",\"x,y\"}")).isEqualTo("{\"a \\\"***\\\" \\\\ here\",\"x,y\"}");
        // several dimensions, and the bounds decoration of arrays not starting at 1
        assertThat(text("{{secret,b},{c,gone}}")).isEqualTo("{{\"***\",b},{c,NULL}}");
        assertThat(text("[0:1]={secret,b}")).isEqualTo("[0:1]={\"***\",b}");
        // a quoted "NULL" is text, not NULL
        assertThat(text("{\"NULL\"}")).isEqualTo("unchanged");
    }

    @Test
    void textThatIsNotAnArrayIsUnreadable() {
        for (String bad : List.of("{a", "a}", "{a}}", "{\"a}", "{a\"b}", "[1:2]{a}", "{a}b", "x", "{\"a\\")) {
            assertThatThrownBy(() -> text(bad)).as(bad).isInstanceOf(TextArrays.Unreadable.class);
        }
    }

    /** array_send's layout: ndim, has-null flag, element type, (size, lower bound) per dimension, elements. */
    private static byte[] binary(int[] dims, String... elements) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(b);
        out.writeInt(dims.length);
        out.writeInt(java.util.Arrays.asList(elements).contains(null) ? 1 : 0);
        out.writeInt(25);
        for (int d : dims) {
            out.writeInt(d);
            out.writeInt(1);
        }
        for (String e : elements) {
            if (e == null) {
                out.writeInt(-1);
            } else {
                byte[] bytes = e.getBytes(StandardCharsets.UTF_8);
                out.writeInt(bytes.length);
                out.write(bytes);
            }
        }
        return b.toByteArray();
    }

    private static List<String> elementsOf(byte[] array) {
        ByteBuffer in = ByteBuffer.wrap(array);
        int dims = in.getInt();
        in.getInt();
        in.getInt();
        int n = dims == 0 ? 0 : 1;
        for (int d = 0; d < dims; d++) {
            n *= in.getInt();
            in.getInt();
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int len = in.getInt();
            if (len < 0) {
                out.add(null);
            } else {
                out.add(new String(array, in.position(), len, StandardCharsets.UTF_8));
                in.position(in.position() + len);
            }
        }
        assertThat(in.hasRemaining()).isFalse();
        return out;
    }

    @Test
    void binaryFormatKeepsTheShapeAndFlagsNulls() throws Exception {
        byte[] plain = binary(new int[] {2}, "a", "b");
        assertThat(TextArrays.mask(plain, DETECT)).isSameAs(plain);
        byte[] empty = binary(new int[0]);
        assertThat(TextArrays.mask(empty, DETECT)).isSameAs(empty);

        byte[] masked = TextArrays.mask(binary(new int[] {2, 2}, "top-secret", null, "gone", "d"), DETECT);
        assertThat(elementsOf(masked)).containsExactly("top-***", null, null, "d");
        assertThat(ByteBuffer.wrap(masked).getInt(4)).as("has-null flag").isEqualTo(1);
        assertThat(ByteBuffer.wrap(masked).getInt(12)).as("first dimension").isEqualTo(2);

        byte[] noNullBefore = TextArrays.mask(binary(new int[] {1}, "gone"), DETECT);
        assertThat(elementsOf(noNullBefore)).containsExactly((String) null);
        assertThat(ByteBuffer.wrap(noNullBefore).getInt(4)).isEqualTo(1);
    }

    @Test
    void binaryThatIsNotAnArrayIsUnreadable() throws Exception {
        byte[] ok = binary(new int[] {2}, "a", "secret");
        List<byte[]> bad = List.of(new byte[] {0, 0, 0}, java.util.Arrays.copyOf(ok, ok.length - 1),
                java.util.Arrays.copyOf(ok, ok.length + 1), binary(new int[] {3}, "a", "b"),
                binary(new int[] {1, 1, 1, 1, 1, 1, 1}, "a"), binary(new int[] {-1}));
        for (byte[] b : bad) {
            assertThatThrownBy(() -> TextArrays.mask(b, DETECT)).isInstanceOf(TextArrays.Unreadable.class);
        }
        assertThatThrownBy(() -> TextArrays.mask(new byte[0], DETECT)).isInstanceOf(TextArrays.Unreadable.class);
    }
}
