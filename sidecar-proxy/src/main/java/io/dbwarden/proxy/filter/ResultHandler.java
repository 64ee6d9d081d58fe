package io.dbwarden.proxy.filter;

import io.netty.buffer.ByteBuf;

/** Per-statement result processing; see {@link ResultFilter}. Called on the connection's event loop. */
public interface ResultHandler {
    /** A RowDescription ('T') message for the rows that follow (whole frame, read-only). */
    default void onRowDescription(ByteBuf rowDescription) {
    }

    /**
     * A DataRow ('D') message (whole frame). Returns the frame to forward: {@code dataRow} itself, or a new
     * buffer, in which case this method must release {@code dataRow}.
     */
    default ByteBuf onDataRow(ByteBuf dataRow) {
        return dataRow;
    }

    /** The statement completed with this command tag (e.g. "SELECT 3"). */
    default void onComplete(String commandTag) {
    }
}
