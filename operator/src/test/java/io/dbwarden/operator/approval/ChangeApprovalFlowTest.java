package io.dbwarden.operator.approval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dbwarden.api.v1alpha1.ApprovalDecision;
import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.operator.SelfSignedTls;
import io.dbwarden.operator.SidecarProcess;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.zjsonpatch.JsonPatch;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The approval flow end to end: a statement held by a requireApproval rule in the real proxy (sidecar mode) becomes
 * a ChangeApproval; the admission webhook (called as the API server would, with the approver's user info) refuses
 * non-approvers, self-approval, edits of the request and changes after the decision, and stamps the real approver;
 * the reconciler moves the phase and notifies a chat webhook; the approved retry runs exactly once; denial and
 * expiry end requests; hold mode lets the statement wait for the decision.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(SelfSignedTls.class)
@QuarkusTestResource(value = NotifySink.class, restrictToAnnotatedClass = true)
class ChangeApprovalFlowTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Pattern NAMED = Pattern.compile("ChangeApproval shop/([a-z0-9-]+) is pending");

    @KubernetesTestServer
    KubernetesServer mockServer;

    @Inject
    KubernetesClient client;

    @TestHTTPResource(value = "/", tls = true)
    URL operatorUrl;

    @TestHTTPResource(value = "/admission/changeapprovals", tls = true)
    URL webhook;

    private void policy(int holdSeconds) throws Exception {
        applyPolicy("""
                  approvals:
                    approvers:
                      - user: alice@example.com
                      - group: dba
                    expiresAfter: PT10M
                    holdSeconds: %d
                """.formatted(holdSeconds));
    }

    /** Policy guarded-ddl for shop/checkout: DDL needs approval, then {@code more} (further rules, approvals). */
    private void applyPolicy(String more) throws Exception {
        DatabaseAccessPolicy p = PolicyLoader.parse("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: guarded-ddl
                  namespace: shop
                spec:
                  subjects:
                    - serviceAccount: checkout
                  defaultAction: allow
                  allowUnparsedStatements: true
                  rules:
                    - name: ddl-needs-approval
                      match:
                        statements: [CREATE, ALTER]
                      action: requireApproval
                """ + more, "test").get(0);
        client.resource(p).createOr(r -> r.update());
    }

    /** Guarded DDL, UPDATE held for approval too, approvers alice@example.com; {@code more}: further approvals keys. */
    private void updatesNeedApproval(String more) throws Exception {
        applyPolicy("""
                    - name: updates-need-approval
                      match:
                        statements: [UPDATE]
                      action: requireApproval
                  approvals:
                    approvers:
                      - user: alice@example.com
                """ + more);
    }

    private static String pendingName(SQLException e) {
        Matcher m = NAMED.matcher(e.getMessage());
        assertThat(m.find()).as(e.getMessage()).isTrue();
        return m.group(1);
    }

    private ChangeApproval get(String name) {
        return client.resources(ChangeApproval.class).inNamespace("shop").withName(name).get();
    }

    /**
     * What the API server does for `kubectl patch`: ask the webhook, then store the (mutated) object or refuse; a
     * patch applies to the latest version, so a concurrent status write by the reconciler just means trying again.
     */
    private JsonNode decide(String name, String user, List<String> groups, ApprovalDecision decision,
                            java.util.function.Consumer<ChangeApproval> extraEdit) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                return decideOnce(name, user, groups, decision, extraEdit);
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409 || attempt >= 5) {
                    throw e;
                }
            }
        }
    }

    private JsonNode decideOnce(String name, String user, List<String> groups, ApprovalDecision decision,
                                java.util.function.Consumer<ChangeApproval> extraEdit) throws Exception {
        ChangeApproval old = get(name);
        ChangeApproval edited = Serialization.clone(old);
        edited.getSpec().setDecision(decision);
        if (extraEdit != null) {
            extraEdit.accept(edited);
        }
        ObjectNode review = JSON.createObjectNode().put("apiVersion", "admission.k8s.io/v1").put("kind", "AdmissionReview");
        ObjectNode req = review.putObject("request");
        req.put("uid", UUID.randomUUID().toString()).put("operation", "UPDATE").put("namespace", "shop");
        req.putObject("kind").put("group", "dbwarden.io").put("version", "v1alpha1").put("kind", "ChangeApproval");
        req.putObject("resource").put("group", "dbwarden.io").put("version", "v1alpha1").put("resource", "changeapprovals");
        ObjectNode userInfo = req.putObject("userInfo").put("username", user);
        ArrayNode g = userInfo.putArray("groups");
        groups.forEach(g::add);
        req.set("object", JSON.readTree(Serialization.asJson(edited)));
        req.set("oldObject", JSON.readTree(Serialization.asJson(old)));
        JsonNode response = JSON.readTree(given().relaxedHTTPSValidation().contentType("application/json")
                .body(review.toString()).post(webhook).then().statusCode(200).extract().asString()).get("response");
        if (response.get("allowed").asBoolean()) {
            JsonNode target = JSON.readTree(Serialization.asJson(edited));
            if (response.hasNonNull("patch")) {
                target = JsonPatch.apply(JSON.readTree(Base64.getDecoder().decode(response.get("patch").asText())),
                        target);
            }
            client.resource(Serialization.unmarshal(target.toString(), ChangeApproval.class)).update();
        }
        return response;
    }

    private static String sha256(String s) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void heldStatementRunsOnceAfterAnApproversDecision() throws Exception {
        Assumptions.assumeTrue(Files.exists(SidecarProcess.PROXY_JAR), "build the proxy first (mvn verify)");
        SidecarProcess.acceptToken(mockServer);
        policy(0);
        String ddl = "CREATE TABLE approved_t (id int) /* reason='nightly%20report',ticket='OPS-7' */";
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
             SidecarProcess sidecar = SidecarProcess.start(operatorUrl.getPort(), pg.getPort());
             Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + sidecar.port
                     + "/postgres?sslmode=disable&user=app"); Statement s = c.createStatement()) {
            SQLException held = (SQLException) org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(ddl));
            assertThat(held.getSQLState()).isEqualTo("42501");
            assertThat(held.getMessage()).contains("ddl-needs-approval");
            String name = pendingName(held);
            ChangeApproval ca = get(name);
            assertThat(ca.getSpec().getRequester().getIdentity()).isEqualTo("shop/checkout");
            assertThat(ca.getSpec().getRequester().getPod()).isEqualTo("checkout-7d9f8c6b5-x2k4q");
            assertThat(ca.getSpec().getReason()).isEqualTo("nightly report");
            assertThat(ca.getSpec().getStatementHash()).isEqualTo(sha256("CREATE TABLE approved_t (id int)"));
            assertThat(ca.getSpec().getStatement()).isEqualTo("create table approved_t (id int)");
            assertThat(ca.getSpec().getPolicy()).isEqualTo("guarded-ddl");
            await().atMost(15, TimeUnit.SECONDS).until(() -> get(name).getStatus() != null
                    && get(name).getStatus().getPhase() == ApprovalPhase.PENDING);
            // asking again does not create a second request
            assertThat(pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(ddl))))
                    .isEqualTo(name);

            // who may not decide
            assertThat(decide(name, "bob@example.com", List.of("devs"), ApprovalDecision.APPROVED, null)
                    .at("/status/message").asText()).contains("not an approver of policy guarded-ddl");
            assertThat(decide(name, "system:serviceaccount:shop:checkout", List.of("dba"), ApprovalDecision.APPROVED,
                    null).at("/status/message").asText()).contains("cannot decide its own change");
            assertThat(decide(name, "alice@example.com", List.of(), ApprovalDecision.APPROVED,
                    e -> e.getSpec().setStatement("drop table everything")).at("/status/message").asText())
                    .contains("only spec.decision and spec.comment");
            assertThat(decide(name, "alice@example.com", List.of(), null,
                    e -> e.getMetadata().setAnnotations(java.util.Map.of(ApprovalState.DECIDED_BY, "alice@example.com")))
                    .at("/status/message").asText()).contains("written by dbwarden only");
            assertThat(get(name).getSpec().getDecision()).isNull();

            // the approver decides; the webhook records who, whatever the object claimed
            JsonNode ok = decide(name, "alice@example.com", List.of(), ApprovalDecision.APPROVED,
                    e -> e.getMetadata().setAnnotations(java.util.Map.of(ApprovalState.DECIDED_BY, "mallory")));
            assertThat(ok.get("allowed").asBoolean()).isTrue();
            await().atMost(15, TimeUnit.SECONDS).untilAsserted(() -> {
                ChangeApproval now = get(name);
                assertThat(now.getStatus().getPhase()).isEqualTo(ApprovalPhase.APPROVED);
                assertThat(now.getStatus().getDecidedBy()).isEqualTo("alice@example.com");
                assertThat(now.getStatus().getUsesLeft()).isEqualTo(1);
            });
            // decided approvals are immutable
            assertThat(decide(name, "alice@example.com", List.of(), ApprovalDecision.DENIED, null)
                    .at("/status/message").asText()).contains("already approved by alice@example.com");

            // the same statement now runs, exactly once
            s.execute(ddl);
            try (Connection direct = pg.getPostgresDatabase().getConnection()) {
                assertThat(direct.getMetaData().getTables(null, "public", "approved_t", null).next()).isTrue();
            }
            await().atMost(15, TimeUnit.SECONDS).until(() -> get(name).getStatus().getPhase() == ApprovalPhase.USED);
            SQLException again = (SQLException) org.assertj.core.api.Assertions.catchThrowable(() -> s.execute(ddl));
            assertThat(pendingName(again)).isNotEqualTo(name);
            // an approval is for that exact text only
            SQLException other = (SQLException) org.assertj.core.api.Assertions.catchThrowable(() ->
                    s.execute("CREATE TABLE approved_t2 (id int)"));
            assertThat(pendingName(other)).isNotEqualTo(name);

            // denial by a member of an approver group ends it
            String alter = "ALTER TABLE approved_t ADD COLUMN note text";
            String denied = pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(() ->
                    s.execute(alter)));
            assertThat(decide(denied, "carol@example.com", List.of("dba"), ApprovalDecision.DENIED,
                    e -> e.getSpec().setComment("use a migration")).get("allowed").asBoolean()).isTrue();
            await().atMost(15, TimeUnit.SECONDS).until(() -> get(denied).getStatus().getPhase() == ApprovalPhase.DENIED);
            assertThatThrownBy(() -> s.execute(alter)).hasMessageContaining("was denied: use a migration")
                    .hasMessageContaining("carol@example.com");

            // hold mode: the statement waits for the decision instead of failing
            policy(20);
            Thread.sleep(1500); // the sidecar long-polls the new policy
            String index = "CREATE INDEX approved_t_id ON approved_t (id)";
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                try (Connection c2 = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + sidecar.port
                        + "/postgres?sslmode=disable&user=app"); Statement s2 = c2.createStatement()) {
                    s2.execute(index);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            String[] holdName = new String[1];
            await().atMost(15, TimeUnit.SECONDS).until(() -> {
                holdName[0] = client.resources(ChangeApproval.class).inNamespace("shop").list().getItems().stream()
                        .filter(x -> x.getSpec().getStatement().startsWith("create index approved_t_id")).map(x -> x.getMetadata()
                                .getName()).findFirst().orElse(null);
                return holdName[0] != null;
            });
            assertThat(waiting).isNotDone();
            decide(holdName[0], "alice@example.com", List.of(), ApprovalDecision.APPROVED, null);
            waiting.get(20, TimeUnit.SECONDS);
        }
        // Events and chat notifications for request and decision (an Event follows its status update)
        await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                client.v1().events().inNamespace("shop").list().getItems())
                .anySatisfy(e -> assertThat(e.getReason()).isEqualTo("ApprovalRequested"))
                .anySatisfy(e -> assertThat(e.getReason()).isEqualTo("Approved"))
                .anySatisfy(e -> assertThat(e.getReason()).isEqualTo("Denied")));
        await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThat(NotifySink.RECEIVED)
                .anySatisfy(b -> assertThat(JSON.readTree(b).get("text").asText()).contains(":raised_hand:")
                        .contains("shop/checkout").contains("nightly report"))
                .anySatisfy(b -> assertThat(JSON.readTree(b).get("text").asText())
                        .contains("approved by alice@example.com")));
    }

    /** A driver's prepared UPDATE with bind parameters: the approval covers the statement with the values bound. */
    @Test
    void aPreparedChangeIsApprovedWithTheValuesBoundToIt() throws Exception {
        Assumptions.assumeTrue(Files.exists(SidecarProcess.PROXY_JAR), "build the proxy first (mvn verify)");
        SidecarProcess.acceptToken(mockServer);
        updatesNeedApproval("");
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
             SidecarProcess sidecar = SidecarProcess.start(operatorUrl.getPort(), pg.getPort());
             Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + sidecar.port
                     + "/postgres?sslmode=disable&user=app&prepareThreshold=1");
             java.sql.PreparedStatement update = c.prepareStatement("UPDATE prices SET v = ? WHERE id = ?")) {
            try (Connection direct = pg.getPostgresDatabase().getConnection(); Statement d = direct.createStatement()) {
                d.execute("CREATE TABLE prices AS SELECT g AS id, 0 AS v FROM generate_series(1, 2) g");
            }
            update.setInt(1, 5);
            update.setInt(2, 1);
            String name = pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(
                    update::executeUpdate));
            ChangeApproval ca = get(name);
            assertThat(ca.getSpec().getStatement()).startsWith("update prices set v = ");
            assertThat(ca.getSpec().getStatementHash()).as("the text and the values")
                    .isNotEqualTo(sha256("UPDATE prices SET v = $1 WHERE id = $2"));
            await().atMost(15, TimeUnit.SECONDS).until(() -> get(name).getStatus() != null
                    && get(name).getStatus().getPhase() == ApprovalPhase.PENDING);
            // the same values asked again: the same request
            assertThat(pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(
                    update::executeUpdate))).isEqualTo(name);
            decide(name, "alice@example.com", List.of(), ApprovalDecision.APPROVED, null);
            await().atMost(15, TimeUnit.SECONDS)
                    .until(() -> get(name).getStatus().getPhase() == ApprovalPhase.APPROVED);
            // other values are another change: the approval does not cover them
            update.setInt(1, 999);
            update.setInt(2, 2);
            assertThat(pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(
                    update::executeUpdate))).isNotEqualTo(name);
            // the approved values run, once
            update.setInt(1, 5);
            update.setInt(2, 1);
            assertThat(update.executeUpdate()).isEqualTo(1);
            await().atMost(15, TimeUnit.SECONDS).until(() -> get(name).getStatus().getPhase() == ApprovalPhase.USED);
            assertThat(pendingName((SQLException) org.assertj.core.api.Assertions.catchThrowable(
                    update::executeUpdate))).isNotEqualTo(name);
            try (Connection direct = pg.getPostgresDatabase().getConnection(); Statement d = direct.createStatement();
                 var rs = d.executeQuery("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM prices")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("1=5,2=0");
            }
        }
    }

    @Test
    void automaticApprovalRulesRecordAndRunLowRiskChanges() throws Exception {
        Assumptions.assumeTrue(Files.exists(SidecarProcess.PROXY_JAR), "build the proxy first (mvn verify)");
        SidecarProcess.acceptToken(mockServer);
        updatesNeedApproval("""
                    autoApprove:
                      - name: online-indexes
                        changes: [createIndexConcurrently]
                      - name: small-updates
                        rules: [updates-need-approval]
                        maxEstimatedRows: 100
                """);
        try (EmbeddedPostgres pg = EmbeddedPostgres.builder().start();
             SidecarProcess sidecar = SidecarProcess.start(operatorUrl.getPort(), pg.getPort());
             Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + sidecar.port
                     + "/postgres?sslmode=disable&user=app"); Statement s = c.createStatement()) {
            try (Connection direct = pg.getPostgresDatabase().getConnection(); Statement d = direct.createStatement()) {
                d.execute("CREATE TABLE small AS SELECT g AS id, 0 AS v FROM generate_series(1, 10) g");
                d.execute("CREATE TABLE big AS SELECT g AS id, 0 AS v FROM generate_series(1, 10000) g");
                d.execute("ANALYZE small");
                d.execute("ANALYZE big");
            }
            // a low-risk change runs at once, and the approval is on record
            s.execute("CREATE INDEX CONCURRENTLY small_id ON small (id)");
            await().atMost(15, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                    client.resources(ChangeApproval.class).inNamespace("shop").list().getItems())
                    .anySatisfy(ca -> {
                        assertThat(ca.getSpec().getStatement()).startsWith("create index concurrently small_id");
                        assertThat(ca.getStatus().getAutoApproved()).isTrue();
                        assertThat(ca.getStatus().getAutoApprovalRule()).isEqualTo("online-indexes");
                        assertThat(ca.getStatus().getDecidedBy()).isEqualTo("auto:online-indexes");
                        assertThat(ca.getStatus().getPhase()).isEqualTo(ApprovalPhase.USED);
                    }));
            // the EXPLAIN estimate decides for updates
            assertThat(s.executeUpdate("UPDATE small SET v = 1 WHERE id < 5")).isEqualTo(4);
            SQLException big = (SQLException) org.assertj.core.api.Assertions.catchThrowable(() ->
                    s.executeUpdate("UPDATE big SET v = 1"));
            assertThat(big.getMessage()).contains("updates-need-approval").contains("is pending");
            // a prepared update is estimated with the values bound to it: few rows run at once, many wait
            try (java.sql.PreparedStatement ps = c.prepareStatement("UPDATE big SET v = 2 WHERE id <= ?")) {
                ps.setInt(1, 5);
                assertThat(ps.executeUpdate()).isEqualTo(5);
                ps.setInt(1, 9000);
                assertThat(org.assertj.core.api.Assertions.catchThrowable(ps::executeUpdate))
                        .hasMessageContaining("updates-need-approval").hasMessageContaining("is pending");
            }
            // other schema changes still need a person
            assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> s.execute("CREATE TABLE nope (id int)")))
                    .hasMessageContaining("is pending");
            try (Connection direct = pg.getPostgresDatabase().getConnection(); Statement d = direct.createStatement();
                 var rs = d.executeQuery("SELECT count(*) FILTER (WHERE v = 1), count(*) FILTER (WHERE v = 2) "
                         + "FROM big")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
                assertThat(rs.getInt(2)).isEqualTo(5);
            }
        }
        await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                client.v1().events().inNamespace("shop").list().getItems())
                .anySatisfy(e -> assertThat(e.getReason()).isEqualTo("AutoApproved")));
    }

    @Test
    void onlyTheOperatorCreatesRequestsAndUnusedOnesExpire() throws Exception {
        ObjectNode review = JSON.createObjectNode().put("apiVersion", "admission.k8s.io/v1").put("kind", "AdmissionReview");
        ObjectNode req = review.putObject("request");
        req.put("uid", "1").put("operation", "CREATE").put("namespace", "shop");
        req.putObject("userInfo").put("username", "mallory@example.com");
        req.set("object", JSON.readTree(Files.readString(java.nio.file.Path.of(
                "src/test/resources/approval/changeapproval.json"))));
        JsonNode refused = JSON.readTree(given().relaxedHTTPSValidation().contentType("application/json")
                .body(review.toString()).post(webhook).then().statusCode(200).extract().asString()).get("response");
        assertThat(refused.get("allowed").asBoolean()).isFalse();
        assertThat(refused.at("/status/message").asText()).contains("created by dbwarden");

        ChangeApproval ca = Serialization.unmarshal(Files.readString(java.nio.file.Path.of(
                "src/test/resources/approval/changeapproval.json")), ChangeApproval.class);
        ca.getMetadata().setName("short-lived");
        ca.getSpec().setExpiresAt(Instant.now().plusSeconds(2).toString());
        client.resource(ca).create();
        await().atMost(15, TimeUnit.SECONDS).until(() -> get("short-lived").getStatus() != null
                && get("short-lived").getStatus().getPhase() == ApprovalPhase.EXPIRED);
        // the Event is recorded right after the status update that the wait above saw
        await().atMost(10, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                client.v1().events().inNamespace("shop").list().getItems())
                .anySatisfy(e -> {
                    assertThat(e.getReason()).isEqualTo("Expired");
                    assertThat(e.getType()).isEqualTo("Warning");
                    assertThat(e.getInvolvedObject().getName()).isEqualTo("short-lived");
                }));
    }
}
