package io.dbwarden.proxy.audit;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.SqlText;

import java.util.List;
import java.util.Map;

/** Execution records for the audit log's own tests. */
final class TestRecords {
    private static final SessionInfo SESSION = new SessionInfo("ns/app", "app", "db", "role", "test", "127.0.0.1:1", 1);
    private static final StatementInfo STATEMENT = StatementInfo.of(SqlText.split("SELECT 1", true).getFirst());

    private TestRecords() {
    }

    /** An allowed, executed {@code SELECT 1}; {@code i} sets its time, so consecutive records differ. */
    static ExecutionRecord selectOne(int i) {
        return new ExecutionRecord(SESSION, STATEMENT, Protocol.SIMPLE, Verdict.allow(), 1_764_480_062_045L + i,
                1000, true, 1, "SELECT 1", null, null, Map.of());
    }

    /** A sink that keeps what it is sent in {@code delivered} (a thread-safe list). */
    static AuditSink memorySink(List<String> delivered) {
        return new AuditSink() {
            @Override
            public void send(List<String> lines) {
                delivered.addAll(lines);
            }

            @Override
            public String describe() {
                return "memory";
            }
        };
    }
}
