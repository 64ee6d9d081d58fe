package io.dbwarden.proxy.postgres;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@ExtendWith(LeakDetection.class)
class PgFrameDecoderTest {

    @Test
    void aReadOfWholeMessagesGoesOnAsTheBufferThatWasRead() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1 << 20));
        ByteBuf read = Unpooled.wrappedBuffer(PgMessages.query(Unpooled.buffer().alloc(), "SELECT 1",
                StandardCharsets.UTF_8), PgMessages.sync(Unpooled.buffer().alloc()));
        int bytes = read.readableBytes();
        ch.writeInbound(read);
        ByteBuf out = ch.readInbound();
        assertThat(out).isSameAs(read);
        assertThat(out.readableBytes()).isEqualTo(bytes);
        out.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void aLargeMessageInManySmallReadsComesOutWholeAndUnchangedWithTheMessagesAroundIt() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(4 << 20));
        byte[] payload = new byte[3 << 20];
        new Random(7).nextBytes(payload);
        ByteBuf big = Unpooled.buffer().writeByte('d').writeInt(4 + payload.length).writeBytes(payload);
        ByteBuf stream = Unpooled.wrappedBuffer(PgMessages.sync(Unpooled.buffer().alloc()), big,
                PgMessages.flush(Unpooled.buffer().alloc()), PgMessages.sync(Unpooled.buffer().alloc()));
        byte[] expected = ByteBufUtil.getBytes(stream);
        ByteBuf received = Unpooled.buffer();
        Random sizes = new Random(11);
        int emitted = 0;
        for (int i = 0; i < stream.readableBytes(); ) {
            int n = Math.min(1 + sizes.nextInt(70_000), stream.readableBytes() - i);
            ch.writeInbound(stream.retainedSlice(i, n));
            i += n;
            for (ByteBuf out; (out = ch.readInbound()) != null; out.release()) {
                // every emitted buffer holds whole messages only
                for (int j = out.readerIndex(); j < out.writerIndex(); j += PgFrameDecoder.frameLength(out, j)) {
                    assertThat(j + PgFrameDecoder.frameLength(out, j)).isLessThanOrEqualTo(out.writerIndex());
                }
                received.writeBytes(out, out.readerIndex(), out.readableBytes());
                emitted++;
            }
        }
        assertThat(ByteBufUtil.getBytes(received)).isEqualTo(expected);
        assertThat(emitted).isLessThan(20); // nothing emitted while the large message is incomplete
        received.release();
        stream.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void withAutoReadOffAReadThatCompletesNoMessageAsksForTheNextRead() {
        AtomicInteger reads = new AtomicInteger();
        EmbeddedChannel ch = new EmbeddedChannel(new ChannelOutboundHandlerAdapter() {
            @Override
            public void read(ChannelHandlerContext ctx) {
                reads.incrementAndGet();
                ctx.read();
            }
        }, new PgFrameDecoder(1 << 20));
        ch.config().setAutoRead(false);
        ByteBuf q = PgMessages.query(Unpooled.buffer().alloc(), "SELECT 1", StandardCharsets.UTF_8);
        int before = reads.get();
        ch.writeInbound(q.retainedSlice(0, 3)); // writeInbound ends the read (channelReadComplete)
        assertThat(reads.get()).as("half a message: the handlers after it saw nothing").isEqualTo(before + 1);
        ch.writeInbound(q.retainedSlice(3, q.readableBytes() - 3));
        assertThat(reads.get()).as("a message went on: asking for more is up to its receiver").isEqualTo(before + 1);
        ByteBuf out = ch.readInbound();
        assertThat(PgMessages.queryText(out, StandardCharsets.UTF_8)).isEqualTo("SELECT 1");
        out.release();
        q.release();
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void closingWithAnUnfinishedMessageReleasesItsBytes() {
        EmbeddedChannel ch = new EmbeddedChannel(new PgFrameDecoder(1 << 20));
        ByteBuf q = PgMessages.query(Unpooled.buffer().alloc(), "SELECT 1", StandardCharsets.UTF_8);
        ch.writeInbound(q.retainedSlice(0, 7));
        assertThat((Object) ch.readInbound()).isNull();
        assertThat(q.refCnt()).as("copied aside, the read itself is released").isEqualTo(1);
        q.release();
        assertThat(ch.finish()).isFalse();
        // the decoder's copy is released on close: LeakDetection fails the class otherwise
    }

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
