package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.MaskStrategy;
import io.dbwarden.api.v1alpha1.MaskingAction;
import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;

class JsonMaskingTest {
    private static Masker masker(MaskStrategy s) {
        MaskingAction a = new MaskingAction();
        a.setStrategy(s);
        return Masker.of(a, null, "k".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static final Masker PARTIAL = masker(MaskStrategy.PARTIAL);
    private static final Masker NULLS = masker(MaskStrategy.NULL);

    @Test
    void membersMasksOnlyTheNamedMembersAndKeepsEverythingElseAsWritten() {
        String row = "{\"id\": 12345678901234567890123, \"price\": 1.50e3, \"ok\": true, "
                + "\"email\": \"ada@example.com\", "
                + "\"tags\": [\"a\", null], \"secret\": {\"k\": [1, \"x\"]}, \"gone\": {\"deep\": \"v\"}}";
        String out = JsonMasking.members(row, key -> switch (key) {
            case "email", "secret" -> PARTIAL;
            case "gone" -> NULLS;
            default -> null;
        }, UnaryOperator.identity(), Set.of()::contains);
        assertThat(out).isEqualTo("{\"id\":12345678901234567890123,\"price\":1.50e3,\"ok\":true,"
                + "\"email\":\"a***@example.com\",\"tags\":[\"a\",null],\"secret\":{\"*\":[\"*\",\"*\"]},"
                + "\"gone\":null}");
    }

    @Test
    void membersRedactsValuesThatBelongToNoColumnAndPassesKeptStringsThroughTheDetectors() {
        assertThat(JsonMasking.members("\"ada@example.com\"", key -> null, UnaryOperator.identity(), k -> false))
                .isEqualTo("\"[redacted]\"");
        assertThat(JsonMasking.members("[1, {\"a\": \"card 4242\"}]", key -> null, v -> v.replace("4242", "****"),
                k -> false)).isEqualTo("[\"[redacted]\",{\"a\":\"card ****\"}]");
        assertThat(JsonMasking.members("{\"a\": \"x\"}", key -> null, v -> null, k -> false))
                .isEqualTo("{\"a\":null}");
    }

    @Test
    void everythingMasksValuesAndTheKeysTheStatementDoesNotSpellOut() {
        assertThat(JsonMasking.everything("{\"contact\": \"ada@example.com\", \"bob@example.org\": 7, \"n\": null}",
                PARTIAL, Set.of("contact")::contains))
                .isEqualTo("{\"contact\":\"a***@example.com\",\"b***@example.org\":\"*\",\"*\":null}");
        assertThat(JsonMasking.everything("[true, \"x\"]", null, k -> true))
                .isEqualTo("[\"[redacted]\",\"[redacted]\"]");
        // a number becomes the masker's form of its text
        assertThat(JsonMasking.everything("42", PARTIAL, k -> true)).isEqualTo("\"4*\"");
    }

    /**
     * Masking must not make two members of one object share a name: a client reading the object into a map would
     * keep only the last. Each object has its own names; kept names stay as they are, masked ones are numbered.
     */
    @Test
    void maskedKeysStayDistinctWithinTheirObject() {
        assertThat(JsonMasking.everything("{\"a\": 1, \"b\": 2, \"c\": {\"d\": 3, \"e\": 4}, \"f\": 5}", PARTIAL,
                k -> false)).isEqualTo("{\"*\":\"*\",\"*#2\":\"*\",\"*#3\":{\"*\":\"*\",\"*#2\":\"*\"},\"*#4\":\"*\"}");
        // a kept key already named like the masked one; a masked key that is the next number's name
        assertThat(JsonMasking.everything("{\"*\": 1, \"*#2\": 2, \"a\": 3}", PARTIAL, Set.of("*", "*#2")::contains))
                .isEqualTo("{\"*\":\"*\",\"*#2\":\"*\",\"*#3\":\"*\"}");
        // members of a column's subtree
        assertThat(JsonMasking.members("{\"secret\": {\"x\": 1, \"y\": 2}, \"z\": 3}",
                key -> key.equals("secret") ? PARTIAL : null, UnaryOperator.identity(), k -> false))
                .isEqualTo("{\"secret\":{\"*\":\"*\",\"*#2\":\"*\"},\"z\":3}");
        // what the detectors find in keys (json_object_agg(email, id)): two addresses that mask alike
        UnaryOperator<String> emails = v -> v.matches("a\\w*@example\\.com") ? "a***@example.com" : v;
        assertThat(JsonMasking.detected("{\"ann@example.com\": 1, \"amy@example.com\": 2, \"bob\": 3}", emails))
                .isEqualTo("{\"a***@example.com\":1,\"a***@example.com#2\":2,\"bob\":3}");
        // a kept name that a masked one took earlier in the object is numbered instead
        assertThat(JsonMasking.detected("{\"ann@example.com\": 1, \"a***@example.com\": 2, \"a***@example.com#2\": 3}",
                emails)).isEqualTo("{\"a***@example.com\":1,\"a***@example.com#2\":2,\"a***@example.com#2#2\":3}");
        assertThat(JsonMasking.detected("{\"x\": {\"ann@example.com\": 1}, \"a***@example.com\": 2}", emails))
                .as("each object its own names").isEqualTo("{\"x\":{\"a***@example.com\":1},\"a***@example.com\":2}");
        // names the document itself repeats are not the masking's doing and stay
        assertThat(JsonMasking.detected("{\"k\": 1, \"k\": \"ann@example.com\"}", emails))
                .isEqualTo("{\"k\":1,\"k\":\"a***@example.com\"}");
        assertThat(JsonMasking.detected("[{\"amy@example.com\": 1}, {\"ann@example.com\": 2}]", emails))
                .isEqualTo("[{\"a***@example.com\":1},{\"a***@example.com\":2}]");
    }

    @Test
    void unreadableJsonBecomesARedactedString() {
        assertThat(JsonMasking.everything("{\"a\": ", PARTIAL, k -> true)).isEqualTo("\"[redacted]\"");
        assertThat(JsonMasking.members("{\"a\" 1}", key -> null, UnaryOperator.identity(), k -> true))
                .isEqualTo("\"[redacted]\"");
    }

    @Test
    void detectedMasksStringsKeysAndNumbersAfterDecodingAndEscapesTheReplacements() {
        UnaryOperator<String> detect = v -> v.contains("@") ? "\"<at>\\" : v.equals("4242") ? "**42" : v;
        String doc = "{\"to\": \"ada\\u0040x.org\", \"n\": 4242, \"m\": 1.50e3, \"ok\": [true, null], "
                + "\"b@x.org\": \"k\"}";
        assertThat(JsonMasking.detected(doc, detect)).isEqualTo("{\"to\":\"\\\"<at>\\\\\",\"n\":\"**42\","
                + "\"m\":1.50e3,\"ok\":[true,null],\"\\\"<at>\\\\\":\"k\"}");
        // null: a value becomes JSON null, a key the redaction marker
        assertThat(JsonMasking.detected("{\"a@b\": \"c@d\"}", v -> null)).isEqualTo("{\"[redacted]\":null}");
        // nothing found: the same text, its spacing kept
        String plain = "{ \"a\" : [1, \"b\"] }";
        assertThat(JsonMasking.detected(plain, detect)).isSameAs(plain);
        assertThat(JsonMasking.detected("{\"a\": ", detect)).isEqualTo("\"[redacted]\"");
    }
}
