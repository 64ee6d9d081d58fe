package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.internal.SideConnection;
import io.dbwarden.proxy.masking.RelationGraph;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.sql.Ancestry;
import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.StatementAnalysis;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code dbwarden-proxy check}: what the proxy would decide, offline (or, with {@code --upstream}, with the
 * database's partitions, inheritance children and views looked up as the proxy does). Exit code 0 when every
 * statement would run, 2 when one would be denied, 3 when one would need approval (and none denied), 65 for an
 * invalid policy, 69 when the database given with {@code --upstream} cannot be asked.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Show the decision and matching rule for SQL statements under a policy file (exit code reflects it).")
public final class CheckCommand implements Callable<Integer> {
    public static final int EXIT_DENIED = 2;
    public static final int EXIT_APPROVAL = 3;
    /** --upstream was given and the database could not be asked (sysexits EX_UNAVAILABLE). */
    public static final int EXIT_UNAVAILABLE = 69;

    @Option(names = "--policy", required = true, description = "DatabaseAccessPolicy YAML file.")
    Path policy;

    @Option(names = "--identity", required = true, description = "Identity (namespace/serviceaccount) to check as.")
    String identity;

    @Option(names = "--sql", description = "SQL text (may hold several statements; repeatable).")
    List<String> sql = new ArrayList<>();

    @Option(names = "--sql-file", description = "File with SQL statements.")
    Path sqlFile;

    /** With --upstream: the database whose partitions, children and views the check looks up, as the proxy does. */
    @CommandLine.Mixin
    UpstreamOptions db = new UpstreamOptions();

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
        } else if (engine.tableRules() && db.upstream == null) {
            out.println("note: tables are judged by their names here; the proxy also applies rules about a table to "
                    + "its partitions, inheritance children and the views that read it, which it looks up in the "
                    + "database (give --upstream to do the same)");
        }
        int exit = 0;
        try (StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
             SideConnection database = db.upstream == null || !engine.tableRules() ? null : connection()) {
            Ancestry graph;
            try {
                graph = database == null ? Ancestry.NONE : graph(database);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                err.println("cannot look up partitions, inheritance children and views in " + db.upstream + ": "
                        + (e.getCause() != null ? e.getCause().getMessage() : e.toString()));
                return EXIT_UNAVAILABLE;
            }
            for (String text : texts) {
                for (SqlText.Statement s : SqlText.split(text, true)) {
                    StatementInfo info = StatementInfo.of(s);
                    StatementAnalysis a = analyzer.analyzeNow(info);
                    Verdict v = engine.decide(a, graph);
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

    private SideConnection connection() throws IOException {
        String user = db.user();
        return new SideConnection(ProxyConfig.simple(new HostPort("127.0.0.1", 0), HostPort.parse(db.upstream,
                        "--upstream"))
                .withUpstreamCredentials(user != null ? user : "postgres", db.password())
                .withUpstreamDatabase(db.upstreamDatabase)
                .withUpstreamTls(UpstreamTlsMode.parse(db.upstreamTls != null ? db.upstreamTls : "prefer"),
                        db.upstreamRootCert));
    }

    /** The database's partitions, children and views, loaded once (a check is one moment). */
    private static Ancestry graph(SideConnection database) throws java.util.concurrent.ExecutionException,
            java.util.concurrent.TimeoutException, InterruptedException {
        RelationGraph graph = new RelationGraph(database::query, 3_600_000);
        java.util.concurrent.CompletionStage<Void> loading = graph.ensureLoaded();
        if (loading != null) {
            loading.toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
        return graph.current();
    }
}
