package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.FilterChain;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.masking.Detectors;
import io.dbwarden.proxy.postgres.BackendMessageType;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.postgres.PgProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The way back: server messages to the client. Consumes {@link ResponseTracker} entries to attribute results to
 * statements (audit records, result filters), swallows the answers to the proxy's own injected messages and
 * substitutes the proxy's error for theirs. Everything else is forwarded as the raw frame.
 */
final class BackendHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(BackendHandler.class);
    private final ClientRelay relay;
    private final ResponseTracker tracker;
    /** A RowDescription learnt from a Describe, for one generation of a statement or portal name. */
    private record Described(int generation, ByteBuf description) {
    }

    /** Kept only when result filters need them (rows of a reused statement come without a RowDescription). */
    private final Map<String, Described> portalDescriptions = new HashMap<>();
    private final Map<String, Described> statementDescriptions = new HashMap<>();
    /** Frames read while a result handler prepares; processed in order when it is ready. */
    private final java.util.ArrayDeque<ByteBuf> held = new java.util.ArrayDeque<>();
    private boolean paused;
    private ChannelHandlerContext ctx;

    BackendHandler(ClientRelay relay) {
        this.relay = relay;
        this.tracker = relay.tracker();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** Nothing read from the database waits here to be processed. */
    boolean idle() {
        return !paused && held.isEmpty();
    }

    /** A batch of whole server messages (see {@link io.dbwarden.proxy.postgres.PgFrameDecoder}), in order. */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf batch = (ByteBuf) msg;
        try {
            int end = batch.writerIndex();
            for (int i = batch.readerIndex(); i < end; ) {
                int length = io.dbwarden.proxy.postgres.PgFrameDecoder.frameLength(batch, i);
                if (!paused && batch.getByte(i) == 'D' && rowPassesUnchanged()) {
                    // a row no result handler looks at: counted, and forwarded as part of the batch without a
                    // message object of its own (a large result is mostly rows)
                    relay.forwardToClient(batch, i, length);
                    i += length;
                    continue;
                }
                if (!PgMessages.wellFormedBackend(batch, i, length)) {
                    throw new PgProtocolException(PgError.PROTOCOL_VIOLATION, "dbwarden: malformed '" + (char)
                            batch.getByte(i) + "' message from the database; closing the session to stay safe");
                }
                ByteBuf frame = batch.retainedSlice(i, length);
                if (paused) {
                    held.add(frame);
                } else {
                    relay.serverFrame(frame, batch, i, length);
                    process(frame);
                }
                i += length;
            }
        } finally {
            relay.endServerBatch(); // before the batch goes: the run is a slice of it
            batch.release();
        }
    }

    private void process(ByteBuf frame) {
        BackendMessageType type = BackendMessageType.of(PgMessages.type(frame));
        if (answersStatement(type) && pastItsStatements(tracker.head())) {
            frame.release();
            throw unseenStatement(type);
        }
        switch (type) {
            case DATA_ROW -> onDataRow(frame);
            case ROW_DESCRIPTION -> onRowDescription(frame);
            case COMMAND_COMPLETE -> onCompletion(frame, PgMessages.commandTag(frame), false);
            case EMPTY_QUERY_RESPONSE -> onCompletion(frame, null, false);
            case PORTAL_SUSPENDED -> onCompletion(frame, null, true);
            case PARSE_COMPLETE -> consume(frame, ResponseTracker.Kind.PARSE);
            case BIND_COMPLETE -> consume(frame, ResponseTracker.Kind.BIND);
            case CLOSE_COMPLETE -> {
                ResponseTracker.Expected head = tracker.head();
                if (head != null && head.kind == ResponseTracker.Kind.CLOSE && head.name != null) {
                    Described d = (head.describeKind == 'S' ? statementDescriptions : portalDescriptions)
                            .remove(head.name);
                    if (d != null) {
                        d.description().release();
                    }
                }
                consume(frame, ResponseTracker.Kind.CLOSE);
            }
            case NO_DATA -> consume(frame, ResponseTracker.Kind.DESCRIBE);
            case ERROR_RESPONSE -> onError(frame);
            case NOTICE_RESPONSE -> {
                if (relay.runtime().chain().hasResultFilters()) {
                    forwardScrubbed(frame, PgMessages.errorFields(frame), 'N');
                } else {
                    relay.forwardToClient(frame);
                }
            }
            case READY_FOR_QUERY -> onReadyForQuery(frame);
            case FUNCTION_CALL_RESPONSE -> onFunctionCallResponse(frame);
            case PARAMETER_STATUS -> {
                Map.Entry<String, String> p = PgMessages.parameterStatus(frame);
                if (relay.acceptParameter(p.getKey(), p.getValue())) {
                    relay.forwardToClient(frame);
                } else {
                    frame.release();
                    ctx.close();
                }
            }
            case COPY_OUT_RESPONSE -> {
                Execution e = currentWithHandlers();
                boolean pause = e != null && pauseFor(e.onCopyOut(frame));
                relay.forwardToClient(frame);
                if (pause) {
                    relay.flush();
                }
            }
            case COPY_DATA -> {
                Execution e = currentWithHandlers();
                relay.forwardToClient(e == null ? frame : e.onCopyData(frame));
            }
            default -> relay.forwardToClient(frame);
        }
    }

    private Execution currentWithHandlers() {
        ResponseTracker.Expected head = tracker.head();
        Execution e = head == null ? null : head.current();
        return e != null && !e.handlers.isEmpty() ? e : null;
    }

    /** Whether a DataRow arriving now goes on unchanged (counting it for its statement), as {@link #onDataRow}. */
    private boolean rowPassesUnchanged() {
        ResponseTracker.Expected head = tracker.head();
        if (head != null && head.lookup != null) {
            return false;
        }
        Execution e = head == null ? null : head.current();
        if (e == null) {
            return !pastItsStatements(head);
        }
        if (!e.handlers.isEmpty()) {
            return false;
        }
        e.onDataRow();
        return true;
    }

    /**
     * Messages that belong to a statement's result (or end it): a query owes one run of them per statement. Not an
     * ErrorResponse: after the last statement, committing the query's implicit transaction can fail.
     */
    private static boolean answersStatement(BackendMessageType type) {
        return switch (type) {
            case ROW_DESCRIPTION, DATA_ROW, COMMAND_COMPLETE, EMPTY_QUERY_RESPONSE, COPY_IN_RESPONSE, COPY_OUT_RESPONSE,
                 COPY_BOTH_RESPONSE -> true;
            default -> false;
        };
    }

    /**
     * Whether the server answers a statement of the client's query text beyond those the proxy found in it: all
     * its statements have completed and the server still sends results. The server read the text as more
     * statements than the proxy did, so one of them ran without its own verdict, and its rows would pass without
     * their result filters.
     */
    private static boolean pastItsStatements(ResponseTracker.Expected head) {
        return head != null && head.kind == ResponseTracker.Kind.QUERY && !head.swallow && head.lookup == null
                && head.statements != null && !head.statements.isEmpty() && head.index >= head.statements.size();
    }

    /**
     * Audits the statement the server ran unseen (attributed to the query text it came in) and ends the session:
     * its results do not reach the client, and nothing more runs on a session whose statements the proxy no longer
     * tells apart.
     */
    private PgProtocolException unseenStatement(BackendMessageType type) {
        ResponseTracker.Expected head = tracker.head();
        Execution last = head.statements.get(head.statements.size() - 1);
        String why = "the server ran more statements than the proxy found in the query text (it answered with "
                + type + " after the last one); the session was closed";
        relay.record(new Execution(last.context, last.verdict, List.of(), null).unseen(why));
        relay.runtime().metrics().statementSplitMismatch(true);
        LOG.error("the server ran a statement the proxy did not see in the query text; closing the session: "
                + "connection={} answer={}", last.context.session().connectionId(), type);
        return new PgProtocolException(PgError.PROTOCOL_VIOLATION, "dbwarden: the database ran more statements than "
                + "the proxy found in the query text, so one of them was not checked; closing the session to stay "
                + "safe");
    }

    private void onDataRow(ByteBuf frame) {
        ResponseTracker.Expected head = tracker.head();
        if (head != null && head.lookup != null) {
            try {
                head.lookup.row(frame);
            } finally {
                frame.release();
            }
            return;
        }
        Execution e = head == null ? null : head.current();
        if (e == null) {
            relay.forwardToClient(frame);
            return;
        }
        if (!e.handlers.isEmpty() && !e.describedToHandlers && e.portal != null) {
            ByteBuf description = descriptionFor(e);
            if (description != null && pauseFor(e.onRowDescription(description))) {
                held.addFirst(frame);
                return;
            }
        }
        relay.forwardToClient(e.onDataRow(frame));
    }

    private void onRowDescription(ByteBuf frame) {
        ResponseTracker.Expected head = tracker.head();
        boolean pause = false;
        if (head != null && head.kind == ResponseTracker.Kind.DESCRIBE) {
            tracker.pop();
            if (relay.runtime().chain().hasResultFilters()) {
                Map<String, Described> map = head.describeKind == 'P' ? portalDescriptions : statementDescriptions;
                Described old = map.put(head.name, new Described(head.generation, frame.copy()));
                if (old != null) {
                    old.description().release();
                }
            }
        } else if (head != null && head.current() != null) {
            pause = pauseFor(head.current().onRowDescription(frame));
        }
        forwardUnlessSwallowed(frame, head);
        if (pause) {
            relay.flush();
        }
    }

    /** The RowDescription for a portal's rows: from Describe of the portal, else of its statement, same generation. */
    private ByteBuf descriptionFor(Execution e) {
        Described p = portalDescriptions.get(e.portal);
        if (p != null && p.generation() == e.portalGeneration) {
            return p.description();
        }
        Described s = e.statementName == null ? null : statementDescriptions.get(e.statementName);
        if (s != null && s.generation() == e.statementGeneration) {
            return s.description();
        }
        return null;
    }

    /**
     * If a result handler needs time before rows may pass, stops reading from the database until it is ready;
     * frames already read wait in order. Returns whether it paused.
     */
    private boolean pauseFor(java.util.concurrent.CompletionStage<Void> ready) {
        if (ready == null || (ready instanceof java.util.concurrent.CompletableFuture<Void> f && f.isDone())) {
            return false;
        }
        paused = true;
        relay.backendPaused(true);
        ready.whenComplete((v, err) -> ctx.executor().execute(() -> {
            try {
                resume();
            } catch (RuntimeException e) {
                // outside a read: ends the session as an error while reading would, instead of leaving it paused
                ctx.pipeline().fireExceptionCaught(e);
            }
        }));
        return true;
    }

    private void resume() {
        paused = false;
        while (!paused && !held.isEmpty()) {
            process(held.poll());
        }
        relay.flush();
        if (!paused) {
            relay.backendPaused(false);
        }
    }

    private void onCompletion(ByteBuf frame, String tag, boolean suspended) {
        ResponseTracker.Expected head = tracker.head();
        if (head == null) {
            frame.release();
            throw desync("completion without an outstanding statement");
        }
        Execution e = head.current();
        long limited = head.maxRows > 0 && e != null && !suspended ? rows(tag) : -1;
        if (limited > head.maxRows) {
            relay.record(e.failed("54000", "rolled back: " + limited + " rows exceed the limit of " + head.maxRows
                    + " set by " + head.limitedBy));
        } else if (e != null) {
            relay.record(e.completed(tag));
        }
        if (head.kind == ResponseTracker.Kind.EXECUTE) {
            tracker.pop();
        } else if (head.kind == ResponseTracker.Kind.QUERY) {
            head.index++;
            Execution next = head.current();
            if (next != null) {
                next.start();
            }
        } else {
            frame.release();
            throw desync("completion while expecting " + head.kind);
        }
        if (limited > head.maxRows || head.swallowCompletion) {
            frame.release(); // above the limit the client gets the proxy's error instead
        } else {
            forwardUnlessSwallowed(frame, head);
        }
        if (limited >= 0) {
            relay.limitedStatementCompleted(head, limited);
        }
    }

    /** Rows a command tag reports (its last number), or 0 when it reports none. */
    private static long rows(String tag) {
        if (tag == null) {
            return 0;
        }
        int space = tag.lastIndexOf(' ');
        try {
            return Long.parseLong(tag.substring(space + 1));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private void consume(ByteBuf frame, ResponseTracker.Kind expected) {
        ResponseTracker.Expected head = tracker.pop();
        if (head == null || head.kind != expected) {
            frame.release();
            throw desync("got the answer to " + expected + " while expecting " + (head == null ? "nothing" : head.kind));
        }
        forwardUnlessSwallowed(frame, head);
    }

    /**
     * While results are masked for this identity, errors and notices go to the client without the row values the
     * server quotes in them; otherwise unchanged.
     */
    private void forwardScrubbed(ByteBuf frame, Map<Character, String> fields, char type) {
        FilterChain chain = relay.runtime().chain();
        if (!chain.hasResultFilters()) {
            relay.forwardToClient(frame);
            return;
        }
        Map<Character, String> scrubbed = type == 'N' || ErrorText.mayQuoteValues(fields.get('C'))
                ? ErrorText.scrubbed(fields) : null;
        // values the server's own code wrote into the text unquoted (RAISE NOTICE '%', email): the detectors
        Map<Character, String> detected = ErrorText.masked(scrubbed != null ? scrubbed : fields, chain::maskMessage);
        scrubbed = detected != null ? detected : scrubbed;
        if (scrubbed == null) {
            relay.forwardToClient(frame);
            return;
        }
        relay.writeToClient(PgMessages.fieldsResponse(frame.alloc(), type, scrubbed));
        frame.release();
    }

    private void onError(ByteBuf frame) {
        Map<Character, String> fields = PgMessages.errorFields(frame);
        String severity = fields.getOrDefault('V', fields.get('S'));
        ResponseTracker.Expected head = tracker.head();
        boolean reachesClient = head == null || (head.lookup == null && !head.swallow && head.replacement == null);
        if (reachesClient && ("FATAL".equals(severity) || "PANIC".equals(severity))) {
            relay.endExplained(); // the client learns why from this message, not from the proxy
        }
        if (head == null) {
            relay.forwardToClient(frame); // asynchronous error, e.g. FATAL on shutdown
            return;
        }
        if (head.lookup != null) {
            frame.release();
            head.lookup.failed(fields);
            return;
        }
        PgError replacement = head.replacement;
        String sqlState = replacement != null ? replacement.sqlState() : fields.get('C');
        String message = replacement != null ? replacement.message() : ErrorText.withoutValues(fields.get('M'));
        if (replacement == null && relay.runtime().chain().hasResultFilters()) {
            message = relay.runtime().chain().maskMessage(message); // the audit gets what the client gets
        }
        if (replacement == null && sqlState != null && sqlState.startsWith("P0")) {
            // a RAISE message is whatever server-side code put into it: the audit keeps it without recognisable values
            message = Detectors.withoutDetectedValues(message);
        }
        if (head.kind == ResponseTracker.Kind.FUNCTION_CALL) {
            head.answered = true;
            relay.record(head.execution.failed(sqlState, message));
        } else if (head.kind == ResponseTracker.Kind.QUERY) {
            Execution e = head.current();
            if (e != null) {
                relay.record(e.failed(sqlState, message));
                for (int i = head.index + 1; i < head.statements.size(); i++) {
                    relay.record(head.statements.get(i).skipped("not executed: an earlier statement of the same "
                            + "query failed"));
                }
                head.index = head.statements.size();
            }
        } else if (head.kind == ResponseTracker.Kind.SYNC) {
            relay.record(implicitCommitFailed(sqlState, message));
        } else {
            List<ResponseTracker.Expected> dropped = tracker.failExtendedBatch();
            for (int i = dropped.size() - 1; i >= 0; i--) { // latest first: each Parse undoes what it replaced
                ResponseTracker.Expected d = dropped.get(i);
                if (d.kind == ResponseTracker.Kind.PARSE && d.name != null) {
                    relay.parseNotDone(d.name, d.previousStatement, d.generation);
                }
            }
            boolean first = true;
            for (ResponseTracker.Expected d : dropped) {
                if (d.lookup != null) {
                    frame.release();
                    throw desync("a catalog lookup of the proxy inside a failed extended-protocol batch");
                }
                if (d != head && d.maxRows > 0 && d.guard != null) {
                    relay.limitedStatementFailed(d); // an earlier message failed: the limited one never ran
                }
                if (d.kind == ResponseTracker.Kind.EXECUTE && d.execution != null) {
                    relay.record(first ? d.execution.failed(sqlState, message)
                            : d.execution.skipped("not executed: an earlier message of the same batch failed"));
                    first = false;
                }
            }
        }
        if (replacement != null) {
            relay.writeToClient(PgMessages.errorResponse(frame.alloc(), replacement));
            frame.release();
        } else {
            forwardScrubbed(frame, fields, 'E');
        }
        if (head.maxRows > 0 && head.guard != null) {
            relay.limitedStatementFailed(head);
        }
    }

    private void onReadyForQuery(ByteBuf frame) {
        ResponseTracker.Expected head = tracker.pop();
        if (head == null || (head.kind != ResponseTracker.Kind.SYNC && head.kind != ResponseTracker.Kind.QUERY
                && head.kind != ResponseTracker.Kind.FUNCTION_CALL)) {
            frame.release();
            throw desync("ReadyForQuery while expecting " + (head == null ? "nothing" : head.kind));
        }
        if (head.kind == ResponseTracker.Kind.SYNC && relay.rollbackBeforeReady()) {
            frame.release(); // the client gets the ReadyForQuery after the proxy's rollback instead
            return;
        }
        if (head.kind == ResponseTracker.Kind.QUERY && head.statements != null
                && head.index < head.statements.size()) {
            recordUnreported(head);
        }
        tracker.transactionStatus(PgMessages.readyForQueryStatus(frame));
        relay.readyForQuery(tracker.transactionStatus());
        if (tracker.transactionStatus() == 'I' && !portalDescriptions.isEmpty()) {
            portalDescriptions.values().forEach(d -> d.description().release()); // portals end with the transaction
            portalDescriptions.clear();
        }
        if (head.swallowReady) {
            frame.release();
        } else {
            forwardUnlessSwallowed(frame, head);
        }
        if (head.lookup != null) {
            head.lookup.done();
        }
        if (head.afterReady != null) {
            head.afterReady.accept(tracker.transactionStatus());
        }
    }

    /**
     * The query ended without an error before the server answered each statement the proxy found in it: the server
     * read the rest as part of the statement before (the proxy splits more finely where unsure, and judged each
     * part on its own). Each part is recorded, so that no text the client sent is missing from the audit.
     */
    private void recordUnreported(ResponseTracker.Expected head) {
        int from = head.index;
        for (int i = from; i < head.statements.size(); i++) {
            relay.record(head.statements.get(i).unreported("the server reported no result of its own for this "
                    + "part of the query text: it ran as part of the statement before"));
        }
        LOG.warn("the server read statements of a query text as part of the one before them: connection={} "
                + "statements={} unanswered={}", relay.session().connectionId(), head.statements.size(),
                head.statements.size() - from);
        head.index = head.statements.size();
        relay.runtime().metrics().statementSplitMismatch(false);
    }

    /** What an error answering Sync is about: the implicit transaction the extended protocol commits there. */
    private static final StatementInfo IMPLICIT_COMMIT = new StatementInfo("", List.of(),
            "<commit of the implicit transaction at sync>", "0000000000000000", "");

    /**
     * The server commits the implicit transaction of an extended-protocol batch at Sync, after its statements
     * completed (and were recorded as such): an error there (a deferred constraint, a serialization failure, the
     * session ending) means their changes were rolled back. Recorded as its own event, as a failing COMMIT would
     * be in a transaction block.
     */
    private ExecutionRecord implicitCommitFailed(String sqlState, String message) {
        StatementContext c = new StatementContext(relay.session(), IMPLICIT_COMMIT, Protocol.EXTENDED,
                tracker.transactionStatus());
        return new Execution(c, Verdict.allow(), List.of(), null).failed(sqlState, "the implicit transaction did "
                + "not commit at Sync, so the changes of the statements before it were rolled back: " + message);
    }

    /** The result of a forwarded function call: one value, counted as the call's one row. */
    private void onFunctionCallResponse(ByteBuf frame) {
        ResponseTracker.Expected head = tracker.head();
        if (head == null || head.kind != ResponseTracker.Kind.FUNCTION_CALL) {
            frame.release();
            throw desync("FunctionCallResponse while expecting " + (head == null ? "nothing" : head.kind));
        }
        head.execution.onDataRow();
        head.answered = true;
        relay.record(head.execution.completed(null));
        relay.forwardToClient(frame);
    }

    private void forwardUnlessSwallowed(ByteBuf frame, ResponseTracker.Expected head) {
        if (head != null && head.swallow) {
            frame.release();
        } else {
            relay.forwardToClient(frame);
        }
    }

    private PgProtocolException desync(String what) {
        return new PgProtocolException(PgError.PROTOCOL_VIOLATION, "dbwarden: lost track of the server's responses ("
                + what + "); closing the session to stay safe");
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!paused) {
            relay.flush();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        relay.updateClientAutoRead();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        portalDescriptions.values().forEach(d -> d.description().release());
        portalDescriptions.clear();
        statementDescriptions.values().forEach(d -> d.description().release());
        statementDescriptions.clear();
        held.forEach(ByteBuf::release);
        held.clear();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof PgProtocolException p) {
            relay.runtime().metrics().protocolError();
            LOG.error("closing session: connection={} reason={}", relay.session().connectionId(), p.getMessage());
            relay.endExplained();
            relay.writeToClient(PgMessages.errorResponse(ctx.alloc(), PgError.fatal(p.sqlState(), p.getMessage())));
            relay.flush();
        } else if (c instanceof IOException) {
            LOG.debug("upstream connection error: connection={} error={}", relay.session().connectionId(), c.toString());
        } else {
            LOG.error("unexpected error on upstream connection: connection={}", relay.session().connectionId(), c);
        }
        ctx.close();
    }
}
