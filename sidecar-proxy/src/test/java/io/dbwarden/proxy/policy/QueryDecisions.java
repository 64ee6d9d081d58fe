package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.internal.StatementCache;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalyzer;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A query string decided the way the proxy decides it: each statement in order, on both of its paths to one. */
final class QueryDecisions {
    private static final StatementCache STATEMENTS = new StatementCache(1024, 64 * 1024);

    private QueryDecisions() {
    }

    /**
     * The verdict of the first statement the proxy would not forward, else the last statement's. Decided twice, from
     * the proxy's statement cache (one-pass shapes, lazy tokens, the cached literal-free text) and from the token
     * split, which must agree.
     */
    static Verdict decide(PolicyEngine engine, StatementAnalyzer analyzer, String sql) {
        Verdict viaCache = first(engine, analyzer, STATEMENTS.split(sql, true));
        Verdict viaTokens = first(engine, analyzer, SqlText.split(sql, true).stream().map(StatementInfo::of).toList());
        assertThat(viaCache.decision()).as("the proxy's path and the token split decide alike: %s",
                sql.length() > 200 ? sql.substring(0, 200) : sql).isEqualTo(viaTokens.decision());
        return viaCache;
    }

    private static Verdict first(PolicyEngine engine, StatementAnalyzer analyzer, List<StatementInfo> statements) {
        Verdict last = Verdict.allow();
        for (StatementInfo s : statements) {
            last = engine.decide(analyzer.analyzeNow(s));
            if (!last.forwards()) {
                return last;
            }
        }
        return last;
    }
}
