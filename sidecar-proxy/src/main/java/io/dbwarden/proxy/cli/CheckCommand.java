package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code dbwarden-proxy check}: what the proxy would decide, offline. Exit code 0 when every statement would run,
 * 2 when one would be denied, 3 when one would need approval (and none denied), 65 for an invalid policy.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Show the decision and matching rule for SQL statements under a policy file (exit code reflects it).")
public final class CheckCommand implements Callable<Integer> {
    public static final int EXIT_DENIED = 2;
    public static final int EXIT_APPROVAL = 3;

    @Option(names = "--policy", required = true, description = "DatabaseAccessPolicy YAML file.")
    Path policy;

    @Option(names = "--identity", required = true, description = "Identity (namespace/serviceaccount) to check as.")
    String identity;

    @Option(names = "--sql", description = "SQL text (may hold several statements; repeatable).")
    List<String> sql = new ArrayList<>();

    @Option(names = "--sql-file", description = "File with SQL statements.")
    Path sqlFile;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<DatabaseAccessPolicy> policies;
        try {
            policies = PolicyLoader.load(policy);
        } catch (PolicyLoader.PolicyException e) {
            err.println(e.getMessage());
            return DbwardenProxyCli.EXIT_INVALID_POLICY;
        }
        List<String> texts = new ArrayList<>(sql);
        if (sqlFile != null) {
            texts.add(Files.readString(sqlFile));
        }
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("give statements with --sql or --sql-file");
        }
        PolicyEngine engine = PolicyEngine.of(policies, identity);
        if (engine.applicable().isEmpty()) {
            out.println("note: no policy in " + policy + " applies to identity " + identity);
        } else if (engine.tableRules()) {
            out.println("note: tables are judged by their names here; the proxy also applies rules about a table to "
                    + "its partitions, inheritance children and the views that read it, which it looks up in the "
                    + "database");
        }
        int exit = 0;
        try (StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1)) {
            for (String text : texts) {
                for (SqlText.Statement s : SqlText.split(text, true)) {
                    StatementInfo info = StatementInfo.of(s);
                    StatementAnalysis a = analyzer.analyzeNow(info);
                    Verdict v = engine.decide(a);
                    out.println(PolicyEngine.summary(v) + "  " + info.normalized());
                    out.println("    kinds=" + a.kinds() + " tables=" + a.tables()
                            + (a.tablesComplete() ? "" : " (incomplete)") + " functions=" + a.functions()
                            + (a.withoutWhere() ? " without-where" : "") + (a.classified() ? "" : " unclassified: "
                            + a.problem()));
                    if (v.error() != null) {
                        out.println("    error: " + v.error().message());
                        if (v.error().detail() != null) {
                            out.println("    detail: " + v.error().detail());
                        }
                        out.println("    hint: " + v.error().hint());
                    } else if (v.reason() != null) {
                        out.println("    " + v.reason());
                    }
                    if (v.decision() == Decision.DENY) {
                        exit = EXIT_DENIED;
                    } else if (v.decision() == Decision.REQUIRE_APPROVAL && exit == 0) {
                        exit = EXIT_APPROVAL;
                    }
                }
            }
        }
        out.flush();
        return exit;
    }
}
