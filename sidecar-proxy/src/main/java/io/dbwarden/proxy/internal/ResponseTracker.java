package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.postgres.PgError;
import io.netty.buffer.ByteBuf;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The responses the server still owes, in order. Every forwarded (or injected) message that the server answers
 * adds an entry; responses consume them. This is what lets the proxy attribute rows, tags and errors to the
 * right statement, swallow the answers to its own injected messages, and put its own errors at the exact place
 * in the stream where the server would have put them.
 *
 * <p>Extended-protocol rule mirrored from the server: after an ErrorResponse the server ignores every message
 * until Sync, so those messages owe nothing.
 */
final class ResponseTracker {
    enum Kind { PARSE, BIND, DESCRIBE, EXECUTE, CLOSE, SYNC, QUERY, FUNCTION_CALL }

    /**
     * Receives the answer to a lookup the proxy injected (a catalog query in the session): its rows, its error, and
     * its end (the swallowed ReadyForQuery). Nothing of it reaches the client. Lookups are sent only outside
     * extended-protocol batches, so an error of a batch never makes the server skip one.
     */
    interface Lookup {
        void row(ByteBuf dataRow);

        void failed(java.util.Map<Character, String> errorFields);

        void done();
    }

    /** How a row-limited statement is wrapped: its own transaction (autocommit) or a savepoint (in a transaction). */
    enum Guard { TRANSACTION, SAVEPOINT }

    static final class Expected {
        final Kind kind;
        /** Do not forward this entry's responses to the client. */
        final boolean swallow;
        /** Report this to the client instead of the server's error, when this entry fails. */
        final PgError replacement;
        /** EXECUTE and FUNCTION_CALL: the statement. */
        final Execution execution;
        /** QUERY: the statements of the message, in order. */
        final List<Execution> statements;
        /** DESCRIBE and CLOSE: 'S' or 'P'; target name; DESCRIBE: the target's generation when it was sent. */
        final char describeKind;
        final String name;
        final int generation;
        int index;
        /** Blast radius: the row limit of the statement of this entry (0: none) and how it is wrapped. */
        long maxRows;
        Guard guard;
        /** Who set the limit, for the error: rule "r" of policy "p". */
        String limitedBy;
        /**
         * The statements that followed the row-limited one in the client's query ("BEGIN; UPDATE ...; COMMIT"), sent
         * as a query of their own once it completed within its limit (null: none); {@link #tailText} is that query,
         * or null when another row-limited statement is among them: then {@link #next} goes on with them.
         */
        List<Execution> tail;
        String tailText;
        Runnable next;
        /** Run with the transaction status after this entry's ReadyForQuery (which is then swallowed). */
        java.util.function.IntConsumer afterReady;
        /** Swallow only this entry's CommandComplete / only its ReadyForQuery (guard statements, capped queries). */
        boolean swallowCompletion;
        boolean swallowReady;
        /** An injected lookup query: who gets its answer. */
        Lookup lookup;
        /** FUNCTION_CALL: its outcome is recorded (the answer comes before the entry's ReadyForQuery). */
        boolean answered;
        /**
         * A forwarded Parse of statement {@link #name}: what the session knew under that name before it (null: none;
         * its generation in {@link #generation}, -1: none), restored if the server does not make the statement.
         */
        Prepared previousStatement;

        private Expected(Kind kind, boolean swallow, PgError replacement, Execution execution,
                         List<Execution> statements, char describeKind, String name, int generation) {
            this.kind = kind;
            this.swallow = swallow;
            this.replacement = replacement;
            this.execution = execution;
            this.statements = statements;
            this.describeKind = describeKind;
            this.name = name;
            this.generation = generation;
        }

        /** The statement currently producing results, or null. */
        Execution current() {
            if (kind == Kind.EXECUTE || kind == Kind.FUNCTION_CALL) {
                return execution;
            }
            if (kind == Kind.QUERY && index < statements.size()) {
                return statements.get(index);
            }
            return null;
        }
    }

    private final ArrayDeque<Expected> queue = new ArrayDeque<>();
    /**
     * Queued entries of messages that run a statement (Execute, Query, FunctionCall). Written only on the session's
     * event loop; each write is published (a release store, a plain store on x86) so that a cancel request handled
     * on another thread sees whether a statement may be running at the moment it arrives.
     */
    private int running;
    private static final java.lang.invoke.VarHandle RUNNING;

