package io.dbwarden.proxy.filter;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** The configured filters, in order. Immutable and shared by all connections. */
public final class FilterChain {
    private final List<StatementFilter> statementFilters;
    private final List<ResultFilter> resultFilters;
    private final List<ExecutionListener> executionListeners;

    public FilterChain(List<StatementFilter> statementFilters, List<ResultFilter> resultFilters,
                       List<ExecutionListener> executionListeners) {
        this.statementFilters = List.copyOf(statementFilters);
        this.resultFilters = List.copyOf(resultFilters);
        this.executionListeners = List.copyOf(executionListeners);
    }

    /** {@code text} (a server message field) as the active result filters would let it reach the client. */
    public String maskMessage(String text) {
        String out = text;
        for (ResultFilter f : resultFilters) {
            if (f.active()) {
                out = f.maskMessage(out);
            }
        }
        return out;
    }

    /** Whether some result filter may take an interest in results right now. */
    public boolean hasResultFilters() {
        for (ResultFilter f : resultFilters) {
            if (f.active()) {
                return true;
            }
        }
        return false;
    }

    /**
     * The sum of the statement filters' {@link StatementFilter#version() versions} (each never decreases, so the sum
     * changes exactly when one of them does), or -1 while a filter allows no reuse of its verdicts. A verdict given
     * to a statement under one version is given again under the same.
     */
    public long version() {
        long sum = 0;
        for (StatementFilter f : statementFilters) {
            long v = f.version();
            if (v < 0) {
                return -1;
            }
            sum += v;
        }
        return sum;
    }

    /**
     * Runs the statement filters in order. Completes with the first blocking verdict, else the last AUDIT verdict,
     * else the last non-null verdict. A filter that throws or fails blocks the statement.
     */
    public CompletionStage<Verdict> evaluate(StatementContext context) {
        return evaluateFrom(0, context, Verdict.allow());
    }

    private CompletionStage<Verdict> evaluateFrom(int index, StatementContext context, Verdict soFar) {
        Verdict current = soFar;
        for (int i = index; i < statementFilters.size(); i++) {
            CompletionStage<Verdict> stage;
            try {
                stage = statementFilters.get(i).onStatement(context);
            } catch (RuntimeException e) {
                return CompletableFuture.completedFuture(FilterFailures.blocked(statementFilters.get(i), e));
            }
            if (stage instanceof CompletableFuture<Verdict> cf && cf.isDone() && !cf.isCompletedExceptionally()) {
                Verdict v = cf.join();
                if (!v.forwards()) {
                    return cf;
                }
                current = merge(current, v);
                continue;
            }
            int next = i + 1;
            Verdict base = current;
            StatementFilter filter = statementFilters.get(i);
            CompletionStage<Verdict> rest = stage.handle((v, err) -> err != null || v == null
                            ? FilterFailures.blocked(filter, err)
                            : v)
                    .thenCompose(v -> v.forwards() ? evaluateFrom(next, context, merge(base, v))
                            : CompletableFuture.completedFuture(v));
            return stage instanceof PendingVerdict ? PendingVerdict.following(rest, stage) : rest;
        }
        return current == Verdict.allow() ? Verdict.allowNow() : CompletableFuture.completedFuture(current);
    }

    /** Forwarding verdicts combine: AUDIT beats ALLOW, a filter without an opinion keeps what was decided, every
     * row limit holds (the smallest wins), and the combination covers the fewest runs any of them covers. */
    private static Verdict merge(Verdict soFar, Verdict next) {
        Verdict kept = next == Verdict.allow()
                || (soFar.decision() == Decision.AUDIT && next.decision() == Decision.ALLOW) ? soFar : next;
        long limit = soFar.maxRows() == 0 ? next.maxRows()
                : next.maxRows() == 0 ? soFar.maxRows() : Math.min(soFar.maxRows(), next.maxRows());
        Verdict.Runs runs = soFar.runs().min(next.runs());
        return kept.maxRows() == limit && kept.runs() == runs ? kept
                : new Verdict(kept.decision(), kept.policy(), kept.rule(), kept.reason(), null, limit, runs);
    }

    /** Result handlers of all interested result filters for one statement; empty list when none. */
    public List<ResultHandler> resultHandlers(StatementContext context) {
        if (resultFilters.isEmpty()) {
            return List.of();
        }
        List<ResultHandler> handlers = new ArrayList<>(resultFilters.size());
        for (ResultFilter f : resultFilters) {
            ResultHandler h = f.forStatement(context);
            if (h != null) {
                handlers.add(h);
            }
        }
        return handlers;
    }

    public void recordExecution(ExecutionRecord record) {
        for (ExecutionListener l : executionListeners) {
            try {
                l.onExecution(record);
            } catch (RuntimeException e) {
                FilterFailures.listenerFailed(l, e);
            }
        }
    }
}
