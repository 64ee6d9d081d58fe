package io.dbwarden.proxy.approval;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import io.dbwarden.proxy.postgres.PgMessages;
import io.dbwarden.proxy.sql.StatementAnalyzer;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random pipelines of Parse, Bind, Execute, Close and Sync (inside and outside transaction blocks) of an INSERT
 * with a bind parameter that needs an approval, against an approval service that grants some requests (at once or
 * later) and never those of some values: every row that lands was approved with its value, never more often than
 * approvals for that value were granted. {@code -Ddbwarden.fuzz.seed=N -Ddbwarden.fuzz.sessions=N} vary it.
 */
@ExtendWith(LeakDetection.class)
class ApprovalFuzzTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata: {name: reviewed-inserts, namespace: test}
            spec:
              subjects: [{identity: "*/*"}]
              defaultAction: allow
              rules:
                - name: inserts-need-approval
                  match: {statements: [INSERT], tables: ["public.appr_fuzz"]}
                  action: requireApproval
            """;
    private static final int VALUES = 4;

    @Test
    void everyRowThatLandsWasApprovedWithItsValue() throws Exception {
        long seed = Long.getLong("dbwarden.fuzz.seed", 20261203L);
        int sessions = Integer.getInteger("dbwarden.fuzz.sessions", 30);
        EmbeddedPg.execute("DROP TABLE IF EXISTS appr_fuzz", "CREATE TABLE appr_fuzz (v int)");
        Map<String, Integer> digests = new ConcurrentHashMap<>();
        for (int v = 1; v <= VALUES; v++) {
            digests.put(HexFormat.of().formatHex(digest(bind("", "s", v))), v);
        }
        Map<Integer, AtomicInteger> granted = new ConcurrentHashMap<>();
        AtomicInteger asked = new AtomicInteger();
        Random decisions = new Random(seed ^ 0x5DEECE66DL);
        PolicyEngine engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
        StatementAnalyzer analyzer = new StatementAnalyzer(10_000, 1 << 20, 5_000, 1);
        PolicyFilter policy = new PolicyFilter(engine, analyzer, 1000);
        policy.approvals((context, held, compiled) -> {
            asked.incrementAndGet();
            assertThat(context.boundValues()).as("asked with the values bound").isNotNull();
            Integer value = digests.get(HexFormat.of().formatHex(context.boundValues().digest()));
            assertThat(value).as("a digest of a value the test bound").isNotNull();
            boolean approve;
            boolean later;
            synchronized (decisions) {
                // the approvers never approve the higher values: a row of one of them ran on someone else's approval
                approve = value <= VALUES / 2 && decisions.nextInt(10) < 7;
                later = decisions.nextBoolean();
            }
            if (approve) {
                granted.computeIfAbsent(value, k -> new AtomicInteger()).incrementAndGet();
            }
            Verdict v = approve ? Verdict.approved(held.policy(), held.rule(), "approved: fuzz")
                    : Verdict.deny(held.policy(), held.rule(), "not approved", io.dbwarden.proxy.postgres.PgError
                            .error(io.dbwarden.proxy.postgres.PgError.INSUFFICIENT_PRIVILEGE, "not approved", null,
                                    null));
            return later ? CompletableFuture.supplyAsync(() -> v, CompletableFuture.delayedExecutor(2,
                    TimeUnit.MILLISECONDS)) : CompletableFuture.completedFuture(v);
        });
        try (RunningProxy proxy = RunningProxy.start(c -> c.withIdentity("test/app"), List.of(policy),
                engine::sessionSettings)) {
            Random random = new Random(seed);
            for (int s = 0; s < sessions; s++) {
                session(proxy.port(), new Random(random.nextLong()));
            }
        } finally {
            analyzer.close();
        }
        Map<Integer, Integer> landed = new java.util.HashMap<>();
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT v, count(*) FROM appr_fuzz GROUP BY v")) {
            while (rs.next()) {
                landed.put(rs.getInt(1), rs.getInt(2));
            }
        }
        landed.forEach((v, n) -> assertThat(n).as("rows of value " + v + " (seed " + seed + ")")
                .isLessThanOrEqualTo(granted.getOrDefault(v, new AtomicInteger()).get()));
        assertThat(landed.keySet()).as("values never approved (seed " + seed + ")").allMatch(v -> v <= VALUES / 2);
        assertThat(asked.get()).as("approvals were asked for").isGreaterThan(sessions);
        assertThat(landed.values().stream().mapToInt(Integer::intValue).sum()).as("some rows landed").isPositive();
    }

    /** A session of random batches; each batch ends with Sync (or a simple query) and is read to ReadyForQuery. */
    private static void session(int port, Random r) throws Exception {
        try (RawPg.Session s = new RawPg.Session(port)) {
            List<String> statements = new ArrayList<>(List.of(""));
            List<String> portals = new ArrayList<>(List.of(""));
            for (int batch = 0, batches = 3 + r.nextInt(6); batch < batches; batch++) {
                if (r.nextInt(5) == 0) {
                    String[] control = {"BEGIN", "COMMIT", "ROLLBACK", "SELECT 1"};
                    s.send(RawPg.message('Q', control[r.nextInt(control.length)] + "\0"));
                    s.untilReady();
                    continue;
                }
                if (r.nextInt(4) == 0) {
                    // two portals of one statement, a value the approvers may approve and one they never do, the
                    // later one run first: each runs on an approval of its own values or not at all
                    String name = r.nextBoolean() ? "" : "s0";
                    if (!statements.contains(name)) {
                        statements.add(name);
                    }
                    s.send(RawPg.message('P', RawPg.parse(name, "INSERT INTO appr_fuzz VALUES ($1::int)")),
                            RawPg.message('B', bind("p0", name, 1 + r.nextInt(VALUES / 2))),
                            RawPg.message('B', bind("p1", name, VALUES / 2 + 1 + r.nextInt(VALUES / 2))),
                            RawPg.message('E', "p1\0\0\0\0\0".getBytes(StandardCharsets.UTF_8)),
                            RawPg.message('E', "p0\0\0\0\0\0".getBytes(StandardCharsets.UTF_8)),
                            RawPg.message('S', ""));
                    s.untilReady(); // a batch of its own: an error later in a batch would roll its rows back
                    continue;
                }
                if (r.nextBoolean()) {
                    // a driver's shape: Parse, Bind and Execute of one statement, the rest of the batch random
                    String name = r.nextBoolean() ? "" : "s0";
                    String portal = r.nextBoolean() ? "" : "p" + r.nextInt(2);
                    if (!statements.contains(name)) {
                        statements.add(name);
                    }
                    if (!portals.contains(portal)) {
                        portals.add(portal);
                    }
                    s.send(RawPg.message('P', RawPg.parse(name, "INSERT INTO appr_fuzz VALUES ($1::int)")),
                            RawPg.message('B', bind(portal, name, 1 + r.nextInt(VALUES))),
                            RawPg.message('E', (portal + "\0\0\0\0\0").getBytes(StandardCharsets.UTF_8)));
                }
                for (int m = 0, messages = r.nextInt(7); m < messages; m++) {
                    String statement = statements.get(r.nextInt(statements.size()));
                    String portal = portals.get(r.nextInt(portals.size()));
                    switch (r.nextInt(10)) {
                        case 0, 1 -> {
                            String name = r.nextBoolean() ? "" : "s0";
                            if (!statements.contains(name)) {
                                statements.add(name);
                            }
                            String sql = r.nextInt(4) == 0 ? "INSERT INTO appr_fuzz (v) SELECT $1::int"
                                    : "INSERT INTO appr_fuzz VALUES ($1::int)";
                            s.send(RawPg.message('P', RawPg.parse(name, sql)));
                        }
                        case 2, 3, 4 -> {
                            String name = r.nextBoolean() ? "" : "p" + r.nextInt(2);
                            if (!portals.contains(name)) {
                                portals.add(name);
                            }
                            s.send(RawPg.message('B', bind(name, statement, 1 + r.nextInt(VALUES))));
                        }
                        case 5, 6, 7 -> s.send(RawPg.message('E', (portal + "\0\0\0\0\0")
                                .getBytes(StandardCharsets.UTF_8)));
                        case 8 -> s.send(RawPg.message('C', ((r.nextBoolean() ? "S" : "P")
                                + (r.nextBoolean() ? statement : portal) + "\0").getBytes(StandardCharsets.UTF_8)));
                        default -> s.send(RawPg.message('H', ""));
                    }
                }
                s.send(RawPg.message('S', ""));
                s.untilReady();
            }
        }
    }

    /** A Bind body: portal, statement, all parameters in text, the value, no result format codes. */
    private static byte[] bind(String portal, String statement, int value) {
        byte[] names = RawPg.cstrings(portal, statement);
        byte[] v = Integer.toString(value).getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(names.length + 2 + 2 + 4 + v.length + 2).put(names).putShort((short) 0)
                .putShort((short) 1).putInt(v.length).put(v).putShort((short) 0).array();
    }

    private static byte[] digest(byte[] bindBody) {
        ByteBuf frame = Unpooled.wrappedBuffer(RawPg.message('B', bindBody));
        try {
            return PgMessages.bindValuesDigest(frame, new byte[] {0, 0}); // the test's Parse declares no types
        } finally {
            frame.release();
        }
    }
}
