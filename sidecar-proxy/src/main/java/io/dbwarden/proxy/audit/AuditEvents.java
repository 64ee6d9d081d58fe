package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;

import java.util.Map;

/**
 * The JSON form of one audit event: one line per statement. Carries the literal-free statement text and its
 * fingerprint, never the raw text, so literals (which can hold personal data or secrets) do not reach the log.
 *
 * <p>Fields, in order: time, event, identity, connection, database, user, clientUser, application, client, protocol,
 * fingerprint, statement (statementChars after it when the text was cut), runs (for EXECUTE and FETCH, runsChars
 * likewise), decision, policy, rule, reason, executed, rows, tag, durationMs, errorCode, error and, when result
 * filters counted something, masked. Statement texts longer than {@link #limit} characters are cut there (a
 * 200,000-row VALUES list would make one line of megabytes, more than log shippers take); the fingerprint still
 * identifies the whole text and the *Chars field gives its length. The session's fields and the statement's fields
 * are encoded once and reused while they repeat (small direct-mapped caches: a session's events and a statement
 * shape's events come in runs), as are a verdict's fields and the field names. One instance per writer thread; not
 * thread-safe.
 */
final class AuditEvents {
    private static final int SLOTS = 256;
    private static final byte[] TIME = AuditLine.encodedKey("time");
    private static final byte[] EVENT = AuditLine.encodedKey("event");
    private static final byte[] PROTOCOL = AuditLine.encodedKey("protocol");
    private static final byte[] RUNS = AuditLine.encodedKey("runs");
    private static final byte[] RUNS_CHARS = AuditLine.encodedKey("runsChars");
    private static final byte[] STATEMENT_CHARS = AuditLine.encodedKey("statementChars");
    private static final byte[] EXECUTED = AuditLine.encodedKey("executed");
    private static final byte[] ROWS = AuditLine.encodedKey("rows");
    private static final byte[] TAG = AuditLine.encodedKey("tag");
    private static final byte[] DURATION = AuditLine.encodedKey("durationMs");
    private static final byte[] ERROR_CODE = AuditLine.encodedKey("errorCode");
    private static final byte[] ERROR = AuditLine.encodedKey("error");
    private static final byte[] MASKED = AuditLine.encodedKey("masked");
    private static final byte[] IDENTITY = AuditLine.encodedKey("identity");
    private static final byte[] CONNECTION = AuditLine.encodedKey("connection");
    private static final byte[] DATABASE = AuditLine.encodedKey("database");
    private static final byte[] USER = AuditLine.encodedKey("user");
    private static final byte[] CLIENT_USER = AuditLine.encodedKey("clientUser");
    private static final byte[] APPLICATION = AuditLine.encodedKey("application");
    private static final byte[] CLIENT = AuditLine.encodedKey("client");
    private static final byte[] FINGERPRINT = AuditLine.encodedKey("fingerprint");
    private static final byte[] STATEMENT = AuditLine.encodedKey("statement");
    private static final byte[] DECISION = AuditLine.encodedKey("decision");
    private static final byte[] POLICY = AuditLine.encodedKey("policy");
    private static final byte[] RULE = AuditLine.encodedKey("rule");
    private static final byte[] REASON = AuditLine.encodedKey("reason");
    private static final int VERDICT_SLOTS = 16;

    private final Timestamps timestamps = new Timestamps();
    private final SessionInfo[] sessions = new SessionInfo[SLOTS];
    private final byte[][] sessionFields = new byte[SLOTS][];
    private final String[] normalizedTexts = new String[SLOTS];
    private final String[] fingerprints = new String[SLOTS];
    private final byte[][] statementFields = new byte[SLOTS][];
    private final Verdict[] verdicts = new Verdict[VERDICT_SLOTS];
    private final byte[][] verdictFields = new byte[VERDICT_SLOTS][];
    /** The longest statement text written whole; 0: no limit. */
    private int maxChars = DEFAULT_MAX_STATEMENT_CHARS;

    /** Statement texts are cut after this many characters unless configured otherwise. */
    static final int DEFAULT_MAX_STATEMENT_CHARS = 16_384;

    /** Statement texts longer than {@code maxChars} characters are cut from the next event on (0: never). */
    void limit(int maxChars) {
        if (maxChars < 0) {
            throw new IllegalArgumentException("negative statement text limit: " + maxChars);
        }
        this.maxChars = maxChars;
    }

