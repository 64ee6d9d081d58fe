package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

@ExtendWith(LeakDetection.class)
class ForwardRunTest {

    private static String read(EmbeddedChannel ch) {
        ByteBuf b = ch.readOutbound();
        if (b == null) {
            return null;
        }
        try {
            return b.toString(StandardCharsets.US_ASCII);
        } finally {
            b.release();
        }
    }

    @Test
    void adjacentRangesOfOneBatchLeaveInOneWriteAndGapsOrOtherBatchesSplitIt() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ForwardRun run = new ForwardRun(ch);
        ByteBuf batch = Unpooled.copiedBuffer("aaabbbcccddd", StandardCharsets.US_ASCII);
        ByteBuf other = Unpooled.copiedBuffer("xyz", StandardCharsets.US_ASCII);
        run.add(batch, 0, 3);
        run.add(batch, 3, 3);
        run.add(batch, 9, 3);   // a gap ("ccc" was not forwarded): the run so far is written first
        run.add(other, 0, 3);   // another batch
        run.emit();
        run.emit();             // nothing pending: no write
        batch.release();
        other.release();
        ch.flushOutbound();
        assertThat(read(ch)).isEqualTo("aaabbb");
        assertThat(read(ch)).isEqualTo("ddd");
        assertThat(read(ch)).isEqualTo("xyz");
        assertThat(read(ch)).isNull();
        assertThat(batch.refCnt()).isZero(); // the written slices released their hold on the batch
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void aRunOfTheWholeBatchIsWrittenAsTheBatchItself() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ForwardRun run = new ForwardRun(ch);
        ByteBuf batch = Unpooled.copiedBuffer("aaabbb", StandardCharsets.US_ASCII);
        run.add(batch, 0, 3);
        run.add(batch, 3, 3);
        run.endBatch();
        batch.release(); // the owner is done with it; the write holds its own reference
        ch.flushOutbound();
        ByteBuf written = ch.readOutbound();
        assertThat(written).isSameAs(batch);
        assertThat(written.toString(StandardCharsets.US_ASCII)).isEqualTo("aaabbb");
        written.release();
        assertThat(batch.refCnt()).isZero();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void theFrameBeingProcessedJoinsTheRunOnlyWhenForwardedUnchanged() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ForwardRun run = new ForwardRun(ch);
        ByteBuf batch = Unpooled.copiedBuffer("aaabbbccc", StandardCharsets.US_ASCII);
        ByteBuf a = batch.retainedSlice(0, 3);
        run.current(a, batch, 0, 3);
        assertThat(run.join(a)).isTrue();               // released (checked at the end), its range joins the run
        ByteBuf b = batch.retainedSlice(3, 3);
        run.current(b, batch, 3, 3);
        ByteBuf rewritten = Unpooled.copiedBuffer("BBB", StandardCharsets.US_ASCII);
        assertThat(run.join(rewritten)).isFalse();      // not the frame being processed: the caller writes it
        run.emit();
        ch.write(rewritten);
        b.release();
        ByteBuf c = batch.retainedSlice(6, 3);
        run.current(c, batch, 6, 3);
        run.noCurrent();
        assertThat(run.join(c)).isFalse();              // done with (e.g. held): never joins later
        c.release();
        run.endBatch();
        batch.release();
        ch.flushOutbound();
        assertThat(read(ch)).isEqualTo("aaa");
        assertThat(read(ch)).isEqualTo("BBB");
        assertThat(read(ch)).isNull();
        assertThat(batch.refCnt()).isZero();            // every slice, the joined one included, was released
        assertThat(ch.finish()).isFalse();
    }
}
