package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Live masking as a result filter. Statements of exempt identities (or with no masking rules) are not looked at;
 * for the others a {@link MaskingHandler} masks each result. DDL that runs through the proxy drops the catalog
 * cache so that column names are looked up again.
 */
public final class MaskingFilter implements ResultFilter, ExecutionListener, StatementFilter {
    private static final Set<String> DDL = Set.of("create", "alter", "drop", "comment");

    private final Catalog catalog;
    private volatile MaskingRules rules;

    public MaskingFilter(MaskingRules rules, Catalog catalog) {
        this.rules = rules;
        this.catalog = catalog;
    }

    public void update(MaskingRules newRules) {
        this.rules = newRules;
        catalog.invalidate();
    }

    @Override
    public boolean active() {
        return !rules.isEmpty();
    }

    @Override
    public ResultHandler forStatement(StatementContext context) {
        MaskingRules r = rules;
        return r.isEmpty() ? null : new MaskingHandler(r, catalog, context);
    }

    /**
     * COPY ... TO STDOUT rows are masked like query rows, in text and CSV format. A COPY TO whose stream the proxy
     * cannot read back exactly (binary format, ENCODING, unusual options) is blocked while results are masked for
     * the identity, rather than let unmasked data out.
     */
    @Override
    public CompletionStage<Verdict> onStatement(StatementContext context) {
        if (rules.isEmpty()) {
            return Verdict.allowNow();
        }
        if (readsColumnStatistics(context.statement())) {
            return CompletableFuture.completedFuture(Verdict.deny(null, "masking-statistics",
                    "column statistics while results are masked", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                            "dbwarden: column statistics (pg_stats, pg_statistic, pg_stats_ext) hold sample values "
                                    + "of masked columns, and results are masked for this identity", null,
                            "Query the tables themselves; their masked columns come out masked.")));
        }
        if (!isCopyOut(context.statement().tokens()) || CopyFormat.parse(context.statement()) != null) {
            return Verdict.allowNow();
        }
        return CompletableFuture.completedFuture(Verdict.deny(null, "masking-copy-out",
                "COPY TO in a format the proxy cannot mask", PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: this COPY ... TO cannot be masked (binary format, ENCODING or unusual options), "
                                + "and results are masked for this identity",
                        null, "Use COPY ... TO STDOUT in text or CSV format (its rows are masked), or SELECT.")));
    }

    /** Catalog relations that keep sample values of columns (most common values, histogram bounds). */
    private static final Set<String> STATISTICS = Set.of("pg_stats", "pg_statistic", "pg_stats_ext",
            "pg_stats_ext_exprs", "pg_statistic_ext_data");

    /** Whether the statement names a statistics relation anywhere (cheap text test first: this runs per statement). */
    static boolean readsColumnStatistics(io.dbwarden.proxy.filter.StatementInfo statement) {
        if (!statement.normalized().contains("pg_stat")) {
            return false;
        }
        for (SqlToken t : statement.tokens()) {
            if ((t.kind() == SqlToken.Kind.WORD || t.kind() == SqlToken.Kind.QUOTED_IDENT)
                    && STATISTICS.contains(t.text())) {
                return true;
            }
        }
        return false;
    }

    static boolean isCopyOut(List<SqlToken> tokens) {
        if (tokens.isEmpty() || !tokens.get(0).isWord("copy")) {
            return false;
        }
        int depth = 0;
        for (SqlToken t : tokens) {
            if (t.isSymbol("(")) {
                depth++;
            } else if (t.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && t.isWord("to")) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void onExecution(ExecutionRecord record) {
        if (!record.executed() || rules.isEmpty()) {
            return; // without rules the catalog is not used; new rules invalidate it (update)
        }
        List<SqlToken> tokens = record.statement().tokens();
        if (!tokens.isEmpty() && tokens.get(0).kind() == SqlToken.Kind.WORD && DDL.contains(tokens.get(0).text())) {
            catalog.invalidate();
        }
    }
}
