package io.dbwarden.proxy.audit;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The writer gives queue room back in steps: every event taken must be given back, or the log would fill up. */
class AuditLogQueueTest {
    @Test
    void everyDrainedEventFreesItsPlaceWhateverTheBatchSize() {
        int capacity = 200;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (AuditLog log = AuditLog.toStream(out, capacity)) {
            int total = 0;
            // batches below, at and above the release step, and an odd remainder
            for (int batch : new int[] {1, 63, 64, 65, 130, 199, 7}) {
                for (int i = 0; i < batch; i++) {
                    log.onExecution(TestRecords.selectOne(total++));
                }
                int expected = total;
                await().until(() -> log.written() == expected);
                await().until(log::healthy); // all room given back once the queue is drained
            }
            // the whole capacity is usable again: a full queue's worth is taken without a drop
            for (int i = 0; i < capacity - 1; i++) {
                log.onExecution(TestRecords.selectOne(total++));
            }
            int expected = total;
            await().until(() -> log.written() == expected);
            assertThat(log.dropped()).isZero();
            assertThat(log.healthy()).isTrue();
        }
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(lines).hasSize(1 + 63 + 64 + 65 + 130 + 199 + 7 + 199);
        assertThat(HashChain.verify(java.util.List.of(lines)).intact()).isTrue();
    }
}
