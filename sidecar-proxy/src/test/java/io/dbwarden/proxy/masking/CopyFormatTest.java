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

    /**
     * A header line the proxy expects but the server does not send would let the first row through unmasked: every
     * way of saying HEADER off is read as off, names of columns in FORCE lists are not options.
     */
    @Test
    void headerIsReadAsTheServerReadsIt() {
        for (String sql : java.util.List.of("COPY t TO STDOUT (FORMAT csv, HEADER off)",
                "COPY t TO STDOUT (FORMAT csv, HEADER 0)", "COPY t TO STDOUT (FORMAT csv, HEADER false)",
                "COPY t TO STDOUT (FORMAT csv, HEADER 'no')", "COPY t TO STDOUT (FORMAT csv, HEADER f)",
                "COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE (header, email))",
                "COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE (\"header\"))",
                "COPY t TO STDOUT WITH CSV FORCE QUOTE header, email", "COPY t TO STDOUT CSV")) {
            CopyFormat f = parse(sql);
            assertThat(f).as(sql).isNotNull();
            assertThat(f.header).as(sql).isFalse();
            assertThat(f.csv).as(sql).isTrue();
        }
        for (String sql : java.util.List.of("COPY t TO STDOUT (FORMAT csv, HEADER)",
                "COPY t TO STDOUT (FORMAT csv, HEADER on)", "COPY t TO STDOUT (FORMAT csv, HEADER 1)",
                "COPY t TO STDOUT (HEADER true, FORMAT 'csv')", "COPY t TO STDOUT WITH CSV HEADER",
                "COPY t TO STDOUT WITH CSV HEADER FORCE QUOTE *", "COPY t TO STDOUT CSV HEADER QUOTE AS '\"'",
                "COPY t TO STDOUT (FORMAT \"csv\", HEADER, FORCE_QUOTE *)")) {
            CopyFormat f = parse(sql);
            assertThat(f).as(sql).isNotNull();
            assertThat(f.header).as(sql).isTrue();
            assertThat(f.csv).as(sql).isTrue();
        }
    }

    @Test
    void aRowWrittenAgainKeepsTheQuotingFORCE_QUOTEAskedFor() {
        CopyFormat forced = parse("COPY t TO STDOUT (FORMAT csv, FORCE_QUOTE (b))");
        java.util.List<String> values = new java.util.ArrayList<>(forced.split("1,\"x\",,\"\""));
        assertThat(values).containsExactly("1", "x", null, "");
        values.set(1, "y");
        assertThat(new String(forced.join(values), java.nio.charset.StandardCharsets.UTF_8))
                .isEqualTo("1,\"y\",,\"\"\n");
        // without FORCE_QUOTE a value is quoted only when CSV needs it
        CopyFormat plain = parse("COPY t TO STDOUT (FORMAT csv)");
        values = new java.util.ArrayList<>(plain.split("1,\"x,z\""));
        values.set(1, "y");
        assertThat(new String(plain.join(values), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("1,y\n");
        assertThat(parse("COPY t TO STDOUT CSV FORCE QUOTE *").forceQuote).isTrue();
        assertThat(parse("COPY t TO STDOUT (FORMAT csv, FORCE_NOT_NULL (a))").forceQuote).isFalse();
    }

    @Test
    void theOldSpellingsAndEscapedLiteralsOfOptions() {
        CopyFormat f = parse("COPY t TO STDOUT WITH DELIMITER AS '|' NULL AS 'none'");
        assertThat(f.delimiter).isEqualTo('|');
        assertThat(f.nullString).isEqualTo("none");
        assertThat(parse("COPY t TO STDOUT (DELIMITER E'\\t')").delimiter).isEqualTo('\t');
        assertThat(parse("COPY t TO STDOUT (FORMAT csv, QUOTE E'\\'')").quote).isEqualTo('\'');
        assertThat(parse("COPY t TO STDOUT WITH CSV QUOTE AS '''' ESCAPE AS '\\'").escape).isEqualTo('\\');
        // a format it cannot read is refused, not read as text
        assertThat(parse("COPY t TO STDOUT (FORMAT parquet)")).isNull();
        assertThat(parse("COPY t TO STDOUT (DELIMITER E'\\x09')")).isNull();
    }
}
