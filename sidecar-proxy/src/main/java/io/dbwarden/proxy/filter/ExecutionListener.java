package io.dbwarden.proxy.filter;

/** Receives one record per statement (executed, failed or blocked). Called on the event loop: never block. */
public interface ExecutionListener {
    void onExecution(ExecutionRecord record);
}
