package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.PendingVerdict;
import io.dbwarden.proxy.filter.Protocol;
import io.dbwarden.proxy.filter.SessionInfo;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.FrontendMessageType;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.postgres.BoundValues;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.postgres.PgProtocolException;
import io.dbwarden.proxy.postgres.RepeatedNames;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Relays one session's client messages upstream through the statement filters, and owns the session state that
 * {@link BackendHandler} needs for the way back.
 *
 * <p>Blocked statements never reach the database. The client gets an ErrorResponse exactly where the server would
 * have put its own, and the session stays consistent: inside a transaction block (or an extended-protocol batch,
 * which is an implicit transaction) the proxy sends a statement that is certain to fail, so that the server
 * aborts the transaction just as if the blocked statement had failed there, and shows the client the proxy's
 * error in place of that failure.
 */
final class ClientRelay {
    private static final Logger LOG = LoggerFactory.getLogger(ClientRelay.class);
    /** Fails in parse analysis on every server version; only its error's position in the stream matters. */
    static final String ABORT_PROBE_SQL = "SELECT 'dbwarden: statement blocked by the proxy'::pg_catalog.int4";

    private final ProxyRuntime runtime;
    private final ChannelHandlerContext client;
    private final Channel upstream;
    private final SessionInfo session;
    private final ResponseTracker tracker = new ResponseTracker();
    private Charset charset = StandardCharsets.UTF_8;
    private boolean standardConformingStrings = true;
    /** A driver's repeated Parse (the same unnamed statement) and Bind (the same names) are not decoded again. */
    private final RepeatedNames<PgMessages.Parse> parses = new RepeatedNames<>(PgMessages.Parse::new);
    private final RepeatedNames<PgMessages.Bind> binds = new RepeatedNames<>(PgMessages.Bind::new);

    private final Map<String, Prepared> preparedStatements = new HashMap<>();
    /** SQL-level cursors and prepared statements of the session (DECLARE/PREPARE), for FETCH and EXECUTE. */
    private final SqlObjects sqlObjects = new SqlObjects(() -> standardConformingStrings);
    private final Map<String, Bound> portals = new HashMap<>();
    /**
     * Generation of each statement and portal name, bumped by every Parse / Bind: a RowDescription learnt from a
     * Describe belongs to one generation, so it is never applied to a later statement or portal of the same name.
     */
    private final Map<String, Integer> statementGenerations = new HashMap<>();
    private final Map<String, Integer> portalGenerations = new HashMap<>();
    private int nextGeneration;

    /**
     * A portal made by Bind: its statement (as last judged for it) and whether it has run: an Execute of a suspended
     * portal continues that run.
     */
    private static final class Bound {
        private Prepared prepared;
        private final String statementName;
        private final int statementGeneration;
        private final int generation;
        /** The values bound, when the statement's verdict depended on them; else null. */
        private final BoundValues values;
        private boolean started;

        Bound(Prepared prepared, String statementName, int statementGeneration, int generation, BoundValues values) {
            this.prepared = prepared;
            this.statementName = statementName;
            this.statementGeneration = statementGeneration;
            this.generation = generation;
            this.values = values;
        }

        Prepared prepared() {
            return prepared;
        }

        String statementName() {
            return statementName;
        }

        int statementGeneration() {
            return statementGeneration;
        }

        int generation() {
            return generation;
        }
    }
    /** Parse, Bind, Describe, Execute or Close came since the last Sync: the server is inside an extended batch. */
    private boolean extendedBatchOpen;
    /** Non-null after a blocked Parse: the proxy drops the client's messages until Sync, like the server would. */
    private PgError discardingUntilSync;

    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    private boolean awaitingVerdict;
    /** A row-limited statement is running: the client's next messages wait until the proxy has ended its guard. */
    private boolean awaitingCap;
    /** Extended protocol: a guarded statement failed; the client's Sync must end the proxy's transaction too. */
    private boolean rollbackAfterSync;
    /** Transaction status as of the messages forwarded so far (the last ReadyForQuery plus transaction control since). */
    private char batchStatus = 'I';
    private int guardSeq;
    static final String SAVEPOINT = "dbwarden_blast_radius";
    private boolean upstreamNeedsFlush;
    private boolean clientNeedsFlush;
    private boolean terminating;

    ClientRelay(ProxyRuntime runtime, ChannelHandlerContext client, Channel upstream, SessionInfo session) {
        this.runtime = runtime;
        this.client = client;
        this.upstream = upstream;
        this.session = session;
        this.clientRun = new ForwardRun(client);
        this.upstreamRun = new ForwardRun(upstream);
    }

    SessionInfo session() {
        return session;
    }

    ResponseTracker tracker() {
        return tracker;
    }

    ProxyRuntime runtime() {
        return runtime;
    }

    boolean terminating() {
        return terminating;
    }

    /**
     * The client has been told why the session ends (the server's FATAL or PANIC error, or the proxy's own), so the
     * database connection's close that follows needs no message of its own.
     */
    private boolean endExplained;

    void endExplained() {
        endExplained = true;
    }

    boolean isEndExplained() {
        return endExplained;
    }

    // ------------------------------------------------------------------ client -> upstream

    /** Client messages forwarded unchanged, not yet written upstream. */
    private final ForwardRun upstreamRun;

    /**
     * A frame of {@code batch} (at {@code start}, {@code length} bytes) from the client. The caller ends the batch
     * with {@link #endClientBatch()} before releasing it.
     */
    void onClientFrame(ByteBuf frame, ByteBuf batch, int start, int length) {
        upstreamRun.current(frame, batch, start, length);
        try {
            onClientFrame(frame);
        } finally {
            upstreamRun.noCurrent();
        }
    }

    /** Writes the run of client messages forwarded unchanged from the batch that ends now. */
    void endClientBatch() {
        upstreamRun.endBatch();
    }

    void onClientFrame(ByteBuf frame) {
        if (awaitingVerdict || awaitingCap || !held.isEmpty()) {
            held.add(frame);
            return;
        }
        process(frame);
    }

    private void process(ByteBuf frame) {
        FrontendMessageType type = FrontendMessageType.of(PgMessages.type(frame));
        if (discardingUntilSync != null && type != FrontendMessageType.SYNC && type != FrontendMessageType.FLUSH
                && type != FrontendMessageType.TERMINATE && type != FrontendMessageType.UNKNOWN) {
            // an unknown type is a protocol violation even here (the server, too, ends the session over it)
            frame.release();
            return;
        }
        // until the next Sync the server is in an extended-protocol batch (an implicit transaction)
        extendedBatchOpen |= type.extendedQuery();
        switch (type) {
            case QUERY -> onQuery(frame);
            case PARSE -> onParse(frame);
            case BIND -> onBind(frame);
            case EXECUTE -> onExecute(frame);
            case DESCRIBE -> {
                PgMessages.Target t = decode(frame, PgMessages::target);
                Map<String, Integer> gens = t.kind() == 'S' ? statementGenerations : portalGenerations;
                forward(frame, ResponseTracker.describe(t.kind(), t.name(), gens.getOrDefault(t.name(), -1)));
            }
            case CLOSE -> {
                PgMessages.Target t = decode(frame, PgMessages::target);
                if (t.kind() == 'S') {
                    preparedStatements.remove(t.name());
                    statementGenerations.remove(t.name());
                } else {
                    portals.remove(t.name());
                    portalGenerations.remove(t.name());
                }
                forward(frame, ResponseTracker.close(t.kind(), t.name()));
            }
            case SYNC -> {
                discardingUntilSync = null;
                extendedBatchOpen = false;
                forward(frame, ResponseTracker.simple(ResponseTracker.Kind.SYNC));
            }
            case FLUSH, COPY_DATA, COPY_DONE, COPY_FAIL -> forward(frame, null);
            case FUNCTION_CALL -> onFunctionCall(frame);
            case TERMINATE -> {
                terminating = true;
                upstreamRun.emit();
                if (onTerminate != null && onTerminate.getAsBoolean()) {
                    frame.release(); // the connection serves another session (see UpstreamPool)
                } else {
                    upstream.writeAndFlush(frame);
                }
                client.channel().close();
            }
            default -> {
                int code = PgMessages.type(frame);
                frame.release();
                throw new PgProtocolException(PgError.PROTOCOL_VIOLATION, "invalid frontend message type " + code);
            }
        }
    }

