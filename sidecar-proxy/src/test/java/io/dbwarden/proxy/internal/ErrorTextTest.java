package io.dbwarden.proxy.internal;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class ErrorTextTest {
    @Test
    void valuesLeaveTheTextsThatCanCarryThem() {
        Map<Character, String> fields = new LinkedHashMap<>();
        fields.put('S', "ERROR");
        fields.put('C', "23505");
        fields.put('M', "duplicate key value violates unique constraint \"customers_email_key\"");
        fields.put('D', "Key (lower(email), tenant)=(ada@example.com, 7) already exists.");
        fields.put('n', "customers_email_key");
        Map<Character, String> s = ErrorText.scrubbed(fields);
        assertThat(s).containsEntry('M', "duplicate key value violates unique constraint \"?\"")
                .containsEntry('D', "Key (lower(email), tenant)=(?) already exists.")
                .containsEntry('n', "customers_email_key").containsEntry('C', "23505");
        assertThat(s.keySet()).containsExactly('S', 'C', 'M', 'D', 'n'); // same fields, same order

        assertThat(ErrorText.withoutValueLists("Failing row contains (1, Ada, ada@example.com, (nested), null)."))
                .isEqualTo("Failing row contains (?).");
        assertThat(ErrorText.withoutValueLists("Key (id)=(1) is still referenced; Key (k)=(x")).isEqualTo(
                "Key (id)=(?) is still referenced; Key (k)=(?)");
        assertThat(ErrorText.scrubbed(Map.of('M', "canceling statement due to user request"))).isNull();
    }

    @Test
    void onlyErrorClassesThatQuoteStoredValuesAreScrubbed() {
        assertThat(ErrorText.mayQuoteValues("22P02")).isTrue();
        assertThat(ErrorText.mayQuoteValues("23505")).isTrue();
        assertThat(ErrorText.mayQuoteValues("P0001")).isTrue();
        assertThat(ErrorText.mayQuoteValues("XX000")).isTrue();
        assertThat(ErrorText.mayQuoteValues(null)).isTrue();
        assertThat(ErrorText.mayQuoteValues("42703")).isFalse();
        assertThat(ErrorText.mayQuoteValues("42P01")).isFalse();
        assertThat(ErrorText.mayQuoteValues("57014")).isFalse();
    }
}
