package io.dbwarden.proxy;

import io.dbwarden.proxy.filter.ExecutionRecord;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
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
import static org.awaitility.Awaitility.await;

/**
 * The proxy and the server read a query text as different numbers of statements. The proxy splits finely where it
 * cannot be sure, so the usual case is the server answering fewer statements than the proxy judged: each part of the
 * text is still audited. The other way round a statement ran without its own verdict: it is audited as such, its
 * results never reach the client, and the session ends. (A fake server answers, since PostgreSQL and the proxy agree
 * on every text the tests know; see SqlTextTest and HiddenWorkTest for those.)
 */
@ExtendWith(LeakDetection.class)
class StatementCountMismatchTest {

    @Test
    void statementsTheServerReadAsPartOfTheOneBeforeAreAuditedAndTheSessionGoesOn() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofPlatform().daemon().start(() -> serveOneSession(fake, (type, body, out) -> {
                if (type == 'Q') { // one answer, whatever the text: as if it were one statement
                    out.write(rowDescription("n"));
                    out.write(dataRow("1"));
                    out.write(message('C', cstrings("SELECT 1")));
                    out.write(message('Z', new byte[] {'I'}));
                }
                return type != 'X';
            }));
            try (RunningProxy proxy = proxyInFrontOf(fake); Socket s = new Socket("127.0.0.1", proxy.port())) {
                DataInputStream in = startSession(s);
                OutputStream out = s.getOutputStream();
                out.write(message('Q', cstrings("SELECT 'one'; SELECT 'two'; SELECT 'three'")));
                out.flush();
                assertThat(types(readUntilReady(in))).isEqualTo("TDCZ");
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.size() == 3);
                List<ExecutionRecord> records = List.copyOf(proxy.records);
                assertThat(records.get(0).commandTag()).isEqualTo("SELECT 1");
                assertThat(records.get(0).errorMessage()).isNull();
                for (ExecutionRecord r : records.subList(1, 3)) {
                    assertThat(r.executed()).as("sent, and part of what ran").isTrue();
                    assertThat(r.errorSqlState()).isNull();
                    assertThat(r.errorMessage()).contains("no result of its own")
                            .contains("ran as part of the statement before");
                }
                assertThat(records).extracting(r -> r.statement().text())
                        .containsExactly("SELECT 'one'", "SELECT 'two'", "SELECT 'three'");
                assertThat(proxy.metrics.render())
                        .contains("dbwarden_statement_split_mismatches_total{database=\"fewer\"} 1")
                        .contains("dbwarden_statement_split_mismatches_total{database=\"more\"} 0");

                out.write(message('Q', cstrings("SELECT 'next'")));
                out.flush();
                assertThat(types(readUntilReady(in))).as("the session goes on").isEqualTo("TDCZ");
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.size() == 4);
                assertThat(proxy.records.get(3).errorMessage()).isNull();
                out.write(message('X', new byte[0]));
                out.flush();
            }
            server.join(5_000);
        }
    }

    @Test
    void aStatementTheProxyDidNotSeeEndsTheSessionBeforeItsRowsReachTheClient() throws Exception {
        try (ServerSocket fake = new ServerSocket(0, 10, InetAddress.getLoopbackAddress())) {
            Thread server = Thread.ofPlatform().daemon().start(() -> serveOneSession(fake, (type, body, out) -> {
                if (type == 'Q') { // two statements' answers to a text the proxy read as one
                    out.write(rowDescription("n"));
                    out.write(dataRow("1"));
                    out.write(message('C', cstrings("SELECT 1")));
                    out.write(rowDescription("email"));
                    out.write(dataRow("alice@example.com"));
                    out.write(message('C', cstrings("SELECT 1")));
                    out.write(message('Z', new byte[] {'I'}));
                }
                return true;
            }));
            try (RunningProxy proxy = proxyInFrontOf(fake); Socket s = new Socket("127.0.0.1", proxy.port())) {
                DataInputStream in = startSession(s);
                OutputStream out = s.getOutputStream();
                out.write(message('Q', cstrings("SELECT 'looks like one'")));
                out.flush();
                List<byte[]> answer = readUntilEnd(in);
                assertThat(types(answer)).as("the first statement's result, then the end of the session")
                        .isEqualTo("TDCE");
                String error = new String(answer.get(3), StandardCharsets.UTF_8);
                assertThat(error).contains("FATAL").contains("08P01")
                        .contains("ran more statements than the proxy found in the query text");
                assertThat(answer).noneSatisfy(m -> assertThat(new String(m, StandardCharsets.UTF_8))
                        .contains("alice@example.com"));
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.records.size() == 2);
                ExecutionRecord seen = proxy.records.get(0);
                assertThat(seen.commandTag()).isEqualTo("SELECT 1");
                ExecutionRecord unseen = proxy.records.get(1);
                assertThat(unseen.executed()).isTrue();
                assertThat(unseen.errorSqlState()).isEqualTo("08P01");
                assertThat(unseen.errorMessage()).contains("ran more statements than the proxy found")
                        .contains("the session was closed");
                assertThat(unseen.statement().text()).isEqualTo("SELECT 'looks like one'");
                await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.metrics.activeConnections() == 0);
                assertThat(proxy.metrics.render()).as("for alerting: a statement ran without its own verdict")
                        .contains("dbwarden_statement_split_mismatches_total{database=\"more\"} 1");
            }
            server.join(5_000);
        }
    }

    private static String types(List<byte[]> messages) {
        StringBuilder sb = new StringBuilder();
        messages.forEach(m -> sb.append((char) m[0]));
        return sb.toString();
    }
}