    // ------------------------------------------------------------------ function calls

    /** Built-in functions (OIDs below FirstNormalObjectId) resolved in this session: their names do not change. */
    private final Map<Integer, String[]> builtInFunctions = new HashMap<>();
    private static final int FIRST_NORMAL_OBJECT_ID = 16384;
    /** The function call whose OID is being looked up (the client's next messages wait meanwhile). */
    private FunctionLookup pendingCall;

    /**
     * FunctionCall: the server would run the function with this OID. The proxy first asks the server (in this
     * session, so the session's database and transaction see the same catalog) which function that is, then decides
     * the call as {@code SELECT schema.function($1, ...)}, so that rules naming functions, the server-function
     * guards and the audit apply as they do to SQL. The client's next messages wait meanwhile. An OID that names no
     * function is refused without reaching the server (a function created under that OID in between cannot run).
     */
    private void onFunctionCall(ByteBuf frame) {
        PgMessages.FunctionCall call = decode(frame, (f, cs) -> PgMessages.functionCall(f));
        if (tracker.serverDiscardingUntilSync()) {
            frame.release(); // after an extended-protocol error the server ignores it until Sync, and owes nothing
            return;
        }
        if (extendedBatchOpen) {
            // the lookup would end the batch's implicit transaction before the call runs in it: refused like a
            // blocked Parse (the batch fails and rolls back); no driver sends a call before its batch's Sync
            frame.release();
            PgError refusal = PgError.error(PgError.FEATURE_NOT_SUPPORTED, "dbwarden: a function call inside an "
                    + "extended-protocol batch is not supported", null, "Send Sync before the function call.");
            recordUnresolvedCall(call, "function call inside an extended-protocol batch", refusal);
            blockExtended(refusal);
            return;
        }
        String[] name = builtInFunctions.get(call.functionOid());
        if (name != null) {
            decideFunctionCall(frame, call, name);
            return;
        }
        awaitingVerdict = true;
        updateClientAutoRead();
        pendingCall = new FunctionLookup(frame, call);
        forward(PgMessages.query(upstream.alloc(), "SELECT n.nspname, p.proname FROM pg_catalog.pg_proc p"
                + " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = "
                + Integer.toUnsignedString(call.functionOid()) + "::pg_catalog.oid", charset),
                ResponseTracker.lookup(pendingCall));
    }

    /** The answer to the injected catalog query of one function call; continues with the call at its end. */
    private final class FunctionLookup implements ResponseTracker.Lookup {
        private final ByteBuf frame;
        private final PgMessages.FunctionCall call;
        private String[] name;
        private Map<Character, String> error;

        FunctionLookup(ByteBuf frame, PgMessages.FunctionCall call) {
            this.frame = frame;
            this.call = call;
        }

        @Override
        public void row(ByteBuf dataRow) {
            int[] offsets = io.dbwarden.proxy.postgres.DataRows.columnOffsets(dataRow);
            if (offsets.length == 2 && dataRow.getInt(offsets[0]) >= 0 && dataRow.getInt(offsets[1]) >= 0) {
                name = new String[] {
                        dataRow.toString(offsets[0] + 4, dataRow.getInt(offsets[0]), charset),
                        dataRow.toString(offsets[1] + 4, dataRow.getInt(offsets[1]), charset)};
            }
        }

        @Override
        public void failed(Map<Character, String> errorFields) {
            error = errorFields;
        }

        /** The call's frame, once: null when the session has let go of it (closed) or it was taken already. */
        private ByteBuf take() {
            if (pendingCall != this) {
                return null;
            }
            pendingCall = null;
            return frame;
        }

        @Override
        public void done() {
            if (take() == null) {
                return;
            }
            awaitingVerdict = false;
            if (!client.channel().isActive()) {
                frame.release();
                return;
            }
            if (name != null && error == null) {
                if (Integer.compareUnsigned(call.functionOid(), FIRST_NORMAL_OBJECT_ID) < 0
                        && builtInFunctions.size() < 256) {
                    builtInFunctions.put(call.functionOid(), name);
                }
                decideFunctionCall(frame, call, name);
            } else {
                refuseUnresolvedCall(frame, call, error);
            }
            if (!awaitingVerdict && !awaitingCap) {
                drainHeld();
            } else {
                flush();
            }
        }
    }

    /**
     * A function call whose OID the lookup did not resolve: no function of that OID (the server's own error, 42883),
     * or the lookup failed in this session's state (an aborted transaction, a cancel), whose error the call would have
     * met as well. Recorded and answered without reaching the server.
     */
    private void refuseUnresolvedCall(ByteBuf frame, PgMessages.FunctionCall call, Map<Character, String> error) {
        frame.release();
        String oid = Integer.toUnsignedString(call.functionOid());
        PgError refusal = error == null
                ? PgError.error("42883", "function with OID " + oid + " does not exist", null, null)
                : PgError.error(error.getOrDefault('C', PgError.INSUFFICIENT_PRIVILEGE),
                ErrorText.withoutValues(error.getOrDefault('M', "function lookup failed")), null,
                "dbwarden could not resolve the function of this function call (OID " + oid + ").");
        recordUnresolvedCall(call, "function of the call not resolved", refusal);
        blockSimple(refusal);
    }

    /** Audits a function call refused before its function was known, as {@code <function call of OID n>}. */
    private void recordUnresolvedCall(PgMessages.FunctionCall call, String reason, PgError refusal) {
        StatementInfo statement = new StatementInfo("", List.of(), "<function call of OID "
                + Integer.toUnsignedString(call.functionOid()) + ">", "0000000000000000", "");
        record(new Execution(new StatementContext(session, statement, Protocol.FUNCTION_CALL,
                tracker.transactionStatus()), Verdict.deny(null, null, reason, refusal), List.of(), null).blocked());
    }

    private void decideFunctionCall(ByteBuf frame, PgMessages.FunctionCall call, String[] name) {
        StringBuilder sql = new StringBuilder("SELECT ").append(identifier(name[0])).append('.')
                .append(identifier(name[1])).append('(');
        for (int i = 1; i <= call.arguments(); i++) {
            sql.append(i > 1 ? ", $" : "$").append(i);
        }
        List<StatementInfo> parts = runtime.statements().split(sql.append(')').toString(), true);
        boolean analysed = parts != null && parts.size() == 1;
        StatementInfo s = analysed ? parts.get(0) : UNSPLIT_STATEMENT;
        List<StatementContext> contexts = List.of(new StatementContext(session, s, Protocol.FUNCTION_CALL,
                tracker.transactionStatus(), cancelToken(), sqlObjects.resolve(s)));
        evaluateSplit(contexts, analysed, verdicts -> applyFunctionCall(frame, contexts.get(0), verdicts[0]), frame);
    }

    /** A name as SQL: bare when it reads the same unquoted, else double-quoted. */
    static String identifier(String name) {
        return name.matches("[a-z_][a-z0-9_]*") ? name : '"' + name.replace("\"", "\"\"") + '"';
    }

