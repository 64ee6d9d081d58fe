package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A client that stops reading must make the proxy stop reading from the server (memory stays bounded): the server
 * backend then blocks writing to the proxy, which PostgreSQL reports as wait_event ClientWrite. When the client
 * reads again, the whole result arrives intact.
 */
@ExtendWith(LeakDetection.class)
class BackpressureTest {

    @Test
    @org.junit.jupiter.api.Timeout(value = 120, unit = java.util.concurrent.TimeUnit.SECONDS)
    void slowClientPausesTheServerInsteadOfBufferingInTheProxy() throws Exception {
        try (RunningProxy proxy = RunningProxy.start();
             Socket s = new Socket("127.0.0.1", proxy.port());
             Connection admin = EmbeddedPg.get().direct(EmbeddedPg.DATABASE)) {
            // no receive-buffer tweaks: shrinking it after connect can stall TCP (tiny window, delayed ACKs); the
            // result (about 110 MB) is far larger than every buffer on the way anyway
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(s.getInputStream(), 1 << 16));
            out.write(RawPg.startup());
            skipUntilReady(in);
            String sql = "SELECT g, repeat('x', 200) FROM generate_series(1, 500000) g";
            byte[] q = sql.getBytes(StandardCharsets.UTF_8);
            out.writeByte('Q');
            out.writeInt(4 + q.length + 1);
            out.write(q);
            out.writeByte(0);
            out.flush();
            // the client reads nothing: the server must end up blocked writing to the proxy
            await().atMost(30, TimeUnit.SECONDS).until(() -> serverBlockedOnClientWrite(admin, sql));
            long rows = 0;
            while (true) {
                char type = (char) in.readByte();
                int len = in.readInt();
                skip(in, len - 4);
                if (type == 'D') {
                    rows++;
                } else if (type == 'Z') {
                    break;
                }
            }
            assertThat(rows).isEqualTo(500_000);
        }
    }

    private static boolean serverBlockedOnClientWrite(Connection admin, String sql) throws Exception {
        try (var ps = admin.prepareStatement("SELECT wait_event FROM pg_stat_activity WHERE query = ?")) {
            ps.setString(1, sql);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() && "ClientWrite".equals(rs.getString(1));
            }
        }
    }

    private static void skip(InputStream in, int n) throws Exception {
        int left = n;
        while (left > 0) {
            long k = in.skip(left);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new java.io.EOFException();
                }
                k = 1;
            }
            left -= (int) k;
        }
    }

    private static void skipUntilReady(DataInputStream in) throws Exception {
        while (true) {
            char type = (char) in.readByte();
            int len = in.readInt();
            skip(in, len - 4);
            if (type == 'Z') {
                return;
            }
            assertThat(type).isNotEqualTo('E');
        }
    }
}
