package io.dbwarden.proxy.filter;

import io.netty.buffer.ByteBuf;

import java.util.Map;
import java.util.concurrent.CompletionStage;

/** Per-statement result processing; see {@link ResultFilter}. Called on the connection's event loop. */
public interface ResultHandler {
    /**
     * A RowDescription ('T') message for the rows that follow (whole frame, read-only). Returns null when the
     * handler is ready for the rows, or a stage that completes when it is (e.g. after a catalog lookup): until
     * then the proxy stops reading from the database and holds what it already read, so rows are never passed
     * on unprocessed. Completion happens on any thread; the proxy resumes on the connection's event loop.
     */
    default CompletionStage<Void> onRowDescription(ByteBuf rowDescription) {
        return null;
    }

    /**
     * A DataRow ('D') message (whole frame). Returns the frame to forward: {@code dataRow} itself, or a new
     * buffer, in which case this method must release {@code dataRow}.
     */
    default ByteBuf onDataRow(ByteBuf dataRow) {
        return dataRow;
    }

    /**
     * A CopyOutResponse ('H') of COPY ... TO STDOUT (whole frame). Like {@link #onRowDescription}, returns null
     * when ready for the data, or a stage that completes when it is.
     */
    default CompletionStage<Void> onCopyOut(ByteBuf copyOutResponse) {
        return null;
    }

    /** A CopyData ('d') message of COPY ... TO STDOUT: one row. Same ownership rules as {@link #onDataRow}. */
    default ByteBuf onCopyData(ByteBuf copyData) {
        return copyData;
    }

    /** The statement completed with this command tag (e.g. "SELECT 3"). */
    default void onComplete(String commandTag) {
    }

    /** Counters for the statement's audit event (e.g. how many values were masked how); never raw values. */
    default Map<String, Long> summary() {
        return Map.of();
    }
}
