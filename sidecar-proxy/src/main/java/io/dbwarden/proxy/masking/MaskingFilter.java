package io.dbwarden.proxy.masking;

import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.ResultHandler;
import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.List;
import java.util.Set;

/**
 * Live masking as a result filter. Statements of exempt identities (or with no masking rules) are not looked at;
 * for the others a {@link MaskingHandler} masks each result. DDL that runs through the proxy drops the catalog
 * cache so that column names are looked up again.
 */
public final class MaskingFilter implements ResultFilter, ExecutionListener {
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
    public ResultHandler forStatement(StatementContext context) {
        MaskingRules r = rules;
        return r.isEmpty() ? null : new MaskingHandler(r, catalog, context);
    }

    @Override
    public void onExecution(ExecutionRecord record) {
        if (!record.executed()) {
            return;
        }
        List<SqlToken> tokens = record.statement().tokens();
        if (!tokens.isEmpty() && tokens.get(0).kind() == SqlToken.Kind.WORD && DDL.contains(tokens.get(0).text())) {
            catalog.invalidate();
        }
    }
}
