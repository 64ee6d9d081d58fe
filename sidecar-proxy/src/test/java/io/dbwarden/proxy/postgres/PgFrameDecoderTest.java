package io.dbwarden.proxy.postgres;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

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
        assertClosingReleases(List.of(ch, ch2), bad, big);
    }

    @Test
    void emitsTheWholeMessagesOfEachReadBackToBack() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1 << 20));
        ByteBuf q = PgMessages.query(Unpooled.buffer().alloc(), "SELECT 1", StandardCharsets.UTF_8);
        ByteBuf s = PgMessages.sync(Unpooled.buffer().alloc());
        ByteBuf f = PgMessages.flush(Unpooled.buffer().alloc());
        int qLen = q.readableBytes();
        int sLen = s.readableBytes();
        ByteBuf all = Unpooled.wrappedBuffer(q, s, f);
        // a read with the query and half of the sync: only the query comes out
        ch.writeInbound(all.retainedSlice(0, qLen + 2));
        ByteBuf first = ch.readInbound();
        assertThat(first.readableBytes()).isEqualTo(qLen);
        assertThat(PgFrameDecoder.frameLength(first, first.readerIndex())).isEqualTo(qLen);
        assertThat((Object) ch.readInbound()).isNull();
        // the rest: the sync and the flush together, in one buffer
        ch.writeInbound(all.retainedSlice(qLen + 2, all.readableBytes() - qLen - 2));
        ByteBuf rest = ch.readInbound();
        assertThat(rest.readableBytes()).isEqualTo(sLen + 5);
        assertThat((char) rest.getByte(rest.readerIndex())).isEqualTo('S');
        assertThat(PgFrameDecoder.frameLength(rest, rest.readerIndex())).isEqualTo(sLen);
        assertThat((char) rest.getByte(rest.readerIndex() + sLen)).isEqualTo('H');
        first.release();
        rest.release();
        all.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void validatesEveryHeaderOfABatch() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1024));
        ByteBuf ok = PgMessages.sync(Unpooled.buffer().alloc());
        ByteBuf bad = Unpooled.wrappedBuffer(ok, Unpooled.buffer().writeByte('D').writeInt(2));
        assertThatThrownBy(() -> ch.writeInbound(bad)).isInstanceOf(DecoderException.class)
                .hasMessageContaining("invalid message length 2 for message type 'D'");
        EmbeddedChannel ch2 = new EmbeddedChannel(new PgFrameDecoder(1024));
        ByteBuf big = Unpooled.buffer().writeByte('D').writeInt(4096);
        assertThatThrownBy(() -> ch2.writeInbound(big)).isInstanceOf(DecoderException.class)
                .hasMessageContaining("exceeds the proxy limit");
        assertClosingReleases(List.of(ch, ch2), bad, big);
    }

    /** The proxy closes a connection whose framing failed: closing frees the bytes the decoder still holds. */
    private static void assertClosingReleases(List<EmbeddedChannel> channels, ByteBuf... inputs) {
        for (EmbeddedChannel c : channels) {
            try {
                c.finishAndReleaseAll();
            } catch (DecoderException expected) {
                // the last decode on close meets the same bad header; the buffers are released all the same
            }
            assertThat(c.isOpen()).isFalse();
        }
        for (ByteBuf b : inputs) {
            assertThat(b.refCnt()).isZero();
        }
    }
}
