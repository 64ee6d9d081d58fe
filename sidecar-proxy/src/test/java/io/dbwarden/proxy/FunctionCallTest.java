package io.dbwarden.proxy;

import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.PGConnection;
import org.postgresql.fastpath.Fastpath;
import org.postgresql.fastpath.FastpathArg;
import org.postgresql.largeobject.LargeObject;
import org.postgresql.largeobject.LargeObjectManager;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The function-call message (libpq's and pgjdbc's large-object interface, pgjdbc's Fastpath API) through the proxy:
 * the proxy asks the server, in the same session, which function the OID names and decides the call as
 * {@code SELECT schema.function($1, ...)} under the policy, with the server-function guards and the audit of SQL.
 */
@ExtendWith(LeakDetection.class)
class FunctionCallTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: blobs
              namespace: test
            spec:
              subjects:
                - identity: test/app
              defaultAction: deny
              rules:
                - name: large-objects
                  match:
                    statements: [SELECT]
                    functions: [lo_creat, lo_create, lo_open, lo_close, loread, lowrite, lo_lseek, lo_lseek64, lo_tell,
                                lo_tell64, lo_truncate, lo_truncate64, lo_unlink]
                  action: allow
                - name: own-functions
                  match:
                    statements: [SELECT]
                    functions: [public.fc_add_one]
                  action: allow
                - name: catalog-reads
                  match:
                    statements: [SELECT]
                    tables: ["pg_catalog.*"]
                  action: allow
                - name: housekeeping
                  match:
                    statements: [TRANSACTION, SET, SHOW]
                  action: allow
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: readers
              namespace: test
            spec:
              subjects:
                - identity: test/reader
              defaultAction: deny
              rules:
                - name: no-large-objects
                  match:
                    functions: ["lo_*", loread, lowrite, pg_sleep]
                  action: deny
                  message: large objects are not for this service.
                - name: catalog-reads
                  match:
                    statements: [SELECT]
                    tables: ["pg_catalog.*"]
                  action: allow
                - name: housekeeping
                  match:
                    statements: [TRANSACTION, SET, SHOW]
                  action: allow
            ---
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: masked
              namespace: test
            spec:
              subjects:
                - identity: test/masked
              defaultAction: allow
              masking:
                detectors:
                  - type: creditCard
                    strategy: partial
            """;

    static Path dir;
    static Path policy;
    static RunCommand.Running app;
    static int addOneOid;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("function-call-test");
        policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("CREATE OR REPLACE FUNCTION public.fc_add_one(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1'");
            s.execute("GRANT EXECUTE ON FUNCTION public.fc_add_one(int) TO PUBLIC");
            addOneOid = oid(s, "public.fc_add_one(int)");
        }
        app = CliProxy.start(dir, policy, "test/app");
    }

    @AfterAll
    static void stop() throws Exception {
        if (app != null) {
            app.close();
        }
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DROP FUNCTION IF EXISTS public.fc_add_one(int)");
        }
    }

    private static int oid(Statement s, String signature) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT '" + signature + "'::regprocedure::oid::int")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static Fastpath fastpath(Connection c) throws SQLException {
        @SuppressWarnings("deprecation")
        Fastpath fp = c.unwrap(PGConnection.class).getFastpathAPI();
        return fp;
    }

    @SuppressWarnings("deprecation")
    private static int call(Connection c, int oid, int argument) throws SQLException {
        byte[] result = fastpath(c).fastpath(oid, new FastpathArg[] {new FastpathArg(argument)});
        return java.nio.ByteBuffer.wrap(result).getInt();
    }

    private static List<String> auditLines(Path audit, String needle) throws IOException {
        return Files.readAllLines(audit).stream().filter(l -> l.contains(needle)).toList();
    }

    @Test
    void largeObjectsOfPgjdbcWorkThroughTheProxyAndAreAudited() throws Exception {
        byte[] data = new byte[300_000];
        new Random(7).nextBytes(data);
        long oid;
        try (Connection c = CliProxy.connect(app, "")) {
            c.setAutoCommit(false);
            LargeObjectManager lom = c.unwrap(PGConnection.class).getLargeObjectAPI();
            oid = lom.createLO(LargeObjectManager.READWRITE);
            try (LargeObject lo = lom.open(oid, LargeObjectManager.WRITE)) {
                lo.write(data);
            }
            c.commit();
            try (LargeObject lo = lom.open(oid, LargeObjectManager.READ)) {
                assertThat(lo.size()).isEqualTo(data.length);
                lo.seek(1000);
                assertThat(lo.read(16)).isEqualTo(Arrays.copyOfRange(data, 1000, 1016));
                lo.seek(0);
                assertThat(lo.read(data.length)).isEqualTo(data);
            }
            lom.delete(oid);
            c.commit();
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata WHERE oid = "
                         + oid)) {
                rs.next();
                assertThat(rs.getInt(1)).as("unlinked").isZero();
            }
            c.commit();
        }
        Path audit = dir.resolve("audit.jsonl");
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(auditLines(audit, "lo_unlink"))
                .isNotEmpty());
        assertThat(auditLines(audit, "\"statement\":\"select pg_catalog.lowrite($1, $2)\""))
                .isNotEmpty()
                .allSatisfy(l -> assertThat(l).contains("\"protocol\":\"function-call\"", "\"decision\":\"allow\"",
                        "\"rule\":\"large-objects\"", "\"executed\":true", "\"rows\":1", "\"error\":null"));
        assertThat(auditLines(audit, "\"statement\":\"select pg_catalog.lo_open($1, $2)\"")).hasSizeGreaterThan(1);
        assertThat(Files.readString(audit)).as("no argument values in the audit")
                .doesNotContain("\"statement\":\"select pg_catalog.lo_open(" + oid);
    }

    @Test
    void userFunctionsAreDecidedByTheirNameAndTheirErrorsKeepTheSessionUsable() throws Exception {
        try (Connection c = CliProxy.connect(app, "")) {
            assertThat(call(c, addOneOid, 41)).isEqualTo(42);
            // a call that fails in the server: its error, and the session goes on
            assertThatThrownBy(() -> call(c, addOneOid, Integer.MAX_VALUE))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("22003"));
            assertThat(call(c, addOneOid, 1)).isEqualTo(2);
            // inside a transaction the failed call aborts it, as it would without the proxy
            c.setAutoCommit(false);
            assertThatThrownBy(() -> call(c, addOneOid, Integer.MAX_VALUE)).isInstanceOf(SQLException.class);
            assertThatThrownBy(() -> call(c, addOneOid, 1))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            c.rollback();
            assertThat(call(c, addOneOid, 2)).isEqualTo(3);
            c.commit();
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                auditLines(dir.resolve("audit.jsonl"), "\"statement\":\"select public.fc_add_one($1)\""))
                .anySatisfy(l -> assertThat(l).contains("\"rule\":\"own-functions\"", "\"errorCode\":\"22003\"")));
    }

    @Test
    void callsThePolicyDoesNotAllowAreRefusedWithoutReachingTheServer() throws Exception {
        int loImport;
        int pgSleep;
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            loImport = oid(s, "pg_catalog.lo_import(text)");
            pgSleep = oid(s, "pg_catalog.pg_sleep(double precision)");
        }
        try (RunCommand.Running reader = CliProxy.start(dir, policy, "test/reader", "--audit",
                dir.resolve("audit-reader.jsonl").toString());
             Connection c = CliProxy.connect(reader, "")) {
            LargeObjectManager lom = c.unwrap(PGConnection.class).getLargeObjectAPI();
            c.setAutoCommit(false);
            assertThatThrownBy(() -> lom.createLO(LargeObjectManager.READWRITE))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"))
                    .hasMessageContaining("large objects are not for this service");
            // the refusal aborted the transaction, as a failed call would have
            assertThatThrownBy(() -> c.createStatement().execute("SELECT 1 FROM pg_catalog.pg_class LIMIT 1"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            c.rollback();
            c.setAutoCommit(true);
            @SuppressWarnings("deprecation")
            FastpathArg seconds = new FastpathArg(new byte[] {0x40, 0x24, 0, 0, 0, 0, 0, 0}); // 10.0 as float8
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> fastpath(c).fastpath(pgSleep, new FastpathArg[] {seconds}))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
            assertThat(System.nanoTime() - t0).as("not run").isLessThan(TimeUnit.SECONDS.toNanos(5));
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'pg_class'")) {
                rs.next();
                assertThat(rs.getInt(1)).as("the session is usable").isEqualTo(1);
            }
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                auditLines(dir.resolve("audit-reader.jsonl"), "\"statement\":\"select pg_catalog.pg_sleep($1)\""))
                .singleElement().satisfies(l -> assertThat(l).contains("\"decision\":\"deny\"",
                        "\"protocol\":\"function-call\"", "\"rule\":\"no-large-objects\"", "\"executed\":false")));
        // a server-file read through a function call meets the built-in guard like the same call in SQL
        try (Connection c = CliProxy.connect(app, "")) {
            @SuppressWarnings("deprecation")
            FastpathArg path = new FastpathArg("/etc/hostname");
            assertThatThrownBy(() -> fastpath(c).fastpath(loImport, new FastpathArg[] {path}))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"))
                    .hasMessageContaining("lo_import");
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                auditLines(dir.resolve("audit.jsonl"), "\"statement\":\"select pg_catalog.lo_import($1)\""))
                .singleElement().satisfies(l -> assertThat(l).contains("\"decision\":\"deny\"",
                        "\"rule\":\"server-functions\"", "\"executed\":false")));
    }

    @Test
    void unknownFunctionOidsAndAbortedTransactionsGetTheServersAnswer() throws Exception {
        try (Connection c = CliProxy.connect(app, "")) {
            assertThatThrownBy(() -> call(c, 999_999_999, 1))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42883"))
                    .hasMessageContaining("function with OID 999999999 does not exist");
            assertThat(call(c, addOneOid, 9)).isEqualTo(10);
            c.setAutoCommit(false);
            assertThatThrownBy(() -> c.createStatement().execute("SELECT 1/0")).isInstanceOf(SQLException.class);
            assertThatThrownBy(() -> call(c, addOneOid, 1))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25P02"));
            c.rollback();
            assertThat(call(c, addOneOid, 10)).isEqualTo(11);
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                auditLines(dir.resolve("audit.jsonl"), "<function call of OID 999999999>"))
                .singleElement().satisfies(l -> assertThat(l).contains("\"decision\":\"deny\"",
                        "\"errorCode\":\"42883\"", "\"executed\":false")));
    }

    @Test
    void pipelinedCallsKeepTheirPlaceInTheStream() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", app.server().port())) {
            socket.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            DataInputStream in = new DataInputStream(socket.getInputStream());
            out.write(RawPg.startup());
            out.flush();
            assertThat(readUntilReady(in)).endsWith("Z");
            // a call and a query sent together: the query waits for the call's lookup and verdict, answers in order
            out.write(functionCall(addOneOid, 41));
            out.write(RawPg.message('Q', "SELECT 7\0"));
            out.flush();
            assertThat(readUntilReady(in)).isEqualTo("VZ");
            assertThat(readUntilReady(in)).isEqualTo("TDCZ");
            // a call inside an extended-protocol batch whose Execute fails first: the server's error ends the batch
            out.write(RawPg.message('P', "\0SELECT 1 / (random() * 0)::int\0\0\0")); // fails in Execute
            out.write(RawPg.message('B', "\0\0\0\0\0\0\0\0"));
            out.write(RawPg.message('E', "\0\0\0\0\0"));
            out.write(functionCall(addOneOid, 1));
            out.write(RawPg.message('S', ""));
            out.flush();
            assertThat(readUntilReady(in)).isEqualTo("12EZ");
            out.write(functionCall(addOneOid, 99));
            out.flush();
            assertThat(readUntilReady(in)).isEqualTo("VZ");
            // a call inside a batch that has not failed: refused, and the batch fails as with a blocked Parse
            out.write(RawPg.message('P', "\0SELECT 1\0\0\0"));
            out.write(RawPg.message('B', "\0\0\0\0\0\0\0\0"));
            out.write(RawPg.message('E', "\0\0\0\0\0"));
            out.write(functionCall(addOneOid, 1));
            out.write(RawPg.message('S', ""));
            out.flush();
            assertThat(readUntilReady(in)).isEqualTo("12DCEZ");
            out.write(functionCall(addOneOid, 7));
            out.flush();
            assertThat(readUntilReady(in)).isEqualTo("VZ");
        }
        await().atMost(5, TimeUnit.SECONDS).untilAsserted(() -> assertThat(
                auditLines(dir.resolve("audit.jsonl"), "<function call of OID " + addOneOid + ">"))
                .anySatisfy(l -> assertThat(l).contains("\"decision\":\"deny\"", "\"errorCode\":\"0A000\"",
                        "inside an extended-protocol batch")));
        // a client that leaves while its call is being looked up: nothing is left behind (leak detection checks)
        for (int i = 0; i < 20; i++) {
            try (Socket socket = new Socket("127.0.0.1", app.server().port())) {
                DataOutputStream out = new DataOutputStream(socket.getOutputStream());
                out.write(RawPg.startup());
                out.flush();
                assertThat(readUntilReady(new DataInputStream(socket.getInputStream()))).endsWith("Z");
                out.write(functionCall(addOneOid + i % 2, 1)); // every other one an OID of another object, or none
                out.flush();
            }
        }
        try (Connection c = CliProxy.connect(app, "")) {
            assertThat(call(c, addOneOid, 5)).isEqualTo(6);
        }
    }

    /** FunctionCall of {@code oid} with one binary int4 argument and a binary result. */
    private static byte[] functionCall(int oid, int argument) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1 + 4 + 4 + 2 + 2 + 2 + 4 + 4 + 2);
        b.put((byte) 'F').putInt(b.capacity() - 1).putInt(oid).putShort((short) 1).putShort((short) 1)
                .putShort((short) 1).putInt(4).putInt(argument).putShort((short) 1);
        return b.array();
    }

    /** Message types up to and including the next ReadyForQuery (start-up chatter and notices left out). */
    private static String readUntilReady(DataInputStream in) throws IOException {
        StringBuilder types = new StringBuilder();
        while (true) {
            char type = (char) in.readByte();
            in.readNBytes(in.readInt() - 4);
            if ("SKRN".indexOf(type) < 0) {
                types.append(type);
            }
            if (type == 'Z') {
                return types.toString();
            }
        }
    }

    @Test
    void maskedSessionsCannotCallBecauseTheResultCannotBeMasked() throws Exception {
        try (RunCommand.Running masked = CliProxy.start(dir, policy, "test/masked", "--audit",
                dir.resolve("audit-masked.jsonl").toString());
             Connection c = CliProxy.connect(masked, "")) {
            assertThatThrownBy(() -> call(c, addOneOid, 1))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"))
                    .hasMessageContaining("the result of a function call cannot be");
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
        }
    }

    @Test
    void psqlLargeObjectCommandsUseTheFunctionCallMessage() throws Exception {
        Path psql = Path.of("/usr/bin/psql");
        Assumptions.assumeTrue(Files.isExecutable(psql), "psql is not installed");
        Path in = dir.resolve("blob-in.bin");
        Path out = dir.resolve("blob-out.bin");
        byte[] data = new byte[100_000];
        new Random(11).nextBytes(data);
        Files.write(in, data);
        String script = "BEGIN;\n\\lo_import '" + in + "'\n\\lo_export :LASTOID '" + out + "'\n"
                + "\\lo_unlink :LASTOID\nCOMMIT;\n";
        ProcessBuilder pb = new ProcessBuilder(psql.toString(), "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", String.valueOf(app.server().port()), "-U", "app", "-d", EmbeddedPg.DATABASE, "-At");
        pb.environment().put("PGSSLMODE", "disable");
        pb.environment().remove("PGPASSWORD");
        Process p = pb.start();
        try (var stdin = p.getOutputStream()) {
            stdin.write(script.getBytes(StandardCharsets.UTF_8));
        }
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as(err).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(data);
    }
}
