package io.dbwarden.proxy.policy;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalyzer;

/** Decides the first statement of a SQL text under a policy engine, analysed as the proxy analyses it. */
final class StatementDecider implements AutoCloseable {
    private final StatementAnalyzer analyzer = new StatementAnalyzer(1000, 1 << 20, 5_000, 1);

    Verdict decide(PolicyEngine engine, String sql) {
        StatementInfo s = StatementInfo.of(SqlText.split(sql, true).get(0));
        return engine.decide(analyzer.analyzeNow(s));
    }

    @Override
    public void close() {
        analyzer.close();
    }
}
