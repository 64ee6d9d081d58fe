package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.dbwarden.proxy.testing.FakeServer.dataRow;
import static io.dbwarden.proxy.testing.FakeServer.proxyInFrontOf;
import static io.dbwarden.proxy.testing.FakeServer.readUntilEnd;
import static io.dbwarden.proxy.testing.FakeServer.readUntilReady;
import static io.dbwarden.proxy.testing.FakeServer.rowDescription;
import static io.dbwarden.proxy.testing.FakeServer.serveOneSession;
import static io.dbwarden.proxy.testing.FakeServer.startSession;
import static io.dbwarden.proxy.testing.RawPg.cstrings;
import static io.dbwarden.proxy.testing.RawPg.message;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The database connection ends under a session. Lost without a word (a crash, a network failure), the client gets a
 * FATAL error saying so instead of a bare end of stream, and the statement that was in flight is audited with that
 * outcome. Ended by the server with its own FATAL error (an administrator's pg_terminate_backend), the client gets
 * the server's reason and nothing more from the proxy.
 */
@ExtendWith(LeakDetection.class)
class UpstreamLossTest {

    @Test
    void aDatabaseConnectionLostMidStatementLeavesTheClientAClearErrorAndTheStatementAudited() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofPlatform().daemon().start(() -> vanishOnQuery(fake));
            try (RunningProxy proxy = proxyInFrontOf(fake);
                 Connection c = proxy.connect("preferQueryMode=simple")) {
                assertThatThrownBy(() -> {
                    try (Statement s = c.createStatement()) {
                        s.execute("SELECT 'vanish'");
                    }
                }).isInstanceOfSatisfying(SQLException.class, e -> {
                    assertThat(e.getSQLState()).isEqualTo("08006");
                    assertThat(e.getMessage()).contains("dbwarden: the database closed the connection unexpectedly");
                });
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.stream()
                        .anyMatch(r -> r.statement().text().contains("vanish")));
                ExecutionRecord r = proxy.records.stream().filter(x -> x.statement().text().contains("vanish"))
                        .findFirst().orElseThrow();
                assertThat(r.executed()).isTrue();
                assertThat(r.errorSqlState()).isEqualTo("08006");
                assertThat(r.errorMessage()).contains("database closed the connection before it answered");
            }
            server.join(5_000);
        }
    }

    @Test
    void aSessionTheDatabaseEndsWithItsOwnErrorGetsThatErrorOnly() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(); Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataInputStream in = startSession(s);
            OutputStream out = s.getOutputStream();
            out.write(message('Q', cstrings("SELECT pg_backend_pid()")));
            out.flush();
            List<byte[]> answer = readUntilReady(in);
            byte[] row = answer.stream().filter(m -> m[0] == 'D').findFirst().orElseThrow();
            int pid = Integer.parseInt(new String(row, 11, ByteBuffer.wrap(row, 7, 4).getInt(),
                    StandardCharsets.UTF_8));
            try (Connection direct = EmbeddedPg.get().direct(EmbeddedPg.DATABASE);
                 Statement st = direct.createStatement();
                 ResultSet rs = st.executeQuery("SELECT pg_terminate_backend(" + pid + ")")) {
                assertThat(rs.next() && rs.getBoolean(1)).isTrue();
            }
            List<byte[]> rest = readUntilEnd(in);
            assertThat(rest).as("one error, the server's").hasSize(1);
            String error = new String(rest.get(0), StandardCharsets.UTF_8);
            assertThat(error).contains("57P01").contains("terminating connection due to administrator command")
                    .doesNotContain("dbwarden");
        }
    }

    @Test
    void aFunctionCallAnsweredJustBeforeTheLossIsAuditedOnce() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofPlatform().daemon().start(() -> vanishAfterFunctionCall(fake));
            try (RunningProxy proxy = proxyInFrontOf(fake);
                 Socket s = new Socket("127.0.0.1", proxy.port())) {
                DataInputStream in = startSession(s);
                OutputStream out = s.getOutputStream();
                // FunctionCall of OID 957 without arguments, text result
                out.write(message('F', ByteBuffer.allocate(10).putInt(957).putShort((short) 0).putShort((short) 0)
                        .putShort((short) 0).array()));
                out.flush();
                List<byte[]> answer = readUntilEnd(in);
                assertThat(answer.stream().map(m -> (char) m[0]).toList()).as("the result, then the loss")
                        .containsExactly('V', 'E');
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.metrics.activeConnections() == 0);
                List<ExecutionRecord> calls = proxy.records.stream()
                        .filter(r -> r.protocol() == io.dbwarden.proxy.filter.Protocol.FUNCTION_CALL).toList();
                assertThat(calls).as("recorded when answered, not again as unanswered").hasSize(1);
                assertThat(calls.get(0).errorSqlState()).isNull();
                assertThat(calls.get(0).statement().text()).contains("pg_catalog.lo_creat");
            }
            server.join(5_000);
        }
    }

    /**
     * Looks up one function for the proxy (OID 957 is pg_catalog.lo_creat), answers the call, and hangs up before its
     * ReadyForQuery.
     */
    private static void vanishAfterFunctionCall(ServerSocket fake) {
        serveOneSession(fake, (type, body, out) -> {
            if (type == 'Q') { // the proxy's catalog lookup: schema and name of the function
                out.write(rowDescription("nspname", "proname"));
                out.write(dataRow("pg_catalog", "lo_creat"));
                out.write(message('C', cstrings("SELECT 1")));
                out.write(message('Z', new byte[] {'I'}));
            } else if (type == 'F') {
                out.write(message('V', ByteBuffer.allocate(8).putInt(4).putInt(12345).array()));
                return false; // before ReadyForQuery
            }
            return true;
        });
    }

    /** Answers queries, and hangs up without an answer on one saying vanish. */
    private static void vanishOnQuery(ServerSocket fake) {
        serveOneSession(fake, (type, body, out) -> {
            if (type == 'Q' && new String(body, StandardCharsets.UTF_8).contains("vanish")) {
                return false;
            }
            if (type == 'Q') {
                out.write(message('C', cstrings("SET")));
                out.write(message('Z', new byte[] {'I'}));
            }
            return true;
        });
    }
}