    static {
        try {
            RUNNING = java.lang.invoke.MethodHandles.lookup().findVarHandle(ResponseTracker.class, "running",
                    int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private boolean serverDiscardingUntilSync;
    private char transactionStatus = 'I';

    /**
     * The entry for a forwarded Bind or Sync. Nothing is ever set on these (only QUERY and EXECUTE entries carry a
     * position, a row limit or swallow flags), so one shared entry per kind serves every session: an extended-protocol
     * query makes two fewer objects. (A forwarded Parse has {@link #parse its own}: it carries what it replaced.)
     */
    static Expected simple(Kind kind) {
        Expected e = SIMPLE[kind.ordinal()];
        if (e == null) {
            throw new IllegalArgumentException("no shared entry for " + kind);
        }
        return e;
    }

    private static final Expected[] SIMPLE = new Expected[Kind.values().length];

    static {
        for (Kind k : List.of(Kind.BIND, Kind.SYNC)) {
            SIMPLE[k.ordinal()] = new Expected(k, false, null, null, null, '\0', null, 0);
        }
    }

    /**
     * A forwarded Parse of statement {@code name}, which replaced {@code previous} (of generation
     * {@code previousGeneration}) in the session's statements: if the server does not make the statement (the Parse
     * fails, a named statement of that name exists already, or an earlier error of the batch makes the server skip
     * it), the session's statement under that name is the previous one again.
     */
    static Expected parse(String name, Prepared previous, int previousGeneration) {
        Expected e = new Expected(Kind.PARSE, false, null, null, null, '\0', name, previousGeneration);
        e.previousStatement = previous;
        return e;
    }

    static Expected injected(Kind kind, PgError replacement) {
        return new Expected(kind, true, replacement, null, null, '\0', null, 0);
    }

    /** A proxy-injected simple Query whose answers (all of them) the client never sees. */
    static Expected injectedQuery() {
        return new Expected(Kind.QUERY, true, null, null, List.of(), '\0', null, 0);
    }

    /** A proxy-injected simple Query whose CommandComplete is swallowed but whose ReadyForQuery (and errors) reach the
     * client in place of the one it swallowed before. */
    static Expected injectedQueryAnsweringClient() {
        Expected e = new Expected(Kind.QUERY, false, null, null, List.of(), '\0', null, 0);
        e.swallowCompletion = true;
        return e;
    }

    /** A proxy-injected simple Query (a catalog lookup) whose answer goes to {@code lookup}, never to the client. */
    static Expected lookup(Lookup lookup) {
        Expected e = new Expected(Kind.QUERY, true, null, null, List.of(), '\0', null, 0);
        e.lookup = lookup;
        return e;
    }

    /** A forwarded FunctionCall: answered by FunctionCallResponse or ErrorResponse, then ReadyForQuery. */
    static Expected functionCall(Execution execution) {
        return new Expected(Kind.FUNCTION_CALL, false, null, execution, null, '\0', null, 0);
    }

    static Expected describe(char describeKind, String name, int generation) {
        return new Expected(Kind.DESCRIBE, false, null, null, null, describeKind, name, generation);
    }

    /** CLOSE of statement ('S') or portal ('P') {@code name}. */
    static Expected close(char kind, String name) {
        return new Expected(Kind.CLOSE, false, null, null, null, kind, name, 0);
    }

    static Expected execute(Execution execution) {
        return new Expected(Kind.EXECUTE, false, null, execution, null, '\0', null, 0);
    }

    static Expected query(List<Execution> statements, PgError replacement) {
        return new Expected(Kind.QUERY, false, replacement, null, statements, '\0', null, 0);
    }

    /** Registers what a message just sent upstream will be answered with. Returns false if the server will ignore it. */
    boolean expect(Expected e) {
        if (serverDiscardingUntilSync && e.kind != Kind.SYNC) {
            return false;
        }
        if (e.kind == Kind.SYNC) {
            serverDiscardingUntilSync = false;
        }
        queue.add(e);
        if (runsStatement(e)) {
            RUNNING.setRelease(this, running + 1);
        }
        return true;
    }

    Expected head() {
        return queue.peek();
    }

    Expected pop() {
        Expected e = queue.poll();
        if (e != null && runsStatement(e)) {
            RUNNING.setRelease(this, running - 1);
        }
        return e;
    }

    private static boolean runsStatement(Expected e) {
        return e.kind == Kind.EXECUTE || e.kind == Kind.QUERY || e.kind == Kind.FUNCTION_CALL;
    }

    boolean idle() {
        return queue.isEmpty();
    }

    /**
     * Whether a statement sent to the server may still be running there: an Execute, a simple Query or a function call
     * is owed an answer. Other owed answers (Parse, Bind, Describe, Close, Sync) are to messages the server handles at
     * once; it may merely hold those answers in its output buffer until the next Sync or Flush.
     */
    boolean statementMayBeRunning() {
        return running > 0;
    }

    /** {@link #statementMayBeRunning} as the session's event loop last published it; callable on any thread. */
    boolean statementMayBeRunningSeenFromAnyThread() {
        return (int) RUNNING.getAcquire(this) > 0;
    }

    /**
     * The statements sent to the server whose answer has not (completely) come, in order: the session is ending
     * without them (each may have run, in part or whole). Leaves the queue as it is.
     */
    List<Execution> unanswered() {
        List<Execution> out = new java.util.ArrayList<>();
        for (Expected e : queue) {
            boolean runs = e.kind == Kind.EXECUTE || e.kind == Kind.FUNCTION_CALL;
            if (runs && e.execution != null && !e.answered) {
                out.add(e.execution);
            } else if (e.kind == Kind.QUERY && e.statements != null) {
                out.addAll(e.statements.subList(Math.min(e.index, e.statements.size()), e.statements.size()));
            }
        }
        return out;
    }

    boolean serverDiscardingUntilSync() {
        return serverDiscardingUntilSync;
    }

    /**
     * Extended-protocol error: drops every entry up to (not including) the next SYNC and returns them; if no SYNC
     * is queued yet, the server now ignores messages until the client's Sync.
     */
    List<Expected> failExtendedBatch() {
        List<Expected> dropped = new java.util.ArrayList<>();
        while (!queue.isEmpty() && queue.peek().kind != Kind.SYNC) {
            dropped.add(pop());
        }
        if (queue.isEmpty()) {
            serverDiscardingUntilSync = true;
        }
        return dropped;
    }

    char transactionStatus() {
        return transactionStatus;
    }

    void transactionStatus(char status) {
        this.transactionStatus = status;
    }
}
