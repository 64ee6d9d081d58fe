package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementInfo;

import java.util.Map;

/**
 * The JSON form of one audit event: one line per statement. Carries the literal-free statement text and its
 * fingerprint, never the raw text, so literals (which can hold personal data or secrets) do not reach the log.
 *
 * <p>Fields, in order: time, event, identity, connection, database, user, clientUser, application, client, protocol,
 * fingerprint, statement, decision, policy, rule, reason, executed, rows, tag, durationMs, errorCode, error and,
 * when result filters counted something, masked. The session's fields and the statement's fields are encoded once
 * and reused while they repeat (small direct-mapped caches: a session's events and a statement shape's events
 * come in runs). One instance per writer thread; not thread-safe.
 */
final class AuditEvents {
    private static final int SLOTS = 256;

    private final Timestamps timestamps = new Timestamps();
    private final SessionInfo[] sessions = new SessionInfo[SLOTS];
    private final byte[][] sessionFields = new byte[SLOTS][];
    private final String[] normalizedTexts = new String[SLOTS];
    private final String[] fingerprints = new String[SLOTS];
    private final byte[][] statementFields = new byte[SLOTS][];

    /** Writes the event's JSON object into {@code line} (cleared first). */
    void write(ExecutionRecord r, AuditLine line) {
        line.object();
        line.key("time");
        timestamps.appendQuoted(r.startedAtMillis(), line);
        line.field("event", "statement");
        session(r.session(), line);
        line.field("protocol", switch (r.protocol()) {
            case SIMPLE -> "simple";
            case EXTENDED -> "extended";
            case FUNCTION_CALL -> "function-call";
        });
        statement(r.statement(), line);
        if (r.runs() != r.statement()) {
            // EXECUTE / FETCH: the query the session defined under that name, which the decision was about
            line.field("runs", r.runs().normalized());
        }
        line.field("decision", r.verdict().decision().label())
                .field("policy", r.verdict().policy())
                .field("rule", r.verdict().rule())
                .field("reason", r.verdict().reason())
                .field("executed", r.executed())
                .field("rows", r.rows())
                .field("tag", r.commandTag())
                .millis("durationMs", r.durationNanos())
                .field("errorCode", r.errorSqlState())
                .field("error", r.errorMessage());
        if (!r.resultSummary().isEmpty()) {
            line.key("masked").ascii('{');
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

    private void session(SessionInfo s, AuditLine line) {
        int slot = (int) (s.connectionId() & (SLOTS - 1));
        if (sessions[slot] == s) {
            line.raw(sessionFields[slot]);
            return;
        }
        int start = line.length();
        line.field("identity", s.identity())
                .field("connection", s.connectionId())
                .field("database", s.database())
                .field("user", s.upstreamUser())
                .field("clientUser", s.clientUser())
                .field("application", s.applicationName())
                .field("client", s.clientAddress());
        sessionFields[slot] = line.copy(start);
        sessions[slot] = s;
    }

    private void statement(StatementInfo st, AuditLine line) {
        String normalized = st.normalized();
        int slot = normalized.hashCode() & (SLOTS - 1);
        // statements with different literals share one normalized text object (the fingerprint cache's)
        if (normalizedTexts[slot] == normalized && st.fingerprint().equals(fingerprints[slot])) {
            line.raw(statementFields[slot]);
            return;
        }
        int start = line.length();
        line.field("fingerprint", st.fingerprint()).field("statement", normalized);
        statementFields[slot] = line.copy(start);
        normalizedTexts[slot] = normalized;
        fingerprints[slot] = st.fingerprint();
    }
}
