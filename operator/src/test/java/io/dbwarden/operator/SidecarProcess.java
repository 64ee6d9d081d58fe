package io.dbwarden.operator;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.kubernetes.client.KubernetesServer;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * The proxy jar (built earlier in the reactor) run as a real process in sidecar mode against this operator, with a
 * projected-token file the fake API server's TokenReview accepts for identity shop/checkout.
 */
public final class SidecarProcess implements AutoCloseable {
    public static final Path PROXY_JAR = Path.of("../sidecar-proxy/target/dbwarden-proxy.jar");
    public static final String TOKEN = "projected-token";

    public final Process process;
    public final int port;
    public final Path dir;

    private SidecarProcess(Process process, int port, Path dir) {
        this.process = process;
        this.port = port;
        this.dir = dir;
    }

    /** TokenReview answers: {@link #TOKEN} with audience dbwarden is shop/checkout, anything else is nobody. */
    public static void acceptToken(KubernetesServer server) {
        server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
            TokenReview in = Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class);
            boolean ok = TOKEN.equals(in.getSpec().getToken()) && in.getSpec().getAudiences().contains("dbwarden");
            return new TokenReviewBuilder(in).withNewStatus().withAuthenticated(ok).withAudiences("dbwarden")
                    .withNewUser().withUsername(ok ? "system:serviceaccount:shop:checkout" : null).endUser()
                    .endStatus().build();
        }).always();
    }

    public static SidecarProcess start(int operatorPort, int pgPort) throws Exception {
        Path dir = Files.createTempDirectory("sidecar");
        Files.writeString(dir.resolve("token"), TOKEN);
        int port = freePort();
        int adminPort = freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-jar", PROXY_JAR.toString(), "run",
                "--listen", "127.0.0.1:" + port, "--upstream", "127.0.0.1:" + pgPort,
                "--upstream-database", "postgres", "--upstream-user", "postgres", "--upstream-tls", "disable",
                "--identity", "shop/checkout", "--operator-url", "https://localhost:" + operatorPort,
                "--operator-ca-file", SelfSignedTls.certificatePem.toString(),
                "--token-file", dir.resolve("token").toString(), "--bundle-cache", dir.resolve("bundle.yaml").toString(),
                "--audit", dir.resolve("audit.jsonl").toString(), "--admin-listen", "127.0.0.1:" + adminPort,
                "--warm-up-seconds", "0")
                .redirectErrorStream(true).redirectOutput(dir.resolve("proxy.log").toFile());
        pb.environment().put("POD_NAME", "checkout-7d9f8c6b5-x2k4q");
        Process p = pb.start();
        SidecarProcess s = new SidecarProcess(p, port, dir);
        HttpClient http = HttpClient.newHttpClient();
        await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().failFast(() -> !p.isAlive())
                .until(() -> http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/readyz"))
                        .build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
        return s;
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
        List<String> log = Files.readAllLines(dir.resolve("proxy.log"));
        System.out.println("proxy log tail:\n" + String.join("\n", log.subList(Math.max(0, log.size() - 15), log.size())));
    }

    /** Ports handed out in this JVM: a closed socket's port may come back from the next bind to port 0. */
    private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static int freePort() throws Exception {
        while (true) {
            int port = anyFreePort();
            if (HANDED_OUT.add(port)) {
                return port;
            }
        }
    }

    private static int anyFreePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
