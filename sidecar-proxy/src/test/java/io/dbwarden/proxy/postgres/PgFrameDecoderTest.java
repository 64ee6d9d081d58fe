package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PgFrameDecoderTest {

    @Test
    void reassemblesFramesSplitAcrossReadsAndSplitsCoalescedOnes() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1 << 20));
        ByteBuf q = PgMessages.query(Unpooled.buffer().alloc(), "SELECT 1", StandardCharsets.UTF_8);
        ByteBuf s = PgMessages.sync(Unpooled.buffer().alloc());
        ByteBuf all = Unpooled.wrappedBuffer(q, s);
        // byte by byte: nothing is emitted until a frame is complete
        for (int i = 0; i < all.readableBytes() - 1; i++) {
            ch.writeInbound(all.retainedSlice(i, 1));
        }
        ByteBuf first = ch.readInbound();
        assertThat(first).isNotNull();
        assertThat(PgMessages.queryText(first, StandardCharsets.UTF_8)).isEqualTo("SELECT 1");
        Object none = ch.readInbound();
        assertThat(none).isNull();
        ch.writeInbound(all.retainedSlice(all.readableBytes() - 1, 1));
        ByteBuf sync = ch.readInbound();
        assertThat((char) PgMessages.type(sync)).isEqualTo('S');
        first.release();
        sync.release();
        all.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void rejectsInvalidAndOversizedLengths() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1024));
        ByteBuf bad = Unpooled.buffer().writeByte('Q').writeInt(3);
        assertThatThrownBy(() -> ch.writeInbound(bad)).isInstanceOf(DecoderException.class)
                .hasCauseInstanceOf(PgProtocolException.class).hasMessageContaining("invalid message length 3");
        EmbeddedChannel ch2 = new EmbeddedChannel(new PgFrameDecoder(1024));
        ByteBuf big = Unpooled.buffer().writeByte('Q').writeInt(4096);
        assertThatThrownBy(() -> ch2.writeInbound(big)).isInstanceOf(DecoderException.class)
                .hasMessageContaining("exceeds the proxy limit");
    }
}
