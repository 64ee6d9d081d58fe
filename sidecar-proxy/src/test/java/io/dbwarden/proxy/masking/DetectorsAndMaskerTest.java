package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.DetectorType;
import io.dbwarden.api.v1alpha1.MaskStrategy;
import io.dbwarden.api.v1alpha1.MaskingAction;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DetectorsAndMaskerTest {

    private static List<String> found(DetectorType t, String text) {
        return Detectors.find(t, text).stream().map(s -> text.substring(s[0], s[1])).toList();
    }

    @Test
    void detectorsFindWhatTheyShouldAndNothingElse() {
        assertThat(found(DetectorType.EMAIL, "mail ada.l@example.co.uk or bob+x@mail.example.org; not a@b"))
                .containsExactly("ada.l@example.co.uk", "bob+x@mail.example.org");
        assertThat(found(DetectorType.CREDIT_CARD, "4242 4242 4242 4242, 4242-4242-4242-4241, 5555555555554444"))
                .containsExactly("4242 4242 4242 4242", "5555555555554444"); // the middle one fails Luhn
        assertThat(found(DetectorType.IBAN, "pay DE89 3704 0044 0532 0130 00 not DE89 3704 0044 0532 0130 01"))
                .containsExactly("DE89 3704 0044 0532 0130 00");
        assertThat(found(DetectorType.PHONE, "call +49 30 1234 5678 or (555) 123-4567, order 12345"))
                .containsExactly("+49 30 1234 5678", "(555) 123-4567");
        String jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl";
        assertThat(found(DetectorType.JWT, "Bearer " + jwt)).containsExactly(jwt);
        assertThat(found(DetectorType.API_KEY, "AKIAIOSFODNN7EXAMPLE ghp_" + "a".repeat(36)
                + " sk_live_4eC39HqLyjWDarjtT1zdp7dc plain_words_here"))
                .containsExactly("AKIAIOSFODNN7EXAMPLE", "ghp_" + "a".repeat(36), "sk_live_4eC39HqLyjWDarjtT1zdp7dc");
        assertThat(found(DetectorType.HIGH_ENTROPY, "secret=Zq8vN3kLp0Xw7RtY2mB5cH9dF4gJ token_for_the_user_profile"))
                .containsExactly("Zq8vN3kLp0Xw7RtY2mB5cH9dF4gJ");
    }

    private static MaskingAction action(MaskStrategy s, Integer prefix, Integer suffix, String value) {
        MaskingAction a = new MaskingAction();
        a.setStrategy(s);
        a.setKeepPrefix(prefix);
        a.setKeepSuffix(suffix);
        a.setValue(value);
        return a;
    }

    @Test
    void strategies() {
        byte[] key = "k".getBytes(StandardCharsets.UTF_8);
        assertThat(Masker.of(action(MaskStrategy.PARTIAL, null, null, null), null, key).mask("jane@example.com"))
                .isEqualTo("j***@example.com");
        Masker partial = Masker.of(action(MaskStrategy.PARTIAL, null, null, null), null, key);
        assertThat(partial.mask("jane.doe+x@mail.example-corp.com")).isEqualTo("j***@mail.example-corp.com");
        assertThat(partial.mask("{ann@example.com,bosecret")).as("not one address: nothing kept after the '@'")
                .isEqualTo("{a**@*******.***,********");
        assertThat(partial.mask("Tom <tom@example.com>")).isEqualTo("T** <***@*******.***>");
        assertThat(Masker.of(action(MaskStrategy.PARTIAL, null, null, null), DetectorType.CREDIT_CARD, key)
                .mask("4242-4242-4242-4242")).isEqualTo("****-****-****-4242");
        assertThat(Masker.of(action(MaskStrategy.PARTIAL, 2, 2, null), null, key).mask("secretvalue"))
                .isEqualTo("se*******ue");
        assertThat(Masker.of(action(MaskStrategy.PARTIAL, 2, 2, null), null, key).mask("abc"))
                .as("too short to keep anything").isEqualTo("***");
        Masker hash = Masker.of(action(MaskStrategy.HASH, null, null, null), null, key);
        assertThat(hash.mask("x")).isEqualTo(hash.mask("x")).isNotEqualTo(hash.mask("y")).startsWith("h:");
        assertThat(Masker.of(action(MaskStrategy.HASH, null, null, null), null, "other".getBytes(StandardCharsets.UTF_8))
                .mask("x")).as("keyed: another key gives another hash").isNotEqualTo(hash.mask("x"));
        assertThat(Masker.of(action(MaskStrategy.REDACT, null, null, null), null, null).mask("x")).isEqualTo("[redacted]");
        assertThat(Masker.of(action(MaskStrategy.FIXED, null, null, "n/a"), null, null).mask("x")).isEqualTo("n/a");
        assertThat(Masker.of(action(MaskStrategy.NULL, null, null, null), null, null).nulls()).isTrue();
        assertThatThrownBy(() -> Masker.of(action(MaskStrategy.HASH, null, null, null), null, null))
                .hasMessageContaining("needs a key");
    }

    @Test
    void copyOutDetection() {
        assertThat(MaskingFilter.isCopyOut(io.dbwarden.proxy.sql.SqlLexer.tokenize("COPY t TO STDOUT", true))).isTrue();
        assertThat(MaskingFilter.isCopyOut(io.dbwarden.proxy.sql.SqlLexer.tokenize(
                "copy (select 'to' from t) to stdout", true))).isTrue();
        assertThat(MaskingFilter.isCopyOut(io.dbwarden.proxy.sql.SqlLexer.tokenize("COPY t FROM STDIN", true))).isFalse();
        assertThat(MaskingFilter.isCopyOut(io.dbwarden.proxy.sql.SqlLexer.tokenize(
                "COPY t (\"to\") FROM STDIN", true))).isFalse();
    }
}
