package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

class AuditSpoolTest {
    @TempDir
    Path dir;

    static List<String> lines(int from, int n) {
        List<String> out = new ArrayList<>();
        for (int i = from; i < from + n; i++) {
            out.add("{\"seq\":" + i + ",\"pad\":\"" + "x".repeat(40) + "\"}");
        }
        return out;
    }

    @Test
    void deliversInOrderAcrossSegmentsAndRestarts() throws Exception {
        List<String> received = new ArrayList<>();
        try (AuditSpool spool = new AuditSpool(dir, 600, 1 << 20)) {
            for (int i = 0; i < 10; i++) {
                spool.append(lines(i * 5 + 1, 5), i * 5 + 1);
            }
            assertThat(segments()).hasSizeGreaterThan(1);
            AuditSpool.Batch b = spool.read(7);
            assertThat(b.lines()).hasSize(7);
            received.addAll(b.lines());
            spool.ack(b);
            AuditSpool.Batch unacked = spool.read(4); // read but never delivered (the sink failed)
            assertThat(unacked.lines().getFirst()).contains("\"seq\":8,");
        }
        // the process died; a new one resumes at the cursor
        try (AuditSpool spool = new AuditSpool(dir, 600, 1 << 20)) {
            assertThat(spool.lastLine()).contains("\"seq\":50,");
            AuditSpool.Batch b;
            while (!(b = spool.read(9)).lines().isEmpty()) {
                received.addAll(b.lines());
                spool.ack(b);
            }
            assertThat(spool.pendingBytes()).isZero();
        }
        assertThat(received).isEqualTo(lines(1, 50));
        assertThat(segments()).hasSizeLessThanOrEqualTo(1); // delivered segments are deleted
    }

    @Test
    void aHalfWrittenLineFromACrashIsDropped() throws Exception {
        try (AuditSpool spool = new AuditSpool(dir, 1 << 20, 1 << 20)) {
            spool.append(lines(1, 3), 1);
        }
        Path segment = segments().getFirst();
        Files.writeString(segment, "{\"seq\":4,\"pa", StandardOpenOption.APPEND);
        try (AuditSpool spool = new AuditSpool(dir, 1 << 20, 1 << 20)) {
            assertThat(spool.lastLine()).contains("\"seq\":3,");
            assertThat(spool.read(10).lines()).isEqualTo(lines(1, 3));
        }
    }

    @Test
    void reportsWhenItIsFull() throws Exception {
        try (AuditSpool spool = new AuditSpool(dir, 1 << 20, 400)) {
            assertThat(spool.hasRoom(300)).isTrue();
            spool.append(lines(1, 5), 1);
            assertThat(spool.pendingBytes()).isGreaterThan(250);
            assertThat(spool.hasRoom(200)).isFalse();
            AuditSpool.Batch b = spool.read(100);
            spool.ack(b);
            assertThat(spool.hasRoom(200)).isTrue();
        }
    }

    private List<Path> segments() throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("segment-")).sorted().toList();
        }
    }
}
