package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.SessionInfo;


/**
 * The JSON form of one audit event: one line per statement. Carries the literal-free statement text and its
 * fingerprint, never the raw text, so literals (which can hold personal data or secrets) do not reach the log.
 */
public final class AuditEvents {
    private AuditEvents() {
    }

    public static String toJson(ExecutionRecord r) {
        StringBuilder sb = new StringBuilder(640);
        write(r, sb);
        return sb.toString();
    }

    /** The event's JSON object into {@code sb} (cleared first). */
    static void write(ExecutionRecord r, StringBuilder sb) {
        SessionInfo s = r.session();
        Json j = new Json(sb)
                .field("time", Timestamps.iso(r.startedAtMillis()))
                .field("event", "statement")
                .field("identity", s.identity())
                .field("connection", s.connectionId())
                .field("database", s.database())
                .field("user", s.upstreamUser())
                .field("clientUser", s.clientUser())
                .field("application", s.applicationName())
                .field("client", s.clientAddress())
                .field("protocol", r.protocol().name().toLowerCase())
                .field("fingerprint", r.statement().fingerprint())
                .field("statement", r.statement().normalized())
                .field("decision", r.verdict().decision().label())
                .field("policy", r.verdict().policy())
                .field("rule", r.verdict().rule())
                .field("reason", r.verdict().reason())
                .field("executed", r.executed())
                .field("rows", r.rows())
                .field("tag", r.commandTag())
                .field("durationMs", Math.round(r.durationNanos() / 1000.0) / 1000.0)
                .field("errorCode", r.errorSqlState())
                .field("error", r.errorMessage());
        if (!r.resultSummary().isEmpty()) {
            j.field("masked", r.resultSummary());
        }
        j.close();
    }
}
