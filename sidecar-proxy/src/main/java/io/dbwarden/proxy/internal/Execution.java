package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.netty.buffer.ByteBuf;

import java.util.List;

/** One statement on its way through the database: collects what its audit record needs. */
final class Execution {
    final StatementContext context;
    final Verdict verdict;
    final List<ResultHandler> handlers;
    final String portal;
    /** Extended protocol: the prepared statement behind the portal and the generations of both when bound. */
    final String statementName;
    final int statementGeneration;
    final int portalGeneration;
    private long startNanos;
    private long startMillis;
    private long rowsSeen;
    private boolean started;
    boolean describedToHandlers;

    Execution(StatementContext context, Verdict verdict, List<ResultHandler> handlers, String portal) {
        this(context, verdict, handlers, portal, null, 0, 0);
    }

    Execution(StatementContext context, Verdict verdict, List<ResultHandler> handlers, String portal,
              String statementName, int statementGeneration, int portalGeneration) {
        this.context = context;
        this.verdict = verdict;
        this.handlers = handlers;
        this.portal = portal;
        this.statementName = statementName;
        this.statementGeneration = statementGeneration;
        this.portalGeneration = portalGeneration;
    }

    /** Marks the time the database starts working on it (forwarding, or completion of its predecessor). */
    void start() {
        if (!started) {
            started = true;
            startNanos = System.nanoTime();
            startMillis = System.currentTimeMillis();
        }
    }

    StatementInfo statement() {
        return context.statement();
    }

    /** A row that went on unchanged without passing the handlers (there are none). */
    void onDataRow() {
        rowsSeen++;
    }

    ByteBuf onDataRow(ByteBuf row) {
        rowsSeen++;
        ByteBuf out = row;
        for (ResultHandler h : handlers) {
            out = h.onDataRow(out);
        }
        return out;
    }

    /** Tells the handlers about the columns; returns a stage when one of them needs time, else null. */
    java.util.concurrent.CompletionStage<Void> onRowDescription(ByteBuf description) {
        describedToHandlers = true;
        return whenAllReady(h -> h.onRowDescription(description));
    }

    java.util.concurrent.CompletionStage<Void> onCopyOut(ByteBuf response) {
        return whenAllReady(h -> h.onCopyOut(response));
    }

    /** Asks every handler; null when all are ready at once, else a stage completing when all are. */
    private java.util.concurrent.CompletionStage<Void> whenAllReady(
            java.util.function.Function<ResultHandler, java.util.concurrent.CompletionStage<Void>> ask) {
        java.util.List<java.util.concurrent.CompletableFuture<Void>> pending = null;
        for (ResultHandler h : handlers) {
            java.util.concurrent.CompletionStage<Void> s = ask.apply(h);
            if (s != null) {
                if (pending == null) {
                    pending = new java.util.ArrayList<>(handlers.size());
                }
                pending.add(s.toCompletableFuture());
            }
        }
        return pending == null ? null
                : java.util.concurrent.CompletableFuture.allOf(pending.toArray(new java.util.concurrent.CompletableFuture<?>[0]));
    }

    ByteBuf onCopyData(ByteBuf data) {
        ByteBuf out = data;
        for (ResultHandler h : handlers) {
            out = h.onCopyData(out);
        }
        return out;
    }

    private java.util.Map<String, Long> summary() {
        if (handlers.isEmpty()) {
            return java.util.Map.of();
        }
        java.util.Map<String, Long> all = new java.util.LinkedHashMap<>();
        for (ResultHandler h : handlers) {
            h.summary().forEach((k, v) -> all.merge(k, v, Long::sum));
        }
        return all;
    }

    ExecutionRecord completed(String tag) {
        for (ResultHandler h : handlers) {
            h.onComplete(tag);
        }
        long rows = tag == null ? rowsSeen : Math.max(io.dbwarden.proxy.postgres.PgMessages.rowsFromTag(tag), rowsSeen);
        return record(true, rows, tag, null, null);
    }

    ExecutionRecord failed(String sqlState, String message) {
        return record(true, rowsSeen, null, sqlState, message);
    }

    /** Blocked by the filter chain: the client got the verdict's error. */
    ExecutionRecord blocked() {
        return record(false, 0, null, verdict.error().sqlState(), verdict.error().message());
    }

    /**
     * Sent to the database, but the session ended before its answer came (the client or the database closed the
     * connection, or the proxy ended the session at shutdown): it may have run, in part or whole.
     */
    ExecutionRecord unanswered(String sqlState, String reason) {
        return record(true, rowsSeen, null, sqlState, reason);
    }

    /**
     * Run by the server as a statement of its own although the proxy read its text as part of this statement's
     * (their splits of the query text differ): recorded as failed, since the session ends.
     */
    ExecutionRecord unseen(String reason) {
        return record(true, 0, null, io.dbwarden.proxy.postgres.PgError.PROTOCOL_VIOLATION, reason);
    }

    /**
     * Sent as a statement of its own, but the server reported no result for it: it read the text as part of the
     * statement before, which ran (and was recorded) with it.
     */
    ExecutionRecord unreported(String reason) {
        return record(true, 0, null, null, reason);
    }

    /** Not run because another statement of the same message or batch failed or was blocked. */
    ExecutionRecord skipped(String reason) {
        return record(false, 0, null, null, reason);
    }

    private ExecutionRecord record(boolean executed, long rows, String tag, String sqlState, String message) {
        if (!started) {
            start();
        }
        Protocol protocol = context.protocol();
        return new ExecutionRecord(context.session(), context.statement(), protocol, verdict, startMillis,
                executed ? System.nanoTime() - startNanos : 0, executed, rows, tag, sqlState, message, summary(),
                context.runs());
    }
}