    private void applyFunctionCall(ByteBuf frame, StatementContext c, Verdict v) {
        PgError refusal = null;
        String reason = null;
        List<io.dbwarden.proxy.filter.ResultHandler> handlers = v.forwards() ? runtime.chain().resultHandlers(c)
                : List.of();
        if (v.forwards() && v.maxRows() > 0) {
            reason = "row limit on a function call";
            refusal = PgError.error(PgError.FEATURE_NOT_SUPPORTED, "dbwarden: " + limitedBy(v) + " limits the rows "
                    + "this call may change, and a function call does not report the rows it changed", null,
                    "Call the function with a SQL statement (SELECT f(...)).");
        } else if (!handlers.isEmpty()) {
            reason = "function-call result cannot be masked";
            refusal = PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: results are masked for this session, "
                    + "and the result of a function call cannot be", null,
                    "Call the function with a SQL statement (SELECT f(...)).");
        }
        Verdict verdict = refusal == null ? v : Verdict.deny(v.policy(), v.rule(), reason, refusal);
        Execution e = new Execution(c, verdict, List.of(), null);
        if (!verdict.forwards()) {
            frame.release();
            record(e.blocked());
            blockSimple(verdict.error());
            return;
        }
        e.start();
        forward(frame, ResponseTracker.functionCall(e));
    }

    /** Decodes a client message; a malformed one is released here before the protocol error closes the session. */
    private <T> T decode(ByteBuf frame, java.util.function.BiFunction<ByteBuf, Charset, T> decoder) {
        try {
            return decoder.apply(frame, charset);
        } catch (PgProtocolException e) {
            frame.release();
            throw e;
        }
    }

    private void forward(ByteBuf frame, ResponseTracker.Expected expected) {
        if (expected != null) {
            tracker.expect(expected);
        }
        // an unchanged client message joins the run of adjacent ones: one write for a pipelined batch
        if (!upstreamRun.join(frame)) {
            upstreamRun.emit();
            upstream.write(frame, upstream.voidPromise());
        }
        upstreamNeedsFlush = true;
    }

    private void onQuery(ByteBuf frame) {
        String sql = decode(frame, PgMessages::queryText);
        split(sql, frame, statements -> {
            List<StatementContext> contexts = new ArrayList<>(statements == null ? 1 : statements.size());
            for (StatementInfo s : statements == null ? List.of(UNSPLIT_STATEMENT) : statements) {
                contexts.add(new StatementContext(session, s, Protocol.SIMPLE, tracker.transactionStatus(),
                        cancelToken(), sqlObjects.resolve(s)));
                sqlObjects.sent(s); // in stream order: a FETCH later in the same text finds its DECLARE
            }
            evaluateSplit(contexts, statements != null, verdicts -> applyQuery(frame, contexts, verdicts), frame);
        });
    }

    /** Query texts from this length on are split and normalized on a worker, not on the event loop. */
    static final int OFFLOADED_SPLIT_LENGTH = 256 * 1024;

    /**
     * Splits a query text into its statements and continues on the event loop with them (null if the text could
     * not be analysed, which fails closed). A very large text (a bulk INSERT of megabytes, say) is lexed on a
     * worker: lexing is linear but takes milliseconds per megabyte, and the event loop serves other sessions
     * meanwhile; this session's reads pause as they do while a statement awaits its verdict.
     */
    private void split(String sql, ByteBuf frame, java.util.function.Consumer<List<StatementInfo>> then) {
        boolean scs = standardConformingStrings;
        if (sql.length() < OFFLOADED_SPLIT_LENGTH) {
            then.accept(runtime.statements().split(sql, scs));
            return;
        }
        awaitingVerdict = true;
        updateClientAutoRead();
        runtime.statements().splitAsync(sql, scs)
                .whenComplete((statements, err) -> onEventLoop(() -> {
                    awaitingVerdict = false;
                    if (!client.channel().isActive()) {
                        frame.release();
                        return;
                    }
                    if (err != null) {
                        LOG.warn("query text could not be analysed, blocked: connection={} length={} error={}",
                                session.connectionId(), sql.length(), err.toString());
                    }
                    then.accept(err != null ? null : statements);
                    if (!awaitingVerdict && !awaitingCap) {
                        drainHeld();
                    } else {
                        flush();
                    }
                }));
    }

    /**
     * Evaluates the statements of a split text, unless they are decided already: a text that could not be analysed
     * fails closed, and a cancel that came while it was being split answers the first statement as cancelled.
     */
    private void evaluateSplit(List<StatementContext> contexts, boolean analysed, VerdictsConsumer then,
                               ByteBuf frame) {
        boolean cancelled = cancelPending;
        cancelPending = false;
        Verdict early = !analysed ? FailClosed.VERDICT : cancelled && !contexts.isEmpty() ? Cancelled.VERDICT : null;
        if (early == null) {
            evaluate(contexts, then, frame);
            return;
        }
        Verdict[] verdicts = new Verdict[contexts.size()];
        verdicts[0] = early;
        then.accept(verdicts);
    }

    private void applyQuery(ByteBuf frame, List<StatementContext> contexts, Verdict[] verdicts) {
        int blocked = firstBlocked(verdicts);
        int limited = firstLimited(verdicts);
        if (blocked < 0 && limited >= 0 && batchStatus != 'E'
                && (contexts.size() == 1 || (limited >= 1
                && contexts.get(0).statement().normalized().matches("(begin|start transaction)\\b.*")
                && noCopyBefore(contexts, lastLimited(verdicts))))) {
            awaitingCap = true;
            updateClientAutoRead();
            if (limited == 0) {
                guarded(frame, contexts, verdicts, 0);
                return;
            }
            // "BEGIN; ...; <limited statement>; ...": what comes before it as a query of its own, then it guarded,
            // then the rest (the same way up to the next row-limited statement, if any); all inside the client's
            // transaction, as the one query string would have run
            frame.release();
            if (limited == 1) {
                // "BEGIN; <limited statement>" (how drivers open a transaction): BEGIN does not fail, so the
                // statement follows at once
                ResponseTracker.Expected q = ResponseTracker.query(executions(contexts, verdicts, 0, 1), null);
                q.swallowReady = true;
                forwardQuery(PgMessages.query(upstream.alloc(), joined(contexts, 0, 1), charset), q);
                guarded(null, contexts, verdicts, 1);
                return;
            }
            upTo(contexts, verdicts, 0, limited);
            return;
        }
        if (blocked < 0 && limited >= 0 && batchStatus != 'E') {
            frame.release();
            Verdict v = verdicts[limited];
            for (int i = 0; i < contexts.size(); i++) {
                Execution e = new Execution(contexts.get(i), v, List.of(), null);
                record(i == limited ? e.failed("0A000", "row-limited statement not sent on its own")
                        : e.skipped("not executed: statement " + (limited + 1) + " of the same query has a row limit"));
            }
            blockSimple(PgError.error(PgError.FEATURE_NOT_SUPPORTED, "dbwarden: " + limitedBy(v) + " limits the rows "
                    + "this statement may change; send it as a query of its own", null,
                    "Send the row-limited statement alone, or in a query string that starts with BEGIN "
                            + "(\"BEGIN; UPDATE ...; COMMIT\") and has no COPY before a row-limited statement."));
            return;
        }
        if (blocked < 0) {
            forwardQuery(frame, ResponseTracker.query(executions(contexts, verdicts, 0, contexts.size()), null));
            return;
        }
        frame.release();
        for (int i = 0; i < contexts.size(); i++) {
            Verdict v = verdicts[i] != null ? verdicts[i] : verdicts[blocked];
            Execution e = new Execution(contexts.get(i), v, List.of(), null);
            record(i == blocked ? e.blocked()
                    : e.skipped("not executed: statement " + (blocked + 1) + " of the same query was blocked"));
        }
        blockSimple(verdicts[blocked].error());
    }

    /** Answers a blocked Query (or function call) with the error and a ReadyForQuery, in stream order. */
    private void blockSimple(PgError error) {
        if (tracker.serverDiscardingUntilSync()) {
            return; // the server would ignore this message too; it owes no answer
        }
        if (tracker.idle() && tracker.transactionStatus() != 'T') {
            writeToClient(PgMessages.errorResponse(client.alloc(), error));
            writeToClient(PgMessages.readyForQuery(client.alloc(), tracker.transactionStatus()));
            return;
        }
        injectProbe(error, false);
    }

    /**
     * Sends the failing probe whose error the client sees as {@code error}, at this point of the stream: a Query, or
     * Parse/Bind/Execute of the unnamed statement in the extended protocol (the server then discards until Sync).
     */
    private void injectProbe(PgError error, boolean extended) {
        if (!extended) {
            forward(PgMessages.query(upstream.alloc(), ABORT_PROBE_SQL, charset), ResponseTracker.query(List.of(), error));
            return;
        }
        forward(PgMessages.parse(upstream.alloc(), ABORT_PROBE_SQL, charset),
                ResponseTracker.injected(ResponseTracker.Kind.PARSE, error));
        forward(PgMessages.bindUnnamed(upstream.alloc()), ResponseTracker.injected(ResponseTracker.Kind.BIND, error));
        forward(PgMessages.executeUnnamed(upstream.alloc()),
                ResponseTracker.injected(ResponseTracker.Kind.EXECUTE, error));
    }

    private void onParse(ByteBuf frame) {
        PgMessages.Parse parse = decode(frame, parses::decode);
        byte[] parameterTypes = decode(frame, (f, c) -> PgMessages.parseParameterTypes(f));
        split(parse.sql(), frame, parts -> onParse(frame, parse, parameterTypes, parts));
    }

    private void onParse(ByteBuf frame, PgMessages.Parse parse, byte[] parameterTypes, List<StatementInfo> parts) {
        StatementInfo whole = parts == null ? UNSPLIT_STATEMENT : parts.size() == 1 ? parts.get(0)
                : StatementInfo.of(new io.dbwarden.proxy.sql.SqlText.Statement(parse.sql(),
                        io.dbwarden.proxy.sql.SqlText.lazyTokens(parse.sql(), standardConformingStrings), parse.sql()));
        List<StatementContext> contexts = new ArrayList<>(parts == null ? 1 : Math.max(1, parts.size()));
        for (StatementInfo s : parts == null || parts.isEmpty() ? List.of(whole) : parts) {
            contexts.add(new StatementContext(session, s, Protocol.EXTENDED, tracker.transactionStatus(), cancelToken(),
                    sqlObjects.resolve(s)));
        }
        long chainVersion = runtime.chain().version(); // before the verdicts: a change meanwhile re-judges later
        evaluateSplit(contexts, parts != null, verdicts -> {
            int blocked = firstBlocked(verdicts);
            Verdict verdict = blocked >= 0 ? verdicts[blocked] : mergedForwarding(verdicts);
            if (blocked < 0 && tracker.serverDiscardingUntilSync()) {
                // an earlier message of the batch failed: the server skips this Parse, the name keeps its meaning
                forward(frame, null);
                return;
            }
            if (blocked < 0) {
                String name = parse.statementName();
                Prepared previous = preparedStatements.put(name, new Prepared(whole, verdict, chainVersion,
                        parameterTypes));
                Integer previousGeneration = statementGenerations.put(name, ++nextGeneration);
                forward(frame, ResponseTracker.parse(name, previous, previousGeneration == null ? -1
                        : previousGeneration));
                return;
            }
            frame.release();
            preparedStatements.remove(parse.statementName());
            statementGenerations.put(parse.statementName(), ++nextGeneration);
            StatementContext c = new StatementContext(session, whole, Protocol.EXTENDED, tracker.transactionStatus());
            record(new Execution(c, verdict, List.of(), null).blocked());
            blockExtended(verdict.error());
        }, frame);
    }

    /**
     * The server did not make statement {@code name} of a forwarded Parse (it failed, or was skipped after an earlier
     * error of its batch): as in the server, the name means what it meant before, so that a Bind of it is judged by
     * the statement the server will run, never by the text of the Parse that did not take.
     */
    void parseNotDone(String name, Prepared previous, int previousGeneration) {
        if (previous == null) {
            preparedStatements.remove(name);
        } else {
            preparedStatements.put(name, previous);
        }
        if (previousGeneration < 0) {
            statementGenerations.remove(name);
        } else {
            statementGenerations.put(name, previousGeneration);
        }
    }

    /** A Bind or Execute of something no judged message of the session made: audited, then blocked like a Parse. */
    private void refuseUnknown(String portal, Verdict refusal) {
        record(new Execution(new StatementContext(session, UNKNOWN_STATEMENT, Protocol.EXTENDED,
                tracker.transactionStatus()), refusal, List.of(), portal).blocked());
        blockExtended(refusal.error());
    }

    /** A blocked Parse: error now (in stream order), drop the client's messages until Sync. */
    private void blockExtended(PgError error) {
        discardingUntilSync = error;
        if (tracker.serverDiscardingUntilSync()) {
            return; // an earlier message of this batch failed; the server already reported and will roll back
        }
        injectProbe(error, true);
    }

    private void onBind(ByteBuf frame) {
        PgMessages.Bind bind = decode(frame, binds::decode);
        Prepared p = preparedStatements.get(bind.statementName());
        if (p == null) {
            // not prepared by a Parse the proxy judged: a SQL-level PREPARE, a Parse the proxy blocked (the server
            // may still hold an older statement of that name), or a name closed or never made. What it would run
            // is unknown here, so it does not run.
            frame.release();
            portals.remove(bind.portalName());
            portalGenerations.put(bind.portalName(), ++nextGeneration);
            // a name with a generation but no statement: its last Parse was blocked (a Close forgets both)
            refuseUnknown(null, statementGenerations.containsKey(bind.statementName())
                    ? Verdict.deny(null, "unknown-prepared-statement", "bind to a statement whose Parse was blocked",
                            PgError.error("26000", "dbwarden: prepared statement \"" + bind.statementName()
                                    + "\" does not exist: the proxy blocked its Parse", null, "See the error that "
                                    + "Parse got; prepare the statement again once the policy allows it."))
                    : Verdict.deny(null, "unknown-prepared-statement", "bind to a statement the proxy did not see "
                            + "prepared", PgError.error("26000", "dbwarden: prepared statement \""
                            + bind.statementName() + "\" was not prepared with Parse in this session, so the proxy "
                            + "cannot tell what it runs", null, "Prepare it with Parse (driver-level prepared "
                            + "statements do); a statement made with SQL PREPARE runs with EXECUTE.")));
            return;
        }
        long version = runtime.chain().version();
        BoundValues values = p.dependsOnValues() ? boundValues(frame, p) : null;
        if (!p.holdsForBind(version, values == null ? null : values.digest())) {
            rejudgeBind(frame, bind, p, version, values != null ? values : boundValues(frame, p));
            return;
        }
        bind(frame, bind, p, values);
    }

    /** The values a Bind of {@code p} supplies, with the parameter types its Parse declared. */
    private BoundValues boundValues(ByteBuf bindFrame, Prepared p) {
        return decode(bindFrame, (f, c) -> BoundValues.of(f, p.parameterTypes()));
    }

    /**
     * A Bind of a statement judged under another state of the filters, whose verdict for one run has run, or that
     * needs an approval of the values bound (given for other values, or none yet): judged again, with the digest of
     * the values this Bind supplies, before the server plans the statement for the portal (planning can already
     * evaluate functions).
     */
    private void rejudgeBind(ByteBuf frame, PgMessages.Bind bind, Prepared p, long version, BoundValues values) {
        judgeAgain(frame, p, bind.statementName(), bind.portalName(), version, values, () -> {
            portals.remove(bind.portalName());
            portalGenerations.put(bind.portalName(), ++nextGeneration);
        }, judged -> bind(frame, bind, judged, values));
    }

    /**
     * Judges a prepared statement again, as a statement sent now would be (sync or async). Refused: the message is
     * dropped, {@code refused} runs, the refusal is audited and the batch fails like after a blocked Parse. Allowed:
     * the session keeps the new verdict for the statement (unless a Parse replaced it meanwhile) and {@code then}
     * goes on with it.
     */
    private void judgeAgain(ByteBuf frame, Prepared p, String statementName, String portal, long version,
                            BoundValues values, Runnable refused, java.util.function.Consumer<Prepared> then) {
        StatementContext c = new StatementContext(session, p.statement(), Protocol.EXTENDED,
                tracker.transactionStatus(), cancelToken(), sqlObjects.resolve(p.statement()), values);
        evaluateSplit(List.of(c), true, verdicts -> {
            Verdict verdict = verdicts[0].runs() == Verdict.Runs.NONE ? valuesNotKept(verdicts[0]) : verdicts[0];
            if (!verdict.forwards()) {
                frame.release();
                refused.run();
                record(new Execution(c, verdict, List.of(), portal).blocked());
                blockExtended(verdict.error());
                return;
            }
            // a verdict for one run given with bound values (an approval of them) holds for those values only
            Prepared judged = new Prepared(p.statement(), verdict, version, p.parameterTypes(),
                    verdict.once() && values != null ? values.digest() : null);
            if (preparedStatements.get(statementName) == p) {
                preparedStatements.put(statementName, judged);
            }
            then.accept(judged);
        }, frame);
    }

    /**
     * A verdict for no run (an approval of bound values is needed) where the values are not known: an Execute of a
     * portal bound while its statement did not need them (a policy changed in between). Refused.
     */
    private static Verdict valuesNotKept(Verdict v) {
        return Verdict.deny(v.policy(), v.rule(), "approval of bound values required after the portal was bound",
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: " + (v.reason() == null ? "approval required"
                        : v.reason()) + "; the statement now needs an approval of the values bound to it, and this "
                        + "portal was bound before that", null, "Bind the statement again: the approval is asked for "
                        + "at the Bind, with its values."));
    }

    /**
     * Sends a Bind of a statement whose verdict holds, making the portal the session's Executes refer to;
     * {@code values}: the digest of the values bound, when known.
     */
    private void bind(ByteBuf frame, PgMessages.Bind bind, Prepared p, BoundValues values) {
        int generation = ++nextGeneration;
        portalGenerations.put(bind.portalName(), generation);
        portals.put(bind.portalName(), new Bound(p, bind.statementName(),
                statementGenerations.getOrDefault(bind.statementName(), -1), generation, values));
        forward(frame, ResponseTracker.simple(ResponseTracker.Kind.BIND));
    }

    private void onExecute(ByteBuf frame) {
        String portal = decode(frame, PgMessages::executePortal);
        Bound b = portals.get(portal);
        if (b == null) {
            // a portal no Bind of this session made: a cursor made with SQL DECLARE (FETCH reads those, judged as
            // the cursor's query), or none at all
            frame.release();
            refuseUnknown(portal, Verdict.deny(null, "unknown-portal", "execute of a portal the proxy did not see "
                    + "bound", PgError.error("34000", "dbwarden: portal \"" + portal + "\" was not made by Bind in "
                    + "this session, so the proxy cannot tell what it returns", null,
                    "Read a cursor declared with SQL DECLARE with FETCH.")));
            return;
        }
        long version = runtime.chain().version();
        if (!b.prepared().holdsUnder(version, b.started)) {
            rejudgeExecute(frame, portal, b, version);
            return;
        }
        execute(frame, portal, b);
    }

    /**
     * An Execute of a statement judged at its Parse under another state of the filters (a policy reloaded since, the
     * table graph changed, the audit log unable to record events), or whose verdict was for one run that has run (an
     * approval's use): the verdict no longer holds, so the statement is judged again, as a statement sent now would
     * be. Refused, the Execute fails like a blocked Parse (the batch discarded until Sync); allowed, it runs with the
     * new verdict, which the session keeps for the statement's next executions under this version.
     */
    private void rejudgeExecute(ByteBuf frame, String portal, Bound b, long version) {
        judgeAgain(frame, b.prepared(), b.statementName(), portal, version, b.values, () -> { }, judged -> {
            b.prepared = judged; // the portal's next Executes run under the new verdict too
            execute(frame, portal, b);
        });
    }

    /** Sends an Execute of a portal whose statement's verdict holds. */
    private void execute(ByteBuf frame, String portal, Bound b) {
        Prepared p = b.prepared(); // a Bind of a statement the proxy did not judge never makes a portal
        StatementInfo statement = p.statement();
        Verdict verdict = p.verdict();
        StatementContext c = new StatementContext(session, statement, Protocol.EXTENDED, tracker.transactionStatus(),
                () -> false, sqlObjects.resolve(statement));
        sqlObjects.sent(statement);
        if (!b.started) {
            b.started = true;
            p.ran(); // an approval's one run is this one: the statement's other and later portals ask again
        }
        Execution e = new Execution(c, verdict, runtime.chain().resultHandlers(c), portal, b.statementName(),
                b.statementGeneration(), b.generation());
        e.start();
        if (verdict.maxRows() > 0 && batchStatus != 'E' && !tracker.serverDiscardingUntilSync()) {
            ResponseTracker.Guard guard = openGuard(true);
            ResponseTracker.Expected x = ResponseTracker.execute(e);
            x.maxRows = verdict.maxRows();
            x.guard = guard;
            x.limitedBy = limitedBy(verdict);
            awaitingCap = true;
            updateClientAutoRead();
            forward(frame, x);
            // the server buffers extended-protocol answers until Sync or Flush; the client's Sync waits for the guard
            forward(PgMessages.flush(upstream.alloc()), null);
            return;
        }
        forward(frame, ResponseTracker.execute(e));
        trackTransactionControl(statement.normalized());
    }

    // ------------------------------------------------------------------ blast-radius guard

    /**
     * Sends the row-limited statement {@code contexts[limited]} inside a guard ({@link #openGuard}): as the client's
     * {@code frame} when it is the whole query, else as a query of its own; the statements after it in the client's
     * query go once it completed within its limit ({@link #limitedStatementCompleted}).
     */
    private void guarded(ByteBuf frame, List<StatementContext> contexts, Verdict[] verdicts, int limited) {
        StatementContext c = contexts.get(limited);
        Execution e = new Execution(c, verdicts[limited], runtime.chain().resultHandlers(c), null);
        ResponseTracker.Guard guard = openGuard(false);
        ResponseTracker.Expected q = ResponseTracker.query(List.of(e), null);
        q.maxRows = verdicts[limited].maxRows();
        q.guard = guard;
        q.limitedBy = limitedBy(verdicts[limited]);
        if (limited + 1 < contexts.size()) {
            int next = firstLimited(verdicts, limited + 1);
            if (next < 0) {
                q.tail = executions(contexts, verdicts, limited + 1, contexts.size());
                q.tailText = joined(contexts, limited + 1, contexts.size());
            } else {
                // another row-limited statement follows: the statements up to it, then it guarded, and so on
                q.tail = skippable(contexts, verdicts, limited + 1);
                q.next = () -> upTo(contexts, verdicts, limited + 1, next);
            }
        }
        e.start();
        if (frame != null) {
            forward(frame, q);
        } else {
            forward(PgMessages.query(upstream.alloc(), c.statement().text(), charset), q);
        }
    }

    /**
     * Runs the statements {@code [from, limited)} of a query string as a query of their own (the client's transaction
     * goes on), then, once they succeeded, the row-limited statement {@code limited} guarded.
     */
    private void upTo(List<StatementContext> contexts, Verdict[] verdicts, int from, int limited) {
        if (from == limited) {
            guarded(null, contexts, verdicts, limited);
            return;
        }
        ResponseTracker.Expected q = ResponseTracker.query(executions(contexts, verdicts, from, limited), null);
        q.swallowReady = true;
        // they may fail: the rest waits for their answer
        q.afterReady = status -> afterStatementsBefore((char) status, contexts, verdicts, limited);
        forwardQuery(PgMessages.query(upstream.alloc(), joined(contexts, from, limited), charset), q);
    }

    /** Executions of the statements from {@code from} on, only to be recorded as not run. */
    private List<Execution> skippable(List<StatementContext> contexts, Verdict[] verdicts, int from) {
        List<Execution> executions = new ArrayList<>(contexts.size() - from);
        for (int i = from; i < contexts.size(); i++) {
            executions.add(new Execution(contexts.get(i), verdicts[i], List.of(), null));
        }
        return executions;
    }

    /**
     * The statements before a row-limited one of the same query string have run (the server's transaction status
     * now {@code status}): failed, the rest is not run and the client gets the ReadyForQuery the proxy held back;
     * else the limited statement goes, guarded.
     */
    private void afterStatementsBefore(char status, List<StatementContext> contexts, Verdict[] verdicts, int limited) {
        if (status == 'E') {
            for (int i = limited; i < contexts.size(); i++) {
                record(new Execution(contexts.get(i), verdicts[i], List.of(), null)
                        .skipped("not executed: a statement before it in the same query failed"));
            }
            writeToClient(PgMessages.readyForQuery(client.alloc(), status));
            endGuard();
            return;
        }
        guarded(null, contexts, verdicts, limited);
    }

    /**
     * No COPY among the statements before {@code limited}: the client's messages wait while they run, so the data
     * of a COPY FROM STDIN could not reach the server.
     */
    private static boolean noCopyBefore(List<StatementContext> contexts, int limited) {
        for (int i = 0; i < limited; i++) {
            if (io.dbwarden.proxy.sql.SqlText.startsWithWord(contexts.get(i).statement().normalized(), "copy")) {
                return false;
            }
        }
        return true;
    }

    /**
     * Sends a Query of the client's statements {@code q.statements} (their first one starts now) and follows the
     * transaction control among them.
     */
    private void forwardQuery(ByteBuf query, ResponseTracker.Expected q) {
        if (!q.statements.isEmpty()) {
            q.statements.getFirst().start();
        }
        forward(query, q);
        for (Execution e : q.statements) {
            trackTransactionControl(e.context.statement().normalized());
        }
    }

    private List<Execution> executions(List<StatementContext> contexts, Verdict[] verdicts, int from, int to) {
        List<Execution> executions = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            StatementContext c = contexts.get(i);
            executions.add(new Execution(c, verdicts[i], runtime.chain().resultHandlers(c), null));
        }
        return executions;
    }

    /**
     * The statements {@code [from, to)} as one query text, each as the client wrote it; the separators on lines of
     * their own, since a statement's source may end in a line comment.
     */
    private static String joined(List<StatementContext> contexts, int from, int to) {
        StringBuilder text = new StringBuilder();
        for (int i = from; i < to; i++) {
            text.append(i > from ? "\n;\n" : "").append(contexts.get(i).statement().source());
        }
        return text.toString();
    }

    private static int firstLimited(Verdict[] verdicts) {
        return firstLimited(verdicts, 0);
    }

    private static int firstLimited(Verdict[] verdicts, int from) {
        for (int i = from; i < verdicts.length; i++) {
            if (verdicts[i] != null && verdicts[i].maxRows() > 0) {
                return i;
            }
        }
        return -1;
    }

    private static int lastLimited(Verdict[] verdicts) {
        for (int i = verdicts.length - 1; i >= 0; i--) {
            if (verdicts[i] != null && verdicts[i].maxRows() > 0) {
                return i;
            }
        }
        return -1;
    }

    private static String limitedBy(Verdict v) {
        return v.rule() == null ? "policy \"" + v.policy() + "\""
                : "rule \"" + v.rule() + "\" of policy \"" + v.policy() + "\"";
    }

    /** Follows BEGIN/COMMIT/ROLLBACK the client sends in an unsynced extended batch. */
    private void trackTransactionControl(String normalized) {
        if (normalized.startsWith("begin") || normalized.startsWith("start transaction")) {
            batchStatus = 'T';
        } else if (normalized.startsWith("commit") || normalized.startsWith("end")
                || normalized.startsWith("abort") || normalized.startsWith("prepare transaction")
                || (normalized.startsWith("rollback") && !normalized.startsWith("rollback to"))) {
            batchStatus = 'I';
        }
    }

    /** The server reported its transaction status with nothing else outstanding: the ground truth again. */
    void readyForQuery(char status) {
        if (tracker.idle()) {
            batchStatus = status;
            if (status == 'I') {
                sqlObjects.transactionEnded();
            }
        }
    }

    /** Wraps the next statement: a savepoint inside a transaction, else a transaction of its own. */
    private ResponseTracker.Guard openGuard(boolean extended) {
        // batchStatus, not the last ReadyForQuery: clients pipeline BEGIN ahead of the statement
        ResponseTracker.Guard guard = batchStatus == 'T' ? ResponseTracker.Guard.SAVEPOINT
                : ResponseTracker.Guard.TRANSACTION;
        inject(guard == ResponseTracker.Guard.SAVEPOINT ? "SAVEPOINT " + SAVEPOINT : "BEGIN", extended);
        if (guard == ResponseTracker.Guard.TRANSACTION) {
            batchStatus = 'T';
        }
        return guard;
    }

    /** Runs a statement of the proxy's own, whose answers the client never sees. */
    private void inject(String sql, boolean extended) {
        if (!extended) {
            forward(PgMessages.query(upstream.alloc(), sql, charset), ResponseTracker.injectedQuery());
            return;
        }
        String name = "dbwarden_guard_" + (++guardSeq);
        forward(PgMessages.parseNamed(upstream.alloc(), name, sql, charset),
                ResponseTracker.injected(ResponseTracker.Kind.PARSE, null));
        forward(PgMessages.bindNamed(upstream.alloc(), name, name, charset),
                ResponseTracker.injected(ResponseTracker.Kind.BIND, null));
        forward(PgMessages.executeNamed(upstream.alloc(), name, charset),
                ResponseTracker.injected(ResponseTracker.Kind.EXECUTE, null));
        forward(PgMessages.close(upstream.alloc(), 'P', name, charset),
                ResponseTracker.injected(ResponseTracker.Kind.CLOSE, null));
        forward(PgMessages.close(upstream.alloc(), 'S', name, charset),
                ResponseTracker.injected(ResponseTracker.Kind.CLOSE, null));
    }

    /**
     * The row-limited statement completed with {@code rows}: keep its effect (release the savepoint, commit its
     * transaction) or, above the limit, roll it back and fail it like a server error would, in stream order.
     */
    void limitedStatementCompleted(ResponseTracker.Expected head, long rows) {
        boolean extended = head.kind == ResponseTracker.Kind.EXECUTE;
        boolean savepoint = head.guard == ResponseTracker.Guard.SAVEPOINT;
        if (!extended) {
            head.swallowReady = true; // the client gets the ReadyForQuery of the proxy's last statement instead
        }
        if (!savepoint) {
            batchStatus = 'I'; // committed or rolled back: the proxy's transaction is over
        }
        if (rows <= head.maxRows) {
            String end = savepoint ? "RELEASE SAVEPOINT " + SAVEPOINT : "COMMIT";
            if (extended) {
                inject(end, true);
            } else if (head.next != null) {
                // the client's query goes on to its next row-limited statement: the guard stays up
                inject(end, false);
                Runnable next = head.next;
                head.next = null;
                head.tail = null;
                next.run();
                return;
            } else if (head.tail != null) {
                // the rest of the client's query answers it, as its single ReadyForQuery would have
                inject(end, false);
                forwardQuery(PgMessages.query(upstream.alloc(), head.tailText, charset),
                        ResponseTracker.query(head.tail, null));
                head.tail = null;
            } else {
                injectAnsweringClient(end);
            }
        } else {
            PgError error = PgError.error("54000", "dbwarden: this statement would change " + rows + " rows, more than "
                    + "the " + head.maxRows + " that " + head.limitedBy + " allows; it was rolled back", null,
                    "Narrow the WHERE clause, or change the rows in batches of at most " + head.maxRows + ".");
            inject(savepoint ? "ROLLBACK TO SAVEPOINT " + SAVEPOINT : "ROLLBACK", extended);
            injectProbe(error, extended);
            skipTail(head);
        }
        endGuard();
    }

    /** The statements after a row-limited one that failed or went over its limit: not run, as after an error. */
    private void skipTail(ResponseTracker.Expected head) {
        head.next = null;
        if (head.tail != null) {
            for (Execution t : head.tail) {
                record(t.skipped("not executed: the row-limited statement before it in the same query failed"));
            }
            head.tail = null;
        }
    }

    /** The row-limited statement failed on its own: the server aborted; end the proxy's transaction as well. */
    void limitedStatementFailed(ResponseTracker.Expected head) {
        skipTail(head);
        if (head.guard == ResponseTracker.Guard.TRANSACTION) {
            if (head.kind == ResponseTracker.Kind.EXECUTE) {
                rollbackAfterSync = true; // the server ignores everything until the client's Sync
            } else {
                head.swallowReady = true;
                injectAnsweringClient("ROLLBACK");
            }
        }
        endGuard();
    }

    /** At the ReadyForQuery after a failed guarded statement: true once, when the proxy must roll back first. */
    boolean rollbackBeforeReady() {
        if (!rollbackAfterSync) {
            return false;
        }
        rollbackAfterSync = false;
        injectAnsweringClient("ROLLBACK");
        return true;
    }

    /** A statement of the proxy's own whose ReadyForQuery (and errors) the client gets in place of a swallowed one. */
    private void injectAnsweringClient(String sql) {
        forward(PgMessages.query(upstream.alloc(), sql, charset), ResponseTracker.injectedQueryAnsweringClient());
    }

    private void endGuard() {
        awaitingCap = false;
        onEventLoop(this::drainHeld);
    }

    /** A query text the proxy could not split (its analysis failed): recorded as such, and blocked. */
    private static final StatementInfo UNSPLIT_STATEMENT = new StatementInfo("", List.of(),
            "<query text that could not be analysed>", "0000000000000000", "");

    /** Statement executed through a portal whose Parse the proxy did not see (SQL-level PREPARE). */
    private static final StatementInfo UNKNOWN_STATEMENT = new StatementInfo("", List.of(),
            "<statement prepared outside the extended protocol>", "0000000000000000", "");

    // ------------------------------------------------------------------ filter evaluation

    /** The client cancelled while a statement waited for its verdict: it is answered as cancelled, not run. */
    private boolean cancelPending;

    /** Bumped by every cancel request: statements created before it see themselves cancelled. */
    private volatile int cancelGeneration;

    /** Whether a cancel request arrived after this point, for a filter that waits (on any thread). */
    private java.util.function.BooleanSupplier cancelToken() {
        int generation = cancelGeneration;
        return () -> cancelGeneration != generation;
    }

    /**
     * What the cancel registry runs when a valid CancelRequest for this session arrives, on the thread that took it
     * in: notes whether a statement may be running at that moment and tells the session on its own event loop.
     */
    Runnable cancelListener() {
        return () -> {
            boolean running = tracker.statementMayBeRunningSeenFromAnyThread();
            client.executor().execute(() -> cancelRequested(running));
        };
    }

    /**
     * A valid CancelRequest for this session arrived; it has also gone to the server. As in PostgreSQL, a cancel
     * stops the statement being worked on, not those queued behind it: while a statement of this session may be
     * running in the server, the server's cancel is the one that counts and a statement the proxy holds behind it
     * (pipelined, awaiting its verdict) goes on. Otherwise (nothing owed, or only answers to messages that run
     * nothing, such as a Close whose CloseComplete the server keeps until Sync) the server is waiting for input and
     * ignores the cancel, so the cancel stops the statement the proxy holds, which the server has not seen.
     *
     * @param runningWhenRequested whether a statement may have been running when the request arrived (on another
     *                             thread): this runs on the session's event loop later, possibly after the answer of
     *                             the statement the server cancelled has been read, which must not make the cancel
     *                             stop the held statement as well
     */
    private void cancelRequested(boolean runningWhenRequested) {
        if (runningWhenRequested || tracker.statementMayBeRunning()) {
            return;
        }
        cancelGeneration++; // only the event loop writes it
        if (awaitingVerdict) {
            cancelPending = true;
        }
    }

    private static final class Cancelled {
        static final Verdict VERDICT = Verdict.deny(null, null, "cancelled by the client while awaiting a decision",
                PgError.error("57014", "canceling statement due to user request", null,
                        "The statement was cancelled before it was sent to the database; it did not run."));
    }

    private interface VerdictsConsumer {
        void accept(Verdict[] verdicts);
    }

    /**
     * Runs the filter chain over each statement; applies the result at once when every filter answered
     * synchronously, else pauses the client until the verdicts arrive and resumes on the event loop.
     */
    private void evaluate(List<StatementContext> contexts, VerdictsConsumer then, ByteBuf frame) {
        evaluateFrom(contexts, new Verdict[contexts.size()], 0, then, frame);
    }

    /** {@link #evaluate} from statement {@code from} on, the verdicts before it already in {@code verdicts}. */
    private void evaluateFrom(List<StatementContext> contexts, Verdict[] verdicts, int from, VerdictsConsumer then,
                              ByteBuf frame) {
        for (int i = from; i < contexts.size(); i++) {
            CompletionStage<Verdict> stage = runtime.chain().evaluate(contexts.get(i));
            if (stage instanceof CompletableFuture<Verdict> cf && cf.isDone() && !cf.isCompletedExceptionally()) {
                verdicts[i] = cf.join();
                if (!verdicts[i].forwards()) {
                    then.accept(verdicts);
                    return;
                }
                continue;
            }
            awaitingVerdict = true;
            updateClientAutoRead();
            int index = i;
            Waiting waits = new Waiting(contexts, verdicts, index, frame, stage);
            waiting = waits;
            stage.whenComplete((v, err) -> onEventLoop(() -> {
                awaitingVerdict = false;
                if (waiting != waits) {
                    return; // the session ended meanwhile: it audited the wait and released the message
                }
                waiting = null;
                Verdict arrived = err != null || v == null ? FailClosed.VERDICT : v;
                if (!client.channel().isActive()) {
                    frame.release();
                    recordLeftWaiting(contexts, verdicts, index, arrived);
                    return;
                }
                verdicts[index] = cancelPending ? Cancelled.VERDICT : arrived;
                cancelPending = false;
                if (verdicts[index].forwards() && index + 1 < contexts.size()) {
                    evaluateFrom(contexts, verdicts, index + 1, then, frame);
                } else {
                    then.accept(verdicts);
                }
                if (!awaitingVerdict && !awaitingCap) {
                    drainHeld();
                } else {
                    flush(); // what was forwarded (e.g. a guarded statement) must reach the server now
                }
            }));
            return;
        }
        then.accept(verdicts);
    }

    /**
     * The client left while statement {@code index} waited for its verdict (an approval, say): it did not run, nor
     * did the statements decided before it in the same message; each is audited with its decision, so that a held
     * request nobody stayed for still shows. (Statements after it were never decided.)
     */
    private void recordLeftWaiting(List<StatementContext> contexts, Verdict[] verdicts, int index, Verdict arrived) {
        for (int j = 0; j <= index; j++) {
            record(new Execution(contexts.get(j), j == index ? arrived : verdicts[j], List.of(), null).skipped(
                    j == index ? "the session ended while the statement awaited its verdict; it did not run"
                            : "not executed: the session ended while statement " + (index + 1) + " of the same "
                            + "query awaited its verdict"));
        }
    }

    /**
     * A statement awaiting an asynchronous verdict, with those of its message decided before it, the message, and
     * the stage the verdict comes from (which may say what holds meanwhile: an approval pending).
     */
    private record Waiting(List<StatementContext> contexts, Verdict[] verdicts, int index, ByteBuf frame,
                           CompletionStage<Verdict> stage) {
    }

    /** Set while a statement awaits its verdict; taken by whichever comes first, the verdict or the session's end. */
    private Waiting waiting;

    /** No verdict came before the session ended (an approval still pending, or the proxy shutting down). */
    private static final class Undecided {
        static final Verdict VERDICT = Verdict.deny(null, null, "no verdict: the session ended first",
                PgError.error(PgError.ADMIN_SHUTDOWN, "dbwarden: the session ended before the statement's verdict "
                        + "arrived; it did not run", null, null));
    }

    private static final class FailClosed {
        static final Verdict VERDICT = Verdict.deny(null, null, "policy evaluation failed",
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE, "dbwarden: statement blocked because a policy check failed",
                        null, "The proxy could not evaluate this statement; it was not executed. Retry, and contact "
                                + "the platform team if this persists."));
    }

    /**
     * Continues the session on its event loop after something completed elsewhere (a verdict, a split, a guard).
     * What such a continuation throws (a malformed message among those held meanwhile) ends the session the way an
     * error while reading does, instead of stopping the continuation and leaving the held messages unprocessed.
     */
    private void onEventLoop(Runnable continuation) {
        client.executor().execute(() -> {
            try {
                continuation.run();
            } catch (RuntimeException e) {
                client.pipeline().fireExceptionCaught(e);
            }
        });
    }

    private void drainHeld() {
        while (!awaitingVerdict && !awaitingCap && !held.isEmpty()) {
            process(held.poll());
        }
        flush();
        updateClientAutoRead();
    }

    private static int firstBlocked(Verdict[] verdicts) {
        for (int i = 0; i < verdicts.length; i++) {
            if (verdicts[i] != null && !verdicts[i].forwards()) {
                return i;
            }
        }
        return -1;
    }

    /**
     * One verdict for the parts of a text prepared with one Parse, all forwarding: the last one (an AUDIT one before
     * an ALLOW one), covering the fewest runs any part's verdict covers.
     */
    private static Verdict mergedForwarding(Verdict[] verdicts) {
        Verdict result = Verdict.allow();
        Verdict.Runs runs = Verdict.Runs.ANY;
        for (Verdict v : verdicts) {
            if (v != null && (result.decision() != Decision.AUDIT || v.decision() == Decision.AUDIT)) {
                result = v;
            }
            if (v != null) {
                runs = runs.min(v.runs());
            }
        }
        return result.runs() == runs ? result : new Verdict(result.decision(), result.policy(), result.rule(),
                result.reason(), null, result.maxRows(), runs);
    }

    // ------------------------------------------------------------------ shared with BackendHandler

    void writeToClient(ByteBuf msg) {
        clientRun.emit();
        client.write(msg, client.voidPromise());
        clientNeedsFlush = true;
    }

    /** Server messages forwarded unchanged, not yet written to the client. */
    private final ForwardRun clientRun;

    /** {@code frame} is {@code [start, start + length)} of the server's {@code batch}, and is being processed now. */
    void serverFrame(ByteBuf frame, ByteBuf batch, int start, int length) {
        clientRun.current(frame, batch, start, length);
    }

    /**
     * Sends a server message on to the client: the frame being processed, unchanged, joins the run of adjacent ones
     * (one write per read); anything else (a masked row, a held frame) is written after the run.
     */
    void forwardToClient(ByteBuf frame) {
        if (clientRun.join(frame)) {
            clientNeedsFlush = true;
        } else {
            writeToClient(frame);
        }
    }

    /** Sends {@code [start, start + length)} of the server's read batch on unchanged (joins the run). */
    void forwardToClient(ByteBuf batch, int start, int length) {
        clientRun.add(batch, start, length);
        clientNeedsFlush = true;
    }

    /** Writes the run of server messages forwarded unchanged from the batch that ends now. */
    void endServerBatch() {
        clientRun.endBatch();
    }

    void record(ExecutionRecord record) {
        if (!record.executed() || record.errorSqlState() != null) {
            sqlObjects.notRun(record.statement());
        }
        runtime.chain().recordExecution(record);
    }

    void flush() {
        upstreamRun.emit();
        clientRun.emit();
        if (upstreamNeedsFlush) {
            upstreamNeedsFlush = false;
            upstream.flush();
        }
        if (clientNeedsFlush) {
            clientNeedsFlush = false;
            client.flush();
        }
        updateClientAutoRead();
    }

    /** Asked when the client sends Terminate: true if it took the upstream connection (Terminate not sent). */
    private java.util.function.BooleanSupplier onTerminate;

    void onTerminate(java.util.function.BooleanSupplier handOff) {
        this.onTerminate = handOff;
    }

    /** The server's reported parameters as the client last saw them (start-up, then ParameterStatus). */
    private final Map<String, String> serverParameters = new HashMap<>();

    Map<String, String> serverParameters() {
        return serverParameters;
    }

    /**
     * Whether the upstream session is as a new one would be after a reset: nothing owed or held, no transaction, no
     * extended-protocol batch open, nothing of this session still to happen in it.
     */
    boolean upstreamReusable() {
        return tracker.idle() && tracker.transactionStatus() == 'I' && !tracker.serverDiscardingUntilSync()
                && !awaitingVerdict && !awaitingCap && held.isEmpty() && waiting == null && pendingCall == null
                && discardingUntilSync == null && !extendedBatchOpen && !rollbackAfterSync && !backendPaused
                && !cancelPending && !endExplained;
    }

    /** The server reported a parameter; returns false (and closes the session) if the proxy cannot follow it. */
    boolean acceptParameter(String name, String value) {
        if (name.equals("standard_conforming_strings")) {
            standardConformingStrings = !"off".equalsIgnoreCase(value);
        } else if (name.equals("client_encoding")) {
            Charset cs = charsetOf(value);
            if (cs == null) {
                LOG.warn("unsupported client_encoding, closing session: connection={} encoding={}",
                        session.connectionId(), value);
                endExplained = true;
                clientRun.emit();
                client.writeAndFlush(PgMessages.errorResponse(client.alloc(), PgError.fatal(
                        PgError.FEATURE_NOT_SUPPORTED, "dbwarden: client_encoding " + value
                                + " is not supported by the proxy",
                        "Use UTF8 (recommended), SQL_ASCII, LATIN1, LATIN9 or WIN1252.")))
                        .addListener(ChannelFutureListener.CLOSE);
                return false;
            }
            charset = cs;
        }
        serverParameters.put(name, value);
        return true;
    }

    private static Charset charsetOf(String pgEncoding) {
        return switch (pgEncoding.toUpperCase(java.util.Locale.ROOT).replace("-", "").replace("_", "")) {
            case "UTF8", "UNICODE" -> StandardCharsets.UTF_8;
            case "SQLASCII", "LATIN1", "ISO88591" -> StandardCharsets.ISO_8859_1;
            case "LATIN9", "ISO885915" -> Charset.forName("ISO-8859-15");
            case "WIN1252" -> Charset.forName("windows-1252");
            default -> null;
        };
    }

    void updateClientAutoRead() {
        boolean read = !awaitingVerdict && !awaitingCap && upstream.isWritable();
        if (client.channel().config().isAutoRead() != read) {
            client.channel().config().setAutoRead(read);
        }
    }

    /** Set by the backend while a result handler prepares (catalog lookup): no reading from the database. */
    private boolean backendPaused;

    void backendPaused(boolean paused) {
        this.backendPaused = paused;
        updateUpstreamAutoRead();
    }

    void updateUpstreamAutoRead() {
        boolean read = client.channel().isWritable() && !backendPaused;
        if (upstream.config().isAutoRead() != read) {
            upstream.config().setAutoRead(read);
        }
    }

    /**
     * The session ends before the server has answered some statements it was sent: each is audited with what ended
     * the session ({@code sqlState}, {@code reason}), since it reached the database and may have run. A statement
     * still awaiting its verdict is audited now too, as not run: the verdict may come much later (an approval) or,
     * when the proxy is shutting down, never. Called once, when the client connection has closed and no further
     * answer is read.
     */
    void abandon(String sqlState, String reason) {
        for (Execution e : tracker.unanswered()) {
            record(e.unanswered(sqlState, reason));
        }
        Waiting w = waiting;
        if (w != null) {
            waiting = null;
            w.frame().release(); // the verdict's continuation may never run (the proxy may be stopping)
            Verdict meanwhile = PendingVerdict.meanwhile(w.stage());
            recordLeftWaiting(w.contexts(), w.verdicts(), w.index(), meanwhile != null ? meanwhile : Undecided.VERDICT);
        }
    }

    /** The connection is gone: release what is still held. */
    void release() {
        while (!held.isEmpty()) {
            held.poll().release();
        }
        if (pendingCall != null) {
            pendingCall.frame.release();
            pendingCall = null;
        }
    }
}
