package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RawPg;
import io.dbwarden.proxy.testing.RunningProxy;
import io.dbwarden.proxy.testing.TestFilters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Extended protocol driven by hand, as pipelining drivers do: Parse/Bind/Execute followed by Flush (not Sync)
 * must be answered before the Sync arrives, for allowed and for blocked statements alike; the blocked one's error
 * comes in stream order and the server discards until Sync, then ReadyForQuery.
 */
@ExtendWith(LeakDetection.class)
class ExtendedFlushTest {

    @Test
    void flushBeforeSyncGetsAnswersIncludingTheBlockedStatementsError() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(List.of(TestFilters.denyMentioning("forbidden")));
             Socket s = new Socket("127.0.0.1", proxy.port())) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            out.write(RawPg.startup());
            assertThat(readUntil(in, 'Z')).endsWith("Z");

            // allowed statement, answered on Flush
            out.write(RawPg.message('P', cstr("") + cstr("SELECT 41 + 1") + "\0\0"));
            out.write(RawPg.message('B', cstr("") + cstr("") + "\0\0\0\0\0\0"));
            out.write(RawPg.message('E', cstr("") + "\0\0\0\0"));
            out.write(RawPg.message('H', ""));
            out.flush();
            assertThat(readUntil(in, 'C')).isEqualTo("12DC");

            // blocked statement in the same batch: its error arrives on Flush, before any Sync
            out.write(RawPg.message('P', cstr("") + cstr("DELETE FROM forbidden_things") + "\0\0"));
            out.write(RawPg.message('B', cstr("") + cstr("") + "\0\0\0\0\0\0"));
            out.write(RawPg.message('E', cstr("") + "\0\0\0\0"));
            out.write(RawPg.message('H', ""));
            out.flush();
            StringBuilder error = new StringBuilder();
            assertThat(readUntil(in, 'E', error)).isEqualTo("E");
            assertThat(error.toString()).contains("no-forbidden");

            // messages after the error are discarded until Sync; Sync ends the batch
            out.write(RawPg.message('P', cstr("") + cstr("SELECT 'discarded'") + "\0\0"));
            out.write(RawPg.message('S', ""));
            out.flush();
            assertThat(readUntil(in, 'Z')).isEqualTo("Z");

            // and the session continues normally
            out.write(RawPg.message('Q', cstr("SELECT 1")));
            out.flush();
            assertThat(readUntil(in, 'Z')).isEqualTo("TDCZ");
        }
    }

    private static String cstr(String s) {
        return s + "\0";
    }


    private static String readUntil(DataInputStream in, char last) throws Exception {
        return readUntil(in, last, new StringBuilder());
    }

    private static String readUntil(DataInputStream in, char last, StringBuilder errorText) throws Exception {
        StringBuilder types = new StringBuilder();
        while (true) {
            char type = (char) in.readByte();
            int len = in.readInt();
            byte[] body = in.readNBytes(len - 4);
            if (type == 'S' || type == 'K' || type == 'R' || type == 'N') {
                continue; // start-up chatter and notices are not part of the checked sequence
            }
            types.append(type);
            if (type == 'E') {
                errorText.append(new String(body, StandardCharsets.UTF_8));
            }
            if (type == last) {
                return types.toString();
            }
        }
    }
}
