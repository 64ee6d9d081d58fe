package io.dbwarden.proxy.admin;

import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * Process-wide counters, rendered in the Prometheus text exposition format. Lock-free on the hot path
 * (LongAdder per counter, fixed-bucket latency histogram).
 */
public final class ProxyMetrics implements ExecutionListener {
    private static final double[] BUCKETS_SECONDS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            0.5, 1, 2.5, 5, 10};

    private final LongAdder connectionsAccepted = new LongAdder();
    private final AtomicLong connectionsActive = new AtomicLong();
    private final LongAdder clientAuthFailures = new LongAdder();
    private final LongAdder upstreamFailures = new LongAdder();
    private final LongAdder upstreamReused = new LongAdder();
    private volatile LongSupplier upstreamIdle = () -> 0;
    private final LongAdder protocolErrors = new LongAdder();
    private final LongAdder receiveRingExhausted = new LongAdder();
    /** [0]: the database ran more statements of a query text than the proxy found; [1]: fewer. */
    private final LongAdder[] splitMismatches = {new LongAdder(), new LongAdder()};
    private final LongAdder[] statementsByDecision = new LongAdder[Decision.values().length];
    private final LongAdder statementErrors = new LongAdder();
    private final LongAdder rows = new LongAdder();
    private final LongAdder[] durationBuckets = new LongAdder[BUCKETS_SECONDS.length + 1];
    private final LongAdder durationSumNanos = new LongAdder();
    private final LongAdder policyReloads = new LongAdder();
    private final LongAdder policyReloadFailures = new LongAdder();
    private volatile LongSupplier auditDropped = () -> 0;
    private volatile LongSupplier auditWritten = () -> 0;
    private volatile LongSupplier auditDelivered = () -> 0;
    private volatile LongSupplier auditSinkFailures = () -> 0;
    private volatile LongSupplier auditPendingBytes = () -> 0;
    private volatile LongSupplier catalogFailures = () -> 0;
    private volatile BooleanSupplier auditHealthy = () -> true;
    private volatile LongSupplier auditFileRotations = () -> 0;
    private volatile LongSupplier auditFileReopens = () -> 0;
    private volatile LongSupplier clientCertificateExpiry;

    public ProxyMetrics() {
        for (int i = 0; i < statementsByDecision.length; i++) {
            statementsByDecision[i] = new LongAdder();
        }
        for (int i = 0; i < durationBuckets.length; i++) {
            durationBuckets[i] = new LongAdder();
        }
    }

    public void connectionOpened() {
        connectionsAccepted.increment();
        connectionsActive.incrementAndGet();
    }

    public void connectionClosed() {
        connectionsActive.decrementAndGet();
    }

    public void clientAuthFailed() {
        clientAuthFailures.increment();
    }

    public void upstreamFailed() {
        upstreamFailures.increment();
    }

    /** A session got a kept database connection instead of a new one. */
    public void upstreamReused() {
        upstreamReused.increment();
    }

    /** Database connections kept for later sessions. */
    public void upstreamIdle(LongSupplier idle) {
        this.upstreamIdle = idle;
    }

    public void protocolError() {
        protocolErrors.increment();
    }

    /**
     * The database read a query text as more statements than the proxy did ({@code serverSawMore}: one ran without
     * its own verdict, and the session was closed) or as fewer (the proxy had judged parts of one statement apart).
     */
    public void statementSplitMismatch(boolean serverSawMore) {
        splitMismatches[serverSawMore ? 0 : 1].increment();
    }

    /**
     * An io_uring event loop's receive buffer ring had no free buffer when data arrived: the receive was re-armed
     * (no data is lost; each costs a system call and some latency).
     */
    public void receiveRingExhausted() {
        receiveRingExhausted.increment();
    }

    public void policyReloaded() {
        policyReloads.increment();
    }

    public void policyReloadFailed() {
        policyReloadFailures.increment();
    }

    /** When the certificate offered to clients expires (Unix seconds); the gauge is rendered once this is set. */
    public void clientCertificateExpiry(LongSupplier notAfterSeconds) {
        this.clientCertificateExpiry = notAfterSeconds;
    }

    public void auditCounters(LongSupplier written, LongSupplier dropped) {
        this.auditWritten = written;
        this.auditDropped = dropped;
    }

    /** Audit file rotations by size and reopenings after another tool moved the file away. */
    public void auditFile(LongSupplier rotations, LongSupplier reopens) {
        this.auditFileRotations = rotations;
        this.auditFileReopens = reopens;
    }

    /** Failed connections and queries of the proxy's catalog connection. */
    public void catalogFailures(LongSupplier failures) {
        this.catalogFailures = failures;
    }

    /** Remote-sink delivery figures and audit health (for fail-closed alerts). */
    public void auditDelivery(LongSupplier delivered, LongSupplier failures, LongSupplier pendingBytes,
                              BooleanSupplier healthy) {
        this.auditDelivered = delivered;
        this.auditSinkFailures = failures;
        this.auditPendingBytes = pendingBytes;
        this.auditHealthy = healthy;
    }

    public long activeConnections() {
        return connectionsActive.get();
    }

    @Override
    public void onExecution(ExecutionRecord r) {
        statementsByDecision[r.verdict().decision().ordinal()].increment();
        if (r.errorSqlState() != null) {
            statementErrors.increment();
        }
        if (r.executed()) {
            if (r.rows() > 0) {
                rows.add(r.rows());
            }
            double seconds = r.durationNanos() / 1e9;
            int i = 0;
            while (i < BUCKETS_SECONDS.length && seconds > BUCKETS_SECONDS[i]) {
                i++;
            }
            durationBuckets[i].increment();
            durationSumNanos.add(r.durationNanos());
        }
    }

    /** Prometheus text format 0.0.4. */
    public String render() {
        StringBuilder sb = new StringBuilder(2048);
        counter(sb, "dbwarden_connections_total", "Client connections accepted.", connectionsAccepted.sum());
        gauge(sb, "dbwarden_connections_active", "Client connections currently open.", connectionsActive.get());
        counter(sb, "dbwarden_client_auth_failures_total", "Client authentication failures.", clientAuthFailures.sum());
        counter(sb, "dbwarden_upstream_failures_total", "Failed upstream connections (connect, TLS, authentication).",
                upstreamFailures.sum());
        counter(sb, "dbwarden_upstream_reused_total", "Sessions served by a kept database connection (reset with "
                + "DISCARD ALL) instead of a new one.", upstreamReused.sum());
        gauge(sb, "dbwarden_upstream_idle_connections", "Database connections kept for later sessions.",
                upstreamIdle.getAsLong());
        counter(sb, "dbwarden_protocol_errors_total", "Connections closed for protocol violations.", protocolErrors.sum());
        counter(sb, "dbwarden_receive_buffer_ring_exhausted_total", "Times data arrived while an io_uring event loop's "
                + "receive buffer ring was empty (the receive is re-armed; many per second: raise "
                + "-Ddbwarden.io-uring.buffer-ring-entries).", receiveRingExhausted.sum());
        sb.append("# HELP dbwarden_statement_split_mismatches_total Query texts the database split into more or fewer "
                + "statements than the proxy (more: one ran without its own verdict; the session was closed).\n");
        sb.append("# TYPE dbwarden_statement_split_mismatches_total counter\n");
        sb.append("dbwarden_statement_split_mismatches_total{database=\"more\"} ").append(splitMismatches[0].sum())
                .append('\n');
        sb.append("dbwarden_statement_split_mismatches_total{database=\"fewer\"} ").append(splitMismatches[1].sum())
                .append('\n');
        sb.append("# HELP dbwarden_statements_total Statements seen, by decision.\n");
        sb.append("# TYPE dbwarden_statements_total counter\n");
        for (Decision d : Decision.values()) {
            sb.append("dbwarden_statements_total{decision=\"").append(d.label()).append("\"} ")
                    .append(statementsByDecision[d.ordinal()].sum()).append('\n');
        }
        counter(sb, "dbwarden_statement_errors_total", "Statements that ended in an error.", statementErrors.sum());
        counter(sb, "dbwarden_rows_total", "Rows returned or affected by executed statements.", rows.sum());
        sb.append("# HELP dbwarden_statement_duration_seconds Time from forwarding a statement to its completion.\n");
        sb.append("# TYPE dbwarden_statement_duration_seconds histogram\n");
        long cumulative = 0;
        for (int i = 0; i < BUCKETS_SECONDS.length; i++) {
            cumulative += durationBuckets[i].sum();
            sb.append("dbwarden_statement_duration_seconds_bucket{le=\"").append(BUCKETS_SECONDS[i]).append("\"} ")
                    .append(cumulative).append('\n');
        }
        cumulative += durationBuckets[BUCKETS_SECONDS.length].sum();
        sb.append("dbwarden_statement_duration_seconds_bucket{le=\"+Inf\"} ").append(cumulative).append('\n');
        sb.append("dbwarden_statement_duration_seconds_sum ").append(durationSumNanos.sum() / 1e9).append('\n');
        sb.append("dbwarden_statement_duration_seconds_count ").append(cumulative).append('\n');
        counter(sb, "dbwarden_policy_reloads_total", "Policy changes applied without a restart.", policyReloads.sum());
        counter(sb, "dbwarden_policy_reload_failures_total",
                "Policy changes rejected (invalid or unreadable); the previous policy stayed in force.",
                policyReloadFailures.sum());
        counter(sb, "dbwarden_audit_events_total", "Audit events written.", auditWritten.getAsLong());
        counter(sb, "dbwarden_audit_dropped_total", "Audit events dropped because the audit queue was full.",
                auditDropped.getAsLong());
        counter(sb, "dbwarden_audit_delivered_total", "Audit events delivered to the remote sink.",
                auditDelivered.getAsLong());
        counter(sb, "dbwarden_audit_sink_failures_total", "Failed deliveries to the remote audit sink (retried).",
                auditSinkFailures.getAsLong());
        gauge(sb, "dbwarden_audit_spool_bytes", "Audit events spooled on disk, not yet delivered to the sink.",
                auditPendingBytes.getAsLong());
        gauge(sb, "dbwarden_audit_healthy", "1 while audit events can be recorded, 0 otherwise.",
                auditHealthy.getAsBoolean() ? 1 : 0);
        sb.append("# HELP dbwarden_audit_file_rotations_total Audit file rotations: by the proxy (size limit) or by "
                + "another tool (file moved away or replaced, path opened again).\n");
        sb.append("# TYPE dbwarden_audit_file_rotations_total counter\n");
        sb.append("dbwarden_audit_file_rotations_total{by=\"proxy\"} ").append(auditFileRotations.getAsLong())
                .append('\n');
        sb.append("dbwarden_audit_file_rotations_total{by=\"other\"} ").append(auditFileReopens.getAsLong())
                .append('\n');
        counter(sb, "dbwarden_catalog_failures_total", "Failed connections and lookups of the proxy's catalog "
                + "connection; meanwhile masked results are masked whole and statements that need the catalog "
                + "(masking checks, table rules over partitions and views) are refused.", catalogFailures.getAsLong());
        LongSupplier expiry = clientCertificateExpiry;
        if (expiry != null) {
            gauge(sb, "dbwarden_client_tls_certificate_expiry_seconds",
                    "When the certificate offered to clients expires (Unix time); renewed files are picked up "
                            + "without a restart.", expiry.getAsLong());
        }
        return sb.toString();
    }

    private static void counter(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(" counter\n");
        sb.append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder sb, String name, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(" gauge\n");
        sb.append(name).append(' ').append(value).append('\n');
    }
}
