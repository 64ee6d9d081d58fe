package io.dbwarden.proxy.cli;

import com.sun.net.httpserver.HttpServer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Sidecar mode: the proxy takes its policy from the operator's sidecar API (here a loopback server speaking the
 * same contract as the operator's BundleResource: bearer token, ETag, long poll), applies changes while running,
 * keeps enforcing its cached bundle when the operator is gone, and denies everything when it has none.
 */
@ExtendWith(LeakDetection.class)
class OperatorPolicySourceTest {
    @TempDir
    Path dir;

    static final String ALLOW_ALL = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: sidecar
              namespace: shop
            spec:
              subjects:
                - serviceAccount: checkout
              defaultAction: allow
              allowUnparsedStatements: true
            """;
    static final String NO_TRUNCATE = ALLOW_ALL + """
              rules:
                - name: no-truncate
                  match:
                    statements: [TRUNCATE]
                  action: deny
            """;

    /** The operator's contract: 401 without the right token, ETag, 304 / long poll on If-None-Match. */
    static final class FakeOperatorApi implements AutoCloseable {
        final AtomicReference<String> bundle = new AtomicReference<>(ALLOW_ALL);
        final HttpServer server;

        FakeOperatorApi() throws Exception {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
            server.createContext("/sidecar/v1/bundle", ex -> {
                if (!"Bearer token-checkout".equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                    ex.sendResponseHeaders(401, -1);
                    ex.close();
                    return;
                }
                String ifNoneMatch = ex.getRequestHeaders().getFirst("If-None-Match");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(
                        ex.getRequestURI().getQuery() == null ? 0 : 5);
                String body = bundle.get();
                while (etag(body).equals(ifNoneMatch) && System.nanoTime() < deadline) {
                    try {
                        Thread.sleep(50);
                    } catch (InterruptedException e) {
                        return;
                    }
                    body = bundle.get();
                }
                if (etag(body).equals(ifNoneMatch)) {
                    ex.sendResponseHeaders(304, -1);
                    ex.close();
                    return;
                }
                byte[] b = body.getBytes(StandardCharsets.UTF_8);
                ex.getResponseHeaders().add("ETag", etag(body));
                ex.sendResponseHeaders(200, b.length);
                ex.getResponseBody().write(b);
                ex.close();
            });
            server.start();
        }

        static String etag(String s) {
            return "\"" + Integer.toHexString(s.hashCode()) + "\"";
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    private RunCommand.Running start(String operatorUrl, Path cache) throws Exception {
        Path token = dir.resolve("token");
        Files.writeString(token, "token-checkout\n");
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        Path user = dir.resolve("username"); // as the injected sidecar reads it from the mounted Secret
        Files.writeString(user, EmbeddedPg.SCRAM_USER + "\n");
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).parseArgs("--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:" + EmbeddedPg.get().port(),
                "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user-file", user.toString(),
                "--upstream-password-file", pw.toString(), "--upstream-tls", "disable", "--identity", "shop/checkout",
                "--operator-url", operatorUrl, "--token-file", token.toString(), "--bundle-cache", cache.toString(),
                "--audit", dir.resolve("audit.jsonl").toString(), "--admin-listen", "127.0.0.1:0",
                "--warm-up-seconds", "0");
        return cmd.start();
    }

    private static Connection connect(RunCommand.Running r) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", "app");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + r.server().port() + "/"
                + EmbeddedPg.DATABASE + "?sslmode=disable", p);
    }

    private static int readyz(RunCommand.Running r) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + r.admin().port() + "/readyz")).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void policyChangesReachTheRunningProxyAndTheCacheOutlivesTheOperator() throws Exception {
        Path cache = dir.resolve("bundle.yaml");
        try (FakeOperatorApi api = new FakeOperatorApi(); RunCommand.Running r = start(api.url(), cache)) {
            await().atMost(10, TimeUnit.SECONDS).until(() -> readyz(r) == 200);
            try (Connection c = connect(r); Statement s = c.createStatement()) {
                s.execute("CREATE TEMP TABLE t (id int)");
                s.execute("TRUNCATE t");
                api.bundle.set(NO_TRUNCATE);
                await().atMost(10, TimeUnit.SECONDS).untilAsserted(() ->
                        assertThatThrownBy(() -> s.execute("TRUNCATE t")).hasMessageContaining("no-truncate"));
            }
            await().atMost(5, TimeUnit.SECONDS).until(() -> Files.exists(cache)
                    && Files.readString(cache).contains("no-truncate"));
        }
        // the operator is gone: a restarted proxy enforces the cached bundle
        try (RunCommand.Running r = start("http://127.0.0.1:9", cache);
             Connection c = connect(r); Statement s = c.createStatement()) {
            assertThat(readyz(r)).isEqualTo(200);
            s.execute("CREATE TEMP TABLE t (id int)");
            assertThatThrownBy(() -> s.execute("TRUNCATE t")).hasMessageContaining("no-truncate");
        }
    }

    @Test
    void anOperatorThatAnswersUnchangedAtOnceIsNotPolledInABusyLoop() throws Exception {
        AtomicInteger polls = new AtomicInteger();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/sidecar/v1/bundle", ex -> {
            byte[] b = ALLOW_ALL.getBytes(StandardCharsets.UTF_8);
            if (ex.getRequestHeaders().getFirst("If-None-Match") != null) {
                polls.incrementAndGet(); // like a replica shutting down: 304 without waiting
                ex.sendResponseHeaders(304, -1);
            } else {
                ex.getResponseHeaders().add("ETag", FakeOperatorApi.etag(ALLOW_ALL));
                ex.sendResponseHeaders(200, b.length);
                ex.getResponseBody().write(b);
            }
            ex.close();
        });
        server.start();
        try (RunCommand.Running r = start("http://127.0.0.1:" + server.getAddress().getPort(),
                dir.resolve("early.yaml"))) {
            await().atMost(10, TimeUnit.SECONDS).until(() -> readyz(r) == 200);
            await().atMost(10, TimeUnit.SECONDS).until(() -> polls.get() >= 1);
            int first = polls.get();
            Thread.sleep(3000);
            // at most one poll per OperatorPolicySource.MIN_POLL_MILLIS (a busy loop makes thousands), and it goes on
            assertThat(polls.get() - first).isBetween(1, 4);
            try (Connection c = connect(r); Statement s = c.createStatement()) {
                s.execute("SELECT 1");
            }
        } finally {
            server.stop(0);
        }
    }

    @Test
    void withoutAnyBundleEverythingIsDeniedAndTheProxyIsNotReady() throws Exception {
        try (RunCommand.Running r = start("http://127.0.0.1:9", dir.resolve("none.yaml"))) {
            assertThat(readyz(r)).isEqualTo(503);
            // even pgjdbc's own set-up statements are refused: nothing runs without a policy
            assertThatThrownBy(() -> connect(r)).hasMessageContaining("no DatabaseAccessPolicy applies");
        }
    }

    @Test
    void plainHttpToAnotherHostIsRefused() {
        assertThatThrownBy(() -> start("http://operator.example:8080", dir.resolve("c.yaml")))
                .hasMessageContaining("--operator-url must be https");
    }
}