    /** Writes the event's JSON object into {@code line} (cleared first). */
    void write(ExecutionRecord r, AuditLine line) {
        line.object();
        line.key(TIME);
        timestamps.appendQuoted(r.startedAtMillis(), line);
        line.field(EVENT, "statement");
        session(r.session(), line);
        line.field(PROTOCOL, switch (r.protocol()) {
            case SIMPLE -> "simple";
            case EXTENDED -> "extended";
            case FUNCTION_CALL -> "function-call";
        });
        statement(r.statement(), line);
        if (r.runs() != r.statement()) {
            // EXECUTE / FETCH: the query the session defined under that name, which the decision was about
            text(RUNS, RUNS_CHARS, r.runs().normalized(), line);
        }
        verdict(r.verdict(), line);
        line.field(EXECUTED, r.executed())
                .field(ROWS, r.rows())
                .field(TAG, r.commandTag())
                .millis(DURATION, r.durationNanos())
                .field(ERROR_CODE, r.errorSqlState())
                .field(ERROR, r.errorMessage());
        if (!r.resultSummary().isEmpty()) {
            line.key(MASKED).ascii('{');
            boolean first = true;
            for (Map.Entry<String, Long> e : r.resultSummary().entrySet()) {
                if (!first) {
                    line.ascii(',');
                }
                first = false;
                line.string(e.getKey()).ascii(':').number(e.getValue());
            }
            line.ascii('}');
        }
        line.close();
    }

    /**
     * decision, policy, rule and reason: encoded once and reused while the same four values (the same String
     * objects: a policy's and its rules' names) repeat, as they do for every statement a rule decides alike.
     */
    private void verdict(Verdict v, AuditLine line) {
        String policy = v.policy();
        String rule = v.rule();
        int slot = ((policy == null ? 0 : policy.hashCode()) * 31 + (rule == null ? 0 : rule.hashCode())
                + v.decision().ordinal()) & (VERDICT_SLOTS - 1);
        Verdict seen = verdicts[slot];
        if (seen != null && seen.decision() == v.decision() && seen.policy() == policy && seen.rule() == rule
                && seen.reason() == v.reason()) {
            line.raw(verdictFields[slot]);
            return;
        }
        int start = line.length();
        line.field(DECISION, v.decision().label())
                .field(POLICY, policy)
                .field(RULE, rule)
                .field(REASON, v.reason());
        verdictFields[slot] = line.copy(start);
        verdicts[slot] = v;
    }

    private void session(SessionInfo s, AuditLine line) {
        int slot = (int) (s.connectionId() & (SLOTS - 1));
        if (sessions[slot] == s) {
            line.raw(sessionFields[slot]);
            return;
        }
        int start = line.length();
        line.field(IDENTITY, s.identity())
                .field(CONNECTION, s.connectionId())
                .field(DATABASE, s.database())
                .field(USER, s.upstreamUser())
                .field(CLIENT_USER, s.clientUser())
                .field(APPLICATION, s.applicationName())
                .field(CLIENT, s.clientAddress());
        sessionFields[slot] = line.copy(start);
        sessions[slot] = s;
    }

    private void statement(StatementInfo st, AuditLine line) {
        String normalized = st.normalized();
        if (cut(normalized)) {
            line.field(FINGERPRINT, st.fingerprint());
            text(STATEMENT, STATEMENT_CHARS, normalized, line);
            return; // rare: not cached, so a later limit applies to every text
        }
        int slot = normalized.hashCode() & (SLOTS - 1);
        // statements with different literals share one normalized text object (the fingerprint cache's)
        if (normalizedTexts[slot] == normalized && st.fingerprint().equals(fingerprints[slot])) {
            line.raw(statementFields[slot]);
            return;
        }
        int start = line.length();
        line.field(FINGERPRINT, st.fingerprint()).field(STATEMENT, normalized);
        statementFields[slot] = line.copy(start);
        normalizedTexts[slot] = normalized;
        fingerprints[slot] = st.fingerprint();
    }

    private boolean cut(String text) {
        return maxChars > 0 && text.length() > maxChars;
    }

    /** The text under {@code key}, cut at the limit (never inside a surrogate pair), then its length if cut. */
    private void text(byte[] key, byte[] charsKey, String text, AuditLine line) {
        if (!cut(text)) {
            line.field(key, text);
            return;
        }
        int end = Character.isHighSurrogate(text.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
        line.field(key, text.substring(0, end)).field(charsKey, text.length());
    }
}
