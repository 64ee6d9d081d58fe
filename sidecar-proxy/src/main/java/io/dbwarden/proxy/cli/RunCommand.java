package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DatabaseTarget;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.ProxyServer;
import io.dbwarden.proxy.admin.AdminServer;
import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.approval.OperatorApprovals;
import io.dbwarden.proxy.audit.AuditGate;
import io.dbwarden.proxy.audit.AuditLog;
import io.dbwarden.proxy.audit.AuditRotation;
import io.dbwarden.proxy.audit.AuditSink;
import io.dbwarden.proxy.config.ClientAuthMode;
import io.dbwarden.proxy.config.ConfigFiles;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.LiveConfig;
import io.dbwarden.proxy.config.ProxyConfig;
import io.dbwarden.proxy.config.UpstreamPooling;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.filter.ExecutionListener;
import io.dbwarden.proxy.filter.FilterChain;
import io.dbwarden.proxy.filter.ResultFilter;
import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.internal.SideConnection;
import io.dbwarden.proxy.masking.Catalog;
import io.dbwarden.proxy.masking.MaskingFilter;
import io.dbwarden.proxy.masking.MaskingRules;
import io.dbwarden.proxy.policy.CompiledPolicy;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

/** {@code dbwarden-proxy run}: serve PostgreSQL clients in front of one database. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run the proxy in front of a PostgreSQL server, enforcing a DatabaseAccessPolicy file.")
public final class RunCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(RunCommand.class);

    @Option(names = "--listen", defaultValue = "127.0.0.1:6432", description = "Address clients connect to (default: ${DEFAULT-VALUE}).")
    String listen;

    @picocli.CommandLine.Mixin
    UpstreamOptions db = new UpstreamOptions();

    @Option(names = "--client-tls-cert", description = "PEM certificate chain offered to clients (enables client TLS).")
    Path clientTlsCert;

    @Option(names = "--client-tls-key",
            description = "PEM private key for --client-tls-cert (PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted).")
    Path clientTlsKey;

    @Option(names = "--client-tls-required", description = "Refuse clients that do not use TLS.")
    boolean clientTlsRequired;

    @Option(names = "--client-auth", defaultValue = "trust", description = "trust (loopback clients only) or password (default: ${DEFAULT-VALUE}).")
    String clientAuth;

    @Option(names = "--client-password-file", description = "File holding the password clients must send (with --client-auth password).")
    Path clientPasswordFile;

    @Option(names = "--allow-remote-trust", description = "Accept trust authentication from non-loopback clients (not recommended).")
    boolean allowRemoteTrust;

    @Option(names = "--identity", defaultValue = "${env:DBWARDEN_IDENTITY:-standalone/default}",
            description = "Workload identity (namespace/name) matched against policy subjects (default: ${DEFAULT-VALUE}).")
    String identity;

    @Option(names = "--policy", description = "DatabaseAccessPolicy YAML file (the same format as the custom resource).")
    Path policy;

    @Option(names = "--policy-reload-seconds", defaultValue = "2",
            description = "How often to check the policy file for changes; 0 disables reloading (default: ${DEFAULT-VALUE}).")
    double policyReloadSeconds;

    @Option(names = "--operator-url", description = "Sidecar mode: fetch policies from the operator's sidecar API "
            + "(https; plain http only to loopback) instead of --policy.")
    String operatorUrl;

    @Option(names = "--token-file", defaultValue = "/var/run/secrets/dbwarden/token",
            description = "Projected service-account token (audience dbwarden) presented to the operator (default: ${DEFAULT-VALUE}).")
    Path tokenFile;

    @Option(names = "--operator-ca-file", description = "PEM CA bundle for the operator's certificate.")
    Path operatorCaFile;

    @Option(names = "--bundle-cache", description = "Where the last good policy bundle from the operator is kept "
            + "(an emptyDir), so a restart during an operator outage still enforces it.")
    Path bundleCache;

    @Option(names = "--no-policy", description = "Forward every statement (audit only). Without it, --policy is required.")
    boolean noPolicy;

    @Option(names = "--masking-key-file", description = "Key for the 'hash' masking strategy (keep it secret and stable: "
            + "the same key gives the same masked values).")
    Path maskingKeyFile;

    @Option(names = "--audit", defaultValue = "-", description = "Audit log file, or - for stdout (default: ${DEFAULT-VALUE}).")
    String audit;

    @Option(names = "--audit-max-file-bytes", defaultValue = "0", description = "Rotate the audit file before an "
            + "event would take it past this size: FILE becomes FILE.1, FILE.1 FILE.2 and so on (0: never, the "
            + "default; at least 4096). The hash chain runs on across the parts. A file moved away by another tool "
            + "(logrotate) is noticed within a second either way and the path opened again.")
    long auditMaxFileBytes;

    @Option(names = "--audit-max-files", defaultValue = "5", description = "Rotated audit files kept beside the "
            + "current one with --audit-max-file-bytes, FILE.1 the newest; older parts are deleted "
            + "(default: ${DEFAULT-VALUE}).")
    int auditMaxFiles;

    @Option(names = "--audit-statement-max-chars", defaultValue = "16384", description = "Cut statement texts in "
            + "audit events after this many characters, with their full length in statementChars (the fingerprint "
            + "covers the whole text): a long VALUES list would otherwise make a line larger than log shippers take "
            + "(default: ${DEFAULT-VALUE}; 0: never cut).")
    int auditStatementMaxChars;

    @Option(names = "--audit-sink", description = "Also deliver audit events to http(s)://... (NDJSON POST) or "
            + "otlp+http(s)://collector:4318 (OTLP logs); undelivered events wait in --audit-spool.")
    String auditSink;

    @Option(names = "--audit-sink-token-file", description = "Bearer token for the audit sink.")
    Path auditSinkTokenFile;

    @Option(names = "--audit-spool", description = "Directory (a persistent volume) holding audit events until the "
            + "sink has them; survives restarts. Required with --audit-sink.")
    Path auditSpool;

    @Option(names = "--audit-spool-max-bytes", defaultValue = "268435456",
            description = "Undelivered audit bytes kept at most; beyond it events are dropped, or refused with "
                    + "--audit-fail-closed (default: ${DEFAULT-VALUE}).")
    long auditSpoolMaxBytes;

    @Option(names = "--audit-fail-closed", description = "Refuse statements while audit events cannot be recorded "
            + "(writer failed, queue or spool full) instead of running them unaudited.")
    boolean auditFailClosed;

    @Option(names = "--admin-listen", defaultValue = "127.0.0.1:9187",
            description = "Health and Prometheus metrics address, or 'none' (default: ${DEFAULT-VALUE}).")
    String adminListen;

    @Option(names = "--max-message-bytes", defaultValue = "67108864", description = "Largest protocol message accepted (default: ${DEFAULT-VALUE}).")
    int maxMessageBytes;

    @Option(names = "--event-loops", description = "Event-loop threads serving client and database connections "
            + "(1-" + ProxyServer.MAX_EVENT_LOOPS + "; default: one per two available processors, at least one, "
            + "or -Ddbwarden.worker.threads).")
    Integer eventLoops;

    @Option(names = "--upstream-idle-timeout-seconds", defaultValue = "60", description = "Keep the database "
            + "connection of a session its client ended cleanly (reset with DISCARD ALL) for this long, for the next "
            + "session with the same settings: clients that connect per task do not make the database start and "
            + "authenticate a backend each time (default: ${DEFAULT-VALUE}; 0: close it with the session).")
    long upstreamIdleTimeoutSeconds;

    @Option(names = "--upstream-max-idle", defaultValue = "64", description = "Most database connections kept for "
            + "later sessions at once (default: ${DEFAULT-VALUE}).")
    int upstreamMaxIdle;

    @Option(names = "--shutdown-grace-seconds", defaultValue = "25", description = "On SIGTERM, how long open "
            + "sessions may go on (new ones are refused) before they are terminated (default: ${DEFAULT-VALUE}).")
    long shutdownGraceSeconds;

    @Option(names = "--shutdown-drain-seconds", defaultValue = "0", description = "On SIGTERM, go on accepting new "
            + "sessions for this long and then while any session is open, within the grace period: for a sidecar "
            + "that is a plain container, stopped together with its application (default: ${DEFAULT-VALUE}, "
            + "refuse new sessions at once).")
    long shutdownDrainSeconds;

    @Option(names = "--warm-up-seconds", defaultValue = "10", description = "On the JVM, before the listener opens, "
            + "relay statements between loopback stand-ins through the same pipeline until the JIT compiler has "
            + "compiled the statement path, for at most this long: the first clients are not served by interpreted "
            + "code (no effect in a native image; default: ${DEFAULT-VALUE}, 0 skips it).")
    long warmUpSeconds;

    @Override
    public Integer call() throws Exception {
        // the handlers come first: a SIGTERM while the proxy starts (its warm-up takes seconds) ends the warm-up
        // and then shuts the proxy down as at any later time, with the same exit status
        AtomicReference<Runnable> shutdownAction = new AtomicReference<>();
        AtomicBoolean terminateAsked = new AtomicBoolean();
        AtomicReference<ProxyServer> started = new AtomicReference<>();
        fastShutdownOnInterrupt(started);
        smartShutdownOnTerminate(terminateAsked, shutdownAction);
        Running running;
        try {
            running = start(terminateAsked::get);
        } catch (PolicyLoader.PolicyException e) {
            System.err.println(e.getMessage());
            return DbwardenProxyCli.EXIT_INVALID_POLICY;
        }
        started.set(running.server());
        CountDownLatch stopped = new CountDownLatch(1);
        Duration grace = Duration.ofSeconds(shutdownGraceSeconds);
        AtomicBoolean asked = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (!asked.getAndSet(true)) {
                LOG.info("shutting down");
            }
            running.shutdown(grace, Duration.ofSeconds(shutdownDrainSeconds));
            stopped.countDown();
        };
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "dbwarden-shutdown"));
        shutdownAction.set(shutdown);
        if (terminateAsked.get()) { // SIGTERM came while starting (a second start of the shutdown just waits)
            Thread.ofPlatform().name("dbwarden-terminate").start(shutdown);
        }
        stopped.await();
        return 0;
    }

    /**
     * SIGTERM drains (see {@link #fastShutdownOnInterrupt}) and then the process exits with status 0, as PostgreSQL
     * does after a shutdown it was asked for: a sidecar that stopped cleanly does not show as failed (143) in its
     * pod. Where the runtime does not let SIGTERM be handled, the shutdown hook drains and the status stays 143.
     * Before the proxy has started, the signal is noted in {@code asked} and the start-up sees it.
     */
    private static void smartShutdownOnTerminate(AtomicBoolean asked, AtomicReference<Runnable> shutdown) {
        onSignal("TERM", () -> {
            asked.set(true);
            Runnable action = shutdown.get();
            if (action != null) {
                Thread.ofPlatform().name("dbwarden-terminate").start(action);
            }
        });
    }

    /**
     * PostgreSQL's signals: SIGTERM is a smart shutdown (open sessions get the grace period), SIGINT (Ctrl-C) a fast
     * one, also when it comes during the grace period of an earlier SIGTERM or while the proxy starts. Where the
     * runtime does not let SIGINT be handled, it keeps its default (the smart shutdown).
     */
    private static void fastShutdownOnInterrupt(AtomicReference<ProxyServer> server) {
        onSignal("INT", () -> {
            ProxyServer s = server.get();
            if (s != null) {
                s.endGracePeriod();
            }
            Thread.ofPlatform().name("dbwarden-interrupt").start(() -> System.exit(130)); // as the default does
        });
    }

    /** Handles SIG{@code name} with {@code handler}, or leaves the runtime's default where it cannot be handled. */
    private static void onSignal(String name, Runnable handler) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> handler.run());
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            LOG.debug("SIG{} keeps the runtime's default handling: {}", name, e.toString());
        }
    }

    /** A started proxy with its admin endpoint, audit log and analyzer; close() stops all of them. */
    public record Running(ProxyServer server, AdminServer admin, AuditLog auditLog, StatementAnalyzer analyzer,
                          ProxyMetrics metrics, SideConnection catalogConnection, PolicyReloader reloader,
                          OperatorPolicySource policySource, AtomicBoolean stopped)
            implements AutoCloseable {
        @Override
        public void close() {
            shutdown(Duration.ZERO);
        }

        /**
         * Stops the proxy ({@link ProxyServer#shutdown}: new sessions refused, open ones given {@code grace}), then
         * the rest. Policies keep being followed and the admin endpoint answers (not ready) until the sessions are
         * gone; the audit log closes last, after the last session's events. A second call returns when the first
         * is done.
         */
        public void shutdown(Duration grace) {
            shutdown(grace, Duration.ZERO);
        }

        /** {@link #shutdown(Duration)}, accepting sessions for {@code drain} first (see ProxyServer#shutdown). */
        public synchronized void shutdown(Duration grace, Duration drain) {
            if (stopped.getAndSet(true)) {
                return;
            }
            server.shutdown(grace, drain);
            if (policySource != null) {
                policySource.close();
            }
            if (reloader != null) {
                reloader.close();
            }
            if (admin != null) {
                admin.close();
            }
            analyzer.close();
            if (catalogConnection != null) {
                catalogConnection.close();
            }
            auditLog.close();
        }
    }

    /** Loads the policy, starts serving and returns; used by {@link #call()} and by tests. */
    public Running start() throws IOException, PolicyLoader.PolicyException {
        return start(() -> false);
    }

    /** {@link #start()}, ending the warm-up early once {@code stopWarmUp} is true (a shutdown was asked for). */
    Running start(BooleanSupplier stopWarmUp) throws IOException, PolicyLoader.PolicyException {
        if (policy != null && operatorUrl != null) {
            throw new IllegalArgumentException("use either --policy FILE or --operator-url URL, not both");
        }
        if (policy == null && operatorUrl == null && !noPolicy) {
            throw new IllegalArgumentException("--policy FILE or --operator-url URL is required "
                    + "(or --no-policy to forward everything)");
        }
        // checked before anything is opened
        int loops = eventLoops != null ? ProxyServer.checkEventLoops(eventLoops, "--event-loops")
                : ProxyServer.checkEventLoops(ProxyServer.defaultEventLoops(), "-Ddbwarden.worker.threads");
        requireNotNegative(shutdownGraceSeconds, "--shutdown-grace-seconds");
        requireNotNegative(shutdownDrainSeconds, "--shutdown-drain-seconds");
        requireNotNegative(warmUpSeconds, "--warm-up-seconds");
        requireNotNegative(auditStatementMaxChars, "--audit-statement-max-chars");
        requireNotNegative(upstreamIdleTimeoutSeconds, "--upstream-idle-timeout-seconds");
        requireNotNegative(upstreamMaxIdle, "--upstream-max-idle");
        if ("-".equals(audit) && auditMaxFileBytes != 0) {
            throw new IllegalArgumentException("--audit-max-file-bytes needs --audit FILE (stdout is not rotated)");
        }
        if (auditMaxFileBytes < 0 || (auditMaxFileBytes > 0 && auditMaxFileBytes < AuditRotation.MIN_BYTES)) {
            throw new IllegalArgumentException("--audit-max-file-bytes must be 0 (never rotate) or at least "
                    + AuditRotation.MIN_BYTES + ", got " + auditMaxFileBytes);
        }
        if (auditMaxFiles < 1 || auditMaxFiles > AuditRotation.MAX_KEEP) {
            throw new IllegalArgumentException("--audit-max-files must be between 1 and " + AuditRotation.MAX_KEEP
                    + ", got " + auditMaxFiles);
        }
        AuditRotation rotation = auditMaxFileBytes == 0 ? AuditRotation.NONE
                : new AuditRotation(auditMaxFileBytes, auditMaxFiles);
        UpstreamPooling pooling = new UpstreamPooling(Duration.ofSeconds(upstreamIdleTimeoutSeconds), upstreamMaxIdle);
        URI operator = operatorUrl == null ? null : checkedOperatorUri(operatorUrl);
        byte[] policyContent = policy == null ? null : readPolicy(policy);
        List<DatabaseAccessPolicy> policies = policy == null ? List.of()
                : PolicyLoader.parse(new String(policyContent, java.nio.charset.StandardCharsets.UTF_8), policy.toString());
        ProxyConfig config = config(policies.isEmpty() ? null : policies.get(0).getSpec().getDatabase());
        // credentials from files are re-read while running (rotated Secrets apply to the next connection)
        LiveConfig live = new LiveConfig(config, db.upstreamUserFile, db.upstreamPasswordFile, clientPasswordFile);
        ProxyMetrics metrics = new ProxyMetrics();
        if (auditSink != null && auditSpool == null) {
            throw new IllegalArgumentException("--audit-sink needs --audit-spool DIR (a persistent volume) so that "
                    + "events survive a sink outage and a restart");
        }
        AuditLog.Remote remote = auditSink == null ? null
                : new AuditLog.Remote(AuditSink.of(auditSink, auditSinkTokenFile), auditSpool, auditSpoolMaxBytes);
        AuditLog auditLog = AuditLog.open("-".equals(audit) ? null : Path.of(audit), rotation, System.out, 65_536,
                remote).maxStatementChars(auditStatementMaxChars);
        metrics.auditCounters(auditLog::written, auditLog::dropped);
        metrics.auditFile(auditLog::fileRotations, auditLog::fileReopens);
        metrics.auditDelivery(auditLog::delivered, auditLog::sinkFailures, auditLog::pendingBytes, auditLog::healthy);
        StatementAnalyzer analyzer = new StatementAnalyzer(50_000, 1 << 20, 500, 2);
        List<StatementFilter> filters = new ArrayList<>();
        if (auditFailClosed) {
            filters.add(new AuditGate(auditLog));
        }
        List<ExecutionListener> listeners = new ArrayList<>(List.of(metrics, auditLog));
        List<ResultFilter> resultFilters = new ArrayList<>();
        SideConnection catalogConnection = null;
        PolicyFilter policyFilter = null;
        PolicyReloader reloader = null;
        OperatorPolicySource operatorSource = null;
        MaskingFilter masking = null;
        if (policy != null || operator != null) {
            PolicyEngine engine = PolicyEngine.of(policies, config.identity());
            if (policy != null && engine.applicable().isEmpty()) {
                LOG.warn("no policy in the file applies to this identity; every statement will be denied: identity={}",
                        config.identity());
            }
            byte[] hashKey = maskingKeyFile == null ? null
                    : ConfigFiles.readBytes(maskingKeyFile, "--masking-key-file");
            // the catalog connection opens on first use: once some policy masks results, or a statement is decided
            // by rules that name tables (partitions and inheritance children of the tables they name)
            catalogConnection = new SideConnection(live);
            metrics.catalogFailures(catalogConnection::failures);
            Catalog catalog = new Catalog(catalogConnection::query, catalogConnection::describe, 60_000);
            policyFilter = new PolicyFilter(engine, analyzer, 100_000, catalog.graph());
            filters.add(policyFilter);
            // what a statement reads, as the full SQL parser of the policy filter (which runs first) found it
            masking = new MaskingFilter(PolicyReloader.masking(policies, config.identity(), hashKey), catalog, s -> {
                io.dbwarden.proxy.sql.StatementAnalysis a = analyzer.cached(s);
                return a != null && a.classified() && a.tablesComplete() ? a.tables() : java.util.List.of();
            });
            resultFilters.add(masking);
            listeners.add(0, masking);
            filters.add(masking);
            reloader = new PolicyReloader(policy, policyContent, config.identity(), hashKey, policyFilter,
                    masking, metrics);
            if (operator != null) {
                operatorSource = new OperatorPolicySource(operator, tokenFile, operatorCaFile, bundleCache, reloader);
                // statements held by requireApproval rules are turned into ChangeApprovals by the operator
                policyFilter.approvals(new OperatorApprovals(operator, tokenFile, operatorSource::client,
                        System.getenv("POD_NAME"), catalogConnection::query));
            }
        }
        OperatorPolicySource source = operatorSource;
        PolicyFilter sessionSource = policyFilter;
        ProxyServer server;
        AdminServer admin = null;
        try {
            // bound first (an address problem shows at once), taking sessions after the warm-up
            server = ProxyServer.bind(live, new FilterChain(filters, resultFilters, listeners), metrics,
                    () -> sessionSource == null ? Map.of() : sessionSource.engine().sessionSettings(), loops,
                    pooling);
            try {
                admin = "none".equals(adminListen) ? null
                        : AdminServer.start(HostPort.parse(adminListen, "--admin-listen"), metrics,
                        () -> server.accepting() && !server.shuttingDown() && (source == null || source.loaded()));
            } catch (RuntimeException e) {
                server.close();
                throw e;
            }
        } catch (RuntimeException e) {
            analyzer.close();
            auditLog.close();
            if (catalogConnection != null) {
                catalogConnection.close();
            }
            throw e;
        }
        if (reloader != null) {
            reloader.start(Math.round(policyReloadSeconds * 1000));
        }
        if (source != null) {
            source.start();
            // the warm-up masks by the detectors in force: the operator's first bundle is worth a short wait
            long until = System.nanoTime() + Duration.ofSeconds(Math.min(2, warmUpSeconds)).toNanos();
            while (warmUpSeconds > 0 && WarmUp.jitAvailable() && !source.loaded() && !stopWarmUp.getAsBoolean()
                    && System.nanoTime() - until < 0) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        WarmUp.runLogged(Duration.ofSeconds(warmUpSeconds), loops,
                masking == null ? MaskingRules.none() : masking.rules(), stopWarmUp);
        server.accept();
        LOG.info("ready: listen={} admin={} policies={} audit={}", server.address(),
                admin == null ? "none" : adminListen, policies.size(), audit);
        return new Running(server, admin, auditLog, analyzer, metrics, catalogConnection, reloader, source,
                new AtomicBoolean());
    }

    private static void requireNotNegative(long value, String option) {
        if (value < 0) {
            throw new IllegalArgumentException(option + " must be 0 or more, got " + value);
        }
    }

    private static URI checkedOperatorUri(String url) {
        URI uri = URI.create(url);
        boolean loopback = "localhost".equals(uri.getHost()) || "127.0.0.1".equals(uri.getHost())
                || "[::1]".equals(uri.getHost());
        if (!"https".equals(uri.getScheme()) && !("http".equals(uri.getScheme()) && loopback)) {
            throw new IllegalArgumentException("--operator-url must be https (the service-account token is sent to it); "
                    + "plain http is accepted only for loopback addresses");
        }
        return uri;
    }

    private static byte[] readPolicy(Path file) throws PolicyLoader.PolicyException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new PolicyLoader.PolicyException(file.toString(), List.of("cannot read file: "
                    + ConfigFiles.describe(e)));
        }
    }

    ProxyConfig config(DatabaseTarget target) throws IOException {
        String upstreamValue = db.upstream;
        if (upstreamValue == null && target != null && target.getHost() != null) {
            upstreamValue = target.getHost() + ":" + (target.getPort() == null ? 5432 : target.getPort());
        }
        if (upstreamValue == null) {
            throw new IllegalArgumentException("--upstream host:port is required (the policy has no spec.database.host)");
        }
        String tls = db.upstreamTls != null ? db.upstreamTls
                : target != null && target.getSslMode() != null ? target.getSslMode() : "prefer";
        String database = db.upstreamDatabase != null ? db.upstreamDatabase : target != null ? target.getName() : null;
        String password = db.password();
        ClientAuthMode auth = ClientAuthMode.parse(clientAuth);
        String clientPassword = clientPasswordFile != null
                ? ConfigFiles.readSecret(clientPasswordFile, "--client-password-file") : null;
        String user = db.user();
        return new ProxyConfig(HostPort.parse(listen, "--listen"), HostPort.parse(upstreamValue, "--upstream"),
                database, user, password, UpstreamTlsMode.parse(tls), db.upstreamRootCert, clientTlsCert,
                clientTlsKey, clientTlsRequired, auth, clientPassword, allowRemoteTrust, identity, maxMessageBytes,
                Duration.ofSeconds(10), Duration.ofSeconds(30));
    }
}
