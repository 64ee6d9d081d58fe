package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class CopyFormatTest {
    private static CopyFormat parse(String sql) {
        return CopyFormat.parse(StatementInfo.of(SqlText.split(sql, true).getFirst()));
    }

    @Test
    void theBinaryFormatInEachSpellingAndNotAColumnNamedBinary() {
        for (String sql : java.util.List.of("COPY t TO STDOUT (FORMAT binary)", "COPY t TO STDOUT BINARY",
                "COPY t TO STDOUT WITH BINARY", "COPY (SELECT 1) TO STDOUT WITH (FORMAT binary)")) {
            assertThat(parse(sql).binary).as(sql).isTrue();
        }
        for (String sql : java.util.List.of("COPY t TO STDOUT", "COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE (binary))",
                "COPY t (binary) TO STDOUT")) {
            CopyFormat f = parse(sql);
            assertThat(f.binary).as(sql).isFalse();
        }
        assertThat(parse("COPY t TO STDOUT (FORMAT binary, ENCODING 'LATIN1')")).isNull();
    }
}
