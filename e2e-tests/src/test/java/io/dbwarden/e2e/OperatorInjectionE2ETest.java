package io.dbwarden.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.zjsonpatch.JsonPatch;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The whole Kubernetes path without a cluster: a mock API server (CRUD) holding what the Helm chart renders and
 * the sample app's manifests; the real operator process (issuing its own certificate, patching the webhook
 * caBundle); the pod webhook called over verified TLS with the sample app's real pod spec; the returned patch
 * applied; and the injected sidecar container run exactly as configured (volumes materialised from the API server)
 * in front of embedded PostgreSQL initialised by the sample's own SQL, enforcing the sample policy. Also checks
 * that the operator rotates its serving certificate while running.
 */
class OperatorInjectionE2ETest {
    static final Path OPERATOR_JAR = Repo.path("operator/target/quarkus-app/quarkus-run.jar");
    static final Path PROXY_JAR = Repo.path("sidecar-proxy/target/dbwarden-proxy.jar");
    static final ObjectMapper JSON = new ObjectMapper();
    static final String TOKEN = "projected-token-shop-checkout";

    static KubernetesMockServer server;
    static KubernetesClient client;

    /** A mock API server over HTTPS with CRUD storage and expectations (what {@code @EnableKubernetesMockClient} sets
     * up), owned here so that its teardown cannot fail the test. */
    @BeforeAll
    static void startApiServer() {
        // expectations go into the map, the dispatcher answers from it (and from its CRUD store otherwise)
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), true);
        server.init();
        client = server.createClient();
    }

    @AfterAll
    static void stopApiServer() {
        client.close();
        try {
            server.destroy();
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // fabric8's mock web server can race its own Vert.x shutdown; nothing of the test depends on it
        }
    }

    @Test
    void chartOperatorWebhookAndInjectedSidecarWorkTogether(@TempDir Path work) throws Exception {
        assertThat(OPERATOR_JAR).as("build with mvn verify: the operator's quarkus-app comes from the package phase")
                .exists();
        assertThat(PROXY_JAR).as("build with mvn verify: the proxy jar comes from the package phase").exists();
        fakeAuthentication();
        serverSideApplyOfPolicyStatus();
        for (String ns : List.of("dbwarden", "shop")) {
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
                    .addToLabels("kubernetes.io/metadata.name", ns).endMetadata().build()).create();
        }
        // what `helm install dbwarden helm/dbwarden -n dbwarden` would create that matters here
        for (HasMetadata o : HelmChartTest.objects(HelmChartTest.render())) {
            if (o instanceof MutatingWebhookConfiguration) {
                client.resource(o).create();
            }
        }
        // the sample app's Secret and Deployment, as kubectl apply -k examples/sample-app would
        Path sample = Repo.path("examples/sample-app");
        Deployment checkout = null;
        for (JsonNode doc : ExamplesTest.documents(sample.resolve("checkout.yaml"))) {
            HasMetadata o = Serialization.unmarshal(JSON.writeValueAsString(doc));
            if (o instanceof Deployment d) {
                checkout = d;
            } else {
                client.resource(o).create();
            }
        }
        assertThat(checkout).isNotNull();

        // the operator's TLS files (with its private key) and the logs; removed afterwards, the logs' tails are printed
        int httpsPort = Processes.freePort();
        Process operator = startOperator(work, httpsPort);
        Process sidecar = null;
        Path sidecarLog = work.resolve("sidecar.log");
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start()) {
            initialiseLikeTheSample(pg, sample);
            await().atMost(90, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(500))
                    .failFast("operator exited", () -> !operator.isAlive())
                    .until(() -> caBundle() != null);
            String bundle = caBundle();
            SSLContext trust = trusting(bundle);
            await().atMost(30, TimeUnit.SECONDS).ignoreExceptions().until(() -> servedCertificate(trust, httpsPort) != null);
            HttpClient https = HttpClient.newBuilder().sslContext(trust).connectTimeout(Duration.ofSeconds(5)).build();
            X509Certificate served = servedCertificate(trust, httpsPort);
            assertThat(served.getSubjectAlternativeNames().stream().map(l -> (String) l.get(1)))
                    .contains("dbwarden-operator.dbwarden.svc", "dbwarden-operator.dbwarden.svc.cluster.local");

            // the API server calls the webhook with the pod the Deployment's ReplicaSet creates
            Pod pod = new PodBuilder().withMetadata(checkout.getSpec().getTemplate().getMetadata())
                    .withSpec(checkout.getSpec().getTemplate().getSpec()).build();
            pod.getMetadata().setName("checkout-5f7d8c9b4-x2k4q");
            pod.getMetadata().setNamespace("shop");
            pod.getMetadata().getAnnotations().put("dbwarden.io/upstream", "127.0.0.1:" + pg.getPort());
            Pod injected = admit(https, httpsPort, pod);

            Container proxy = injected.getSpec().getInitContainers().getFirst();
            assertThat(proxy.getName()).isEqualTo("dbwarden-proxy");
            assertThat(proxy.getRestartPolicy()).isEqualTo("Always");
            assertThat(injected.getSpec().getContainers()).singleElement().satisfies(app ->
                    assertThat(app.getVolumeMounts() == null ? List.of() : app.getVolumeMounts()).isEmpty());
            assertThat(client.configMaps().inNamespace("shop").withName("dbwarden-ca").get().getData())
                    .containsEntry("ca.crt", bundle);
            // re-admission of an injected pod is a no-op
            assertThat(admit(https, httpsPort, injected)).isEqualTo(injected);

            // the API server stores the admitted pod; then the policy arrives, and the operator counts the pod as bound
            client.resource(injected).create();
            client.resource(PolicyLoader.load(sample.resolve("policy.yaml")).getFirst()).create();
            await().atMost(30, TimeUnit.SECONDS).untilAsserted(() -> {
                DatabaseAccessPolicy p = client.resources(DatabaseAccessPolicy.class).inNamespace("shop")
                        .withName("checkout").get();
                assertThat(p.getStatus()).isNotNull();
                assertThat(p.getStatus().getConditions()).anySatisfy(cond -> {
                    assertThat(cond.getType()).isEqualTo("Ready");
                    assertThat(cond.getStatus()).isEqualTo("True");
                });
                assertThat(p.getStatus().getBoundWorkloads()).isEqualTo(1);
            });

            InjectedSidecar run = new InjectedSidecar(injected, proxy, client, TOKEN, work.resolve("pod"), PROXY_JAR);
            sidecar = run.start(sidecarLog);
            Process s = sidecar;
            HttpClient plain = HttpClient.newHttpClient();
            await().atMost(60, TimeUnit.SECONDS).ignoreExceptions().failFast("sidecar exited", () -> !s.isAlive())
                    .until(() -> plain.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + run.adminPort
                            + "/readyz")).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
            // the jar's manifest grants Netty's native transports their access (no warning on Java 22+); the JVM
            // sidecar warmed its JIT up before it became ready
            assertThat(Files.readString(sidecarLog)).contains("transport=").doesNotContain("restricted method")
                    .contains("warm-up done");

            // the app's view: localhost, no password, the policy of its service account
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + run.listenPort
                    + "/shop?sslmode=disable&user=app"); Statement st = c.createStatement()) {
                List<String> emails = new ArrayList<>();
                try (ResultSet rs = st.executeQuery("SELECT o.id, c.email, o.total FROM orders o "
                        + "JOIN customers c ON c.id = o.customer_id ORDER BY o.id")) {
                    while (rs.next()) {
                        emails.add(rs.getString(2));
                    }
                }
                assertThat(emails).hasSize(2).noneMatch(e -> e.startsWith("ada@") || e.startsWith("grace@"))
                        .allMatch(e -> e.endsWith("@example.com"));
                assertThatThrownBy(() -> st.execute("DELETE FROM orders")).isInstanceOfSatisfying(SQLException.class,
                        e -> {
                            assertThat(e.getSQLState()).isEqualTo("42501");
                            assertThat(e.getMessage()).contains("no-mass-delete");
                        });
                assertThatThrownBy(() -> st.execute("DROP TABLE customers")).hasMessageContaining("no-destructive-ddl");
                assertThat(st.executeUpdate("UPDATE orders SET total = total WHERE id = 1")).isEqualTo(1);
            }
            try (Connection admin = pg.getPostgresDatabase().getConnection(); Statement st = admin.createStatement()) {
                st.execute("SELECT 1"); // the database is untouched by the denied statements
            }
            try (Connection direct = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pg.getPort()
                    + "/shop?user=postgres"); ResultSet rs = direct.createStatement().executeQuery(
                    "SELECT count(*) FROM orders")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
            // the audit writer drains its queue every 10 ms: wait for the line rather than race it
            await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThat(Files.readString(sidecarLog))
                    .contains("\"identity\":\"shop/checkout\"").contains("\"rule\":\"no-mass-delete\""));
            assertThat(Files.readString(sidecarLog)).doesNotContain("ada@example.com").doesNotContain("change-me-app");

            // the operator renews its short-lived certificate while running and serves the new one without a restart
            // (the one served now: renewals come every 20 s here, so the first one may be older already)
            String firstSerial = servedCertificate(trust, httpsPort).getSerialNumber().toString(16);
            // clients keep connecting while the certificate is swapped: not one handshake may be refused
            try (Handshakes during = new Handshakes(trust, httpsPort, 4)) {
                // a swap between reading firstSerial and the clients' first handshakes leaves them one serial to
                // see until the next renewal: wait for that as well
                await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofSeconds(1)).until(() ->
                        !servedCertificate(trust, httpsPort).getSerialNumber().toString(16).equals(firstSerial)
                                && during.serials.size() >= 2);
                Thread.sleep(1000);
                during.stop();
                assertThat(during.failures).as("handshakes refused during the swap").isEmpty();
                assertThat(during.serials).as("both certificates served").hasSizeGreaterThanOrEqualTo(2);
            }
            Pod again = new PodBuilder(pod).editMetadata().withName("checkout-5f7d8c9b4-z9p1m").endMetadata().build();
            assertThat(admit(https, httpsPort, again).getSpec().getInitContainers()).isNotEmpty();
            assertThat(Files.readString(work.resolve("operator.log"))).contains("now in use");
        } finally {
            Processes.stop(sidecar);
            Processes.stop(operator);
            System.out.println("--- operator log tail\n" + Processes.tail(work.resolve("operator.log"), 25));
            System.out.println("--- sidecar log tail\n" + Processes.tail(sidecarLog, 25));
        }
    }

    private Process startOperator(Path work, int httpsPort) throws Exception {
        String api = client.getMasterUrl().toString();
        List<String> cmd = new ArrayList<>(List.of(Processes.java(),
                "-Dkubernetes.master=" + api, "-Dkubernetes.trust.certificates=true", "-Dkubernetes.namespace=dbwarden",
                "-Dkubernetes.auth.tryKubeConfig=false", "-Dkubernetes.auth.tryServiceAccount=false",
                "-Ddbwarden.operator.namespace=dbwarden", "-Ddbwarden.tls.dir=" + work.resolve("tls"),
                "-Ddbwarden.tls.extra-dns-names=localhost",
                // short-lived certificates so that a renewal happens during the test
                "-Ddbwarden.tls.leaf-validity=PT60S", "-Ddbwarden.tls.leaf-renew-before=PT40S",
                "-Ddbwarden.tls.check-interval=PT2S",
                "-Dquarkus.http.ssl-port=" + httpsPort, "-Dquarkus.http.port=" + Processes.freePort(),
                "-Dquarkus.management.port=" + Processes.freePort(),
                "-Ddbwarden.injection.operator-url=https://localhost:" + httpsPort,
                "-Ddbwarden.injection.image=dbwarden-proxy:e2e",
                "-jar", OPERATOR_JAR.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(work.resolve("operator.log").toFile())
                .start();
    }

    /**
     * The mock API server has no server-side apply; the operator (prod build) writes policy status with an apply
     * patch, so this applies the status part of it the way the API server would for the only field manager.
     */
    private void serverSideApplyOfPolicyStatus() {
        server.expect().patch().withPath("/apis/dbwarden.io/v1alpha1/namespaces/shop/databaseaccesspolicies/checkout/"
                + "status?fieldManager=databaseaccesspolicy&force=true").andReply(200, req -> {
            String contentType = req.getHeader("Content-Type");
            if (contentType == null || !contentType.startsWith("application/apply-patch")) {
                throw new AssertionError("expected an apply patch, got " + contentType);
            }
            DatabaseAccessPolicy applied = Serialization.unmarshal(req.getBody().readUtf8(), DatabaseAccessPolicy.class);
            // store it through the CRUD API off the server's own thread (a call from inside a reply would deadlock)
            CompletableFuture.runAsync(() -> {
                DatabaseAccessPolicy current = client.resources(DatabaseAccessPolicy.class).inNamespace("shop")
                        .withName("checkout").get();
                current.setStatus(applied.getStatus());
                client.resource(current).updateStatus();
            });
            return applied;
        }).always();
    }

    private void fakeAuthentication() {
        server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
            TokenReview in = Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class);
            boolean ok = TOKEN.equals(in.getSpec().getToken()) && in.getSpec().getAudiences().contains("dbwarden");
            return new TokenReviewBuilder(in).withNewStatus().withAuthenticated(ok).withAudiences("dbwarden")
                    .withNewUser().withUsername(ok ? "system:serviceaccount:shop:checkout" : null).endUser()
                    .endStatus().build();
        }).always();
        // leader election asks what it may do with leases: exactly what the chart's Role grants
        server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews").andReply(201, req -> {
            SelfSubjectRulesReview in = Serialization.unmarshal(req.getBody().readUtf8(), SelfSubjectRulesReview.class);
            return new SelfSubjectRulesReviewBuilder(in).withNewStatus().withIncomplete(false)
                    .addNewResourceRule().withApiGroups("coordination.k8s.io").withResources("leases")
                    .withVerbs("create").endResourceRule()
                    .addNewResourceRule().withApiGroups("coordination.k8s.io").withResources("leases")
                    .withResourceNames("dbwarden-operator-lease").withVerbs("get", "update").endResourceRule()
                    .endStatus().build();
        }).always();
    }

    private static String caBundle() {
        MutatingWebhookConfiguration cfg = client.admissionRegistration().v1().mutatingWebhookConfigurations()
                .withName("dbwarden-operator").get();
        String b64 = cfg.getWebhooks().getFirst().getClientConfig().getCaBundle();
        return b64 == null ? null : new String(Base64.getDecoder().decode(b64), StandardCharsets.US_ASCII);
    }

    private static SSLContext trusting(String pem) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(
                new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
            ks.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    /** Threads doing full TLS handshakes with the operator back to back, recording what they see. */
    private static final class Handshakes implements AutoCloseable {
        final List<String> failures = new CopyOnWriteArrayList<>();
        final Set<String> serials = ConcurrentHashMap.newKeySet();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final List<Thread> threads = new ArrayList<>();

        Handshakes(SSLContext trust, int port, int n) {
            for (int i = 0; i < n; i++) {
                Thread t = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            serials.add(servedCertificate(trust, port).getSerialNumber().toString(16));
                        } catch (Exception e) {
                            failures.add(Instant.now() + " " + e);
                        }
                    }
                }, "handshakes-" + i);
                t.start();
                threads.add(t);
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            for (Thread t : threads) {
                t.join(10_000);
            }
        }

        @Override
        public void close() throws InterruptedException {
            stop();
        }
    }

    /** The certificate the operator serves right now, verified against the CA bundle and the host name. */
    private static X509Certificate servedCertificate(SSLContext trust, int port) throws Exception {
        try (SSLSocket socket = (SSLSocket) trust.getSocketFactory().createSocket("localhost", port)) {
            SSLParameters p = socket.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(p);
            socket.startHandshake();
            return (X509Certificate) socket.getSession().getPeerCertificates()[0];
        }
    }

    /** One AdmissionReview round trip; returns the pod with the webhook's patch applied. */
    private static Pod admit(HttpClient https, int port, Pod pod) throws Exception {
        ObjectNode review = JSON.createObjectNode();
        review.put("apiVersion", "admission.k8s.io/v1").put("kind", "AdmissionReview");
        ObjectNode request = review.putObject("request");
        request.put("uid", UUID.randomUUID().toString());
        request.putObject("kind").put("group", "").put("version", "v1").put("kind", "Pod");
        request.putObject("resource").put("group", "").put("version", "v1").put("resource", "pods");
        request.put("namespace", pod.getMetadata().getNamespace()).put("operation", "CREATE").put("dryRun", false);
        request.putObject("userInfo").put("username", "system:serviceaccount:kube-system:replicaset-controller");
        request.set("object", JSON.readTree(Serialization.asJson(pod)));
        HttpResponse<String> resp = https.send(HttpRequest.newBuilder(URI.create("https://localhost:" + port
                        + "/mutate/pods")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(review.toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(resp.statusCode()).isEqualTo(200);
        JsonNode response = JSON.readTree(resp.body()).get("response");
        assertThat(response.get("uid").asText()).isEqualTo(request.get("uid").asText());
        assertThat(response.get("allowed").asBoolean()).as(resp.body()).isTrue();
        if (!response.hasNonNull("patch")) {
            return pod;
        }
        JsonNode patch = JSON.readTree(Base64.getDecoder().decode(response.get("patch").asText()));
        JsonNode patched = JsonPatch.apply(patch, JSON.readTree(Serialization.asJson(pod)));
        return Serialization.unmarshal(patched.toString(), Pod.class);
    }

    /** Runs the sample's postgres-init SQL (as the postgres image's entrypoint would). */
    private static void initialiseLikeTheSample(EmbeddedPostgres pg, Path sample) throws Exception {
        String sql = null;
        for (JsonNode doc : ExamplesTest.documents(sample.resolve("postgres.yaml"))) {
            if ("postgres-init".equals(doc.path("metadata").path("name").asText())) {
                sql = doc.path("data").path("01-shop.sql").asText();
            }
        }
        assertThat(sql).isNotNull();
        String[] parts = sql.split("\\\\connect shop app\\n");
        try (Connection c = pg.getPostgresDatabase().getConnection(); Statement st = c.createStatement()) {
            for (String statement : parts[0].split(";\\s*\\n")) {
                if (!statement.isBlank()) {
                    st.execute(statement); // CREATE DATABASE must run on its own, like psql sends it
                }
            }
        }
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pg.getPort()
                + "/shop?user=app&password=change-me-app"); Statement st = c.createStatement()) {
            st.execute(parts[1]);
        }
    }
}
