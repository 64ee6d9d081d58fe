package io.dbwarden.proxy.audit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.SqlText;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The audit event encoder writes bytes directly: they must be exactly the JSON a reader expects, and chain. */
class AuditEventsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ExecutionRecord record(SessionInfo s, String sql, Verdict v, long nanos, Map<String, Long> masked) {
        StatementInfo st = StatementInfo.of(SqlText.split(sql, true).getFirst());
        return new ExecutionRecord(s, st, Protocol.EXTENDED, v, 1_764_480_062_045L, nanos, v.forwards(), 3,
                v.forwards() ? "SELECT 3" : null, v.forwards() ? null : "42501",
                v.forwards() ? null : "blocked \"here\"\n", masked);
    }

    private static String encode(AuditEvents events, ExecutionRecord r) {
        AuditLine line = new AuditLine(16);
        events.write(r, line);
        return line.toString();
    }

    @Test
    void everyFieldInOrderWithEscapingAndUtf8() throws Exception {
        SessionInfo s = new SessionInfo("team-ü/app\u2028", "app \"user\"", "appdb", "svc\\role", "psql\t1",
                "10.0.0.7:5123", 42);
        Map<String, Long> masked = new LinkedHashMap<>();
        masked.put("email:partial", 2L);
        masked.put("note:detector", 1L);
        ExecutionRecord r = record(s, "SELECT \"naïve 😀\", 'x' FROM t WHERE id = 5",
                Verdict.deny("p", "r", "no \"quotes\"", PgError.error("42501", "m", null, null)), 1_234_567, masked);
        String line = encode(new AuditEvents(), r);
        assertThat(line).doesNotContain("\n").doesNotContain("\u2028").contains("\\u2028");
        JsonNode n = JSON.readTree(line.getBytes(StandardCharsets.UTF_8));
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        assertThat(names).containsExactly("time", "event", "identity", "connection", "database", "user",
                "clientUser", "application", "client", "protocol", "fingerprint", "statement", "decision", "policy",
                "rule", "reason", "executed", "rows", "tag", "durationMs", "errorCode", "error", "masked");
        assertThat(n.get("time").asText()).isEqualTo("2025-11-30T05:21:02.045Z");
        assertThat(n.get("identity").asText()).isEqualTo("team-ü/app\u2028");
        assertThat(n.get("connection").asLong()).isEqualTo(42);
        assertThat(n.get("clientUser").asText()).isEqualTo("app \"user\"");
        assertThat(n.get("user").asText()).isEqualTo("svc\\role");
        assertThat(n.get("application").asText()).isEqualTo("psql\t1");
        assertThat(n.get("protocol").asText()).isEqualTo("extended");
        assertThat(n.get("statement").asText()).isEqualTo("select \"naïve 😀\", ? from t where id = ?");
        assertThat(n.get("fingerprint").asText()).isEqualTo(r.statement().fingerprint());
        assertThat(n.get("decision").asText()).isEqualTo("deny");
        assertThat(n.get("reason").asText()).isEqualTo("no \"quotes\"");
        assertThat(n.get("executed").asBoolean()).isFalse();
        assertThat(n.get("tag").isNull()).isTrue();
        assertThat(n.get("durationMs").asDouble()).isEqualTo(1.235);
        assertThat(n.get("error").asText()).isEqualTo("blocked \"here\"\n");
        assertThat(n.get("masked").get("email:partial").asLong()).isEqualTo(2);
        assertThat(n.get("masked").get("note:detector").asLong()).isEqualTo(1);
    }

    @Test
    void stringsOfAnyContentRoundTrip() throws Exception {
        Random random = new Random(7);
        char[] alphabet = {'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\u0000', '\u001f', '\u007f',
                'é', 'ß', '\u20ac', '\u2028', '\u2029', '\uffff', '\ud83d', '\ude00'};
        for (int i = 0; i < 2_000; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = random.nextInt(40); k > 0; k--) {
                sb.append(alphabet[random.nextInt(alphabet.length)]);
            }
            String s = sb.toString();
            AuditLine line = new AuditLine(4);
            line.string(s);
            String expected = new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
            assertThat(JSON.readTree(line.copy(0)).asText()).as("round trip of %s", s).isEqualTo(expected);
            for (byte b : line.copy(0)) {
                assertThat(b & 0xff).as("no raw control character").isGreaterThanOrEqualTo(0x20);
            }
        }
    }

    @Test
    void durationsPrintLikeDoubleToString() {
        Random random = new Random(11);
        long[] fixed = {0, 1, 499, 500, 999, 1_000, 1_500, 10_000, 100_000, 999_999, 1_000_000, 1_000_500,
                123_456_789, 9_999_999_999_499L, 9_999_999_999_500L, 10_000_000_000_000L, 86_400_000_000_000L};
        List<Long> values = new ArrayList<>();
        for (long f : fixed) {
            values.add(f);
        }
        for (int i = 0; i < 20_000; i++) {
            values.add((long) Math.pow(10, random.nextDouble() * 14));
        }
        for (long nanos : values) {
            AuditLine line = new AuditLine(8);
            line.object();
            line.millis(AuditLine.encodedKey("d"), nanos).close();
            assertThat(line.toString()).as("nanos %d", nanos)
                    .isEqualTo("{\"d\":" + Math.round(nanos / 1000.0) / 1000.0 + "}");
        }
    }

    @Test
    void numbersPrintLikeLongToString() {
        Random random = new Random(13);
        List<Long> values = new ArrayList<>(List.of(0L, 9L, 10L, 99L, 100L, -1L, -9L, -10L, 1_000_000L,
                999_999_999_999L, Long.MAX_VALUE, Long.MIN_VALUE, Long.MIN_VALUE + 1, (long) Integer.MAX_VALUE + 1));
        for (int i = 0; i < 20_000; i++) {
            long v = random.nextLong() >> random.nextInt(64);
            values.add(v);
        }
        for (long v : values) {
            AuditLine line = new AuditLine(1); // grows on the way
            line.ascii('[').number(v).ascii(']');
            assertThat(line.toString()).as("%d", v).isEqualTo("[" + v + "]");
        }
    }

    @Test
    void cachedVerdictFieldsEncodeExactlyLikeFreshOnes() throws Exception {
        AuditEvents warm = new AuditEvents();
        SessionInfo s = new SessionInfo("ns/a", "app", "db", "role", "", "127.0.0.1:1", 1);
        PgError denied = PgError.error("42501", "m", null, null);
        // the same names as shared and as other String objects, reasons alike and not, decisions alike and not
        String[] policies = {"p", new String("p"), "q"};
        String[] rules = {null, "r1", new String("r1"), "r2"};
        String[] reasons = {"x", new String("x"), "y"};
        List<Verdict> verdicts = new ArrayList<>();
        for (String policy : policies) {
            for (String rule : rules) {
                verdicts.add(Verdict.allow(policy, rule));
                for (String reason : reasons) {
                    verdicts.add(Verdict.deny(policy, rule, reason, denied));
                    verdicts.add(new Verdict(io.dbwarden.proxy.filter.Decision.AUDIT, policy, rule, reason, null));
                }
            }
        }
        Random random = new Random(5);
        for (int i = 0; i < 2_000; i++) {
            Verdict v = verdicts.get(random.nextInt(verdicts.size()));
            ExecutionRecord r = record(s, "SELECT * FROM t WHERE id = " + i, v, i * 1_000L, Map.of());
            String line = encode(warm, r);
            assertThat(line).isEqualTo(encode(new AuditEvents(), r));
            assertThat(JSON.readTree(line).get("reason").textValue()).isEqualTo(v.reason());
            assertThat(JSON.readTree(line).get("rule").textValue()).isEqualTo(v.rule());
            assertThat(JSON.readTree(line).get("decision").textValue()).isEqualTo(v.decision().label());
        }
    }

    @Test
    void cachedSessionAndStatementFieldsEncodeExactlyLikeFreshOnes() {
        AuditEvents warm = new AuditEvents();
        SessionInfo a = new SessionInfo("ns/a", "app", "db", "role", "", "127.0.0.1:1", 1);
        SessionInfo b = new SessionInfo("ns/b", "app", "db", "role", "", "127.0.0.1:2", 257); // same slot as a
        Verdict allow = Verdict.allow("p", null);
        List<ExecutionRecord> records = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            SessionInfo s = i % 3 == 0 ? a : b;
            String sql = i % 2 == 0 ? "SELECT * FROM t WHERE id = " + i : "UPDATE t SET v = " + i + " WHERE id = 1";
            records.add(record(s, sql, allow, i * 1_000L, Map.of()));
        }
        for (ExecutionRecord r : records) {
            assertThat(encode(warm, r)).isEqualTo(encode(new AuditEvents(), r));
        }
    }

    @Test
    void sealedLinesVerifyIncludingNonAscii() {
        AuditEvents events = new AuditEvents();
        HashChain chain = HashChain.start();
        List<String> lines = new ArrayList<>();
        SessionInfo s = new SessionInfo("ns/ü", "app", "db", "role", "", "127.0.0.1:1", 9);
        for (int i = 0; i < 5; i++) {
            AuditLine line = new AuditLine(64);
            events.write(record(s, "SELECT 'x' AS \"spalte ä\" FROM t", Verdict.allow(), i, Map.of()), line);
            chain.seal(line);
            lines.add(line.toString());
        }
        assertThat(HashChain.verify(lines).intact()).isTrue();
        assertThat(HashChain.after(lines.getLast()).lastHash()).isEqualTo(chain.lastHash());
        lines.set(2, lines.get(2).replace("spalte ä", "spalte a"));
        assertThat(HashChain.verify(lines).problems()).singleElement().asString().contains("modified");
    }

    @Test
    void longStatementTextsAreCutWithTheirFullLengthBeside() throws Exception {
        SessionInfo s = new SessionInfo("ns/app", "app", "db", "role", "", "127.0.0.1:1", 9);
        StringBuilder sql = new StringBuilder("INSERT INTO t VALUES (1, 'a')");
        for (int i = 2; i <= 3000; i++) {
            sql.append(", (").append(i).append(", 'a')");
        }
        ExecutionRecord big = record(s, sql.toString(), Verdict.allow(), 1, Map.of());
        String full = big.statement().normalized();
        assertThat(full.length()).isGreaterThan(AuditEvents.DEFAULT_MAX_STATEMENT_CHARS);
        AuditEvents events = new AuditEvents();
        JsonNode n = JSON.readTree(encode(events, big));
        assertThat(n.get("statement").asText()).isEqualTo(full.substring(0, AuditEvents.DEFAULT_MAX_STATEMENT_CHARS));
        assertThat(n.get("statementChars").asInt()).isEqualTo(full.length());
        assertThat(n.get("fingerprint").asText()).as("of the whole text").isEqualTo(big.statement().fingerprint());
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        assertThat(names.subList(names.indexOf("statement"), names.indexOf("statement") + 3))
                .containsExactly("statement", "statementChars", "decision");

        // a short statement written whole (and cached encoded), then a lower limit: cut from the next event on
        ExecutionRecord small = record(s, "SELECT a, b, c FROM t WHERE id = 5", Verdict.allow(), 1, Map.of());
        assertThat(JSON.readTree(encode(events, small)).has("statementChars")).isFalse();
        events.limit(10);
        JsonNode cut = JSON.readTree(encode(events, small));
        assertThat(cut.get("statement").asText()).isEqualTo("select a, ");
        assertThat(cut.get("statementChars").asInt()).isEqualTo(small.statement().normalized().length());
        // never inside a surrogate pair: the text stays valid UTF-16 / UTF-8
        ExecutionRecord emoji = record(s, "SELECT \"abcd😀\" FROM t", Verdict.allow(), 1, Map.of());
        int high = emoji.statement().normalized().indexOf('\ud83d');
        assertThat(high).isEqualTo(12);
        events.limit(high + 1); // would end between the two halves of the emoji
        assertThat(JSON.readTree(encode(events, emoji)).get("statement").asText()).isEqualTo("select \"abcd");
        // 0: every text whole
        events.limit(0);
        JsonNode whole = JSON.readTree(encode(events, big));
        assertThat(whole.get("statement").asText()).isEqualTo(full);
        assertThat(whole.has("statementChars")).isFalse();
    }
}
