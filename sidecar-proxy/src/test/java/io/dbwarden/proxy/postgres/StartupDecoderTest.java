package io.dbwarden.proxy.postgres;

import io.dbwarden.proxy.testing.LeakDetection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@ExtendWith(LeakDetection.class)
class StartupDecoderTest {

    @Test
    void decodesEveryStartupPacketKind() {
        ByteBufAllocator a = ByteBufAllocator.DEFAULT;
        ByteBuf ssl = PgMessages.sslRequest(a);
        assertThat(StartupDecoder.decode(ssl)).isInstanceOf(StartupPacket.SslRequest.class);
        ssl.release();
        ByteBuf cancel = PgMessages.cancelRequest(a, 42, -7);
        assertThat(StartupDecoder.decode(cancel)).isEqualTo(new StartupPacket.CancelRequest(42, -7));
        cancel.release();
        Map<String, String> params = new LinkedHashMap<>();
        params.put("user", "alice");
        params.put("database", "shop");
        ByteBuf startup = PgMessages.startupMessage(a, params);
        StartupPacket p = StartupDecoder.decode(startup);
        assertThat(p).isEqualTo(new StartupPacket.StartupMessage(StartupPacket.PROTOCOL_3_0, params));
        startup.release();
        ByteBuf gss = Unpooled.buffer().writeInt(8).writeInt(StartupPacket.GSSENC_REQUEST_CODE);
        assertThat(StartupDecoder.decode(gss)).isInstanceOf(StartupPacket.GssEncRequest.class);
        gss.release();
    }

    @Test
    void incompletePacketLeavesTheBufferUntouched() {
        ByteBuf partial = Unpooled.buffer().writeInt(40).writeInt(StartupPacket.PROTOCOL_3_0).writeBytes(new byte[4]);
        assertThat(StartupDecoder.decode(partial)).isNull();
        assertThat(partial.readerIndex()).isZero();
        partial.release();
    }

    @Test
    void rejectsMalformedPackets() {
        ByteBuf tooLong = Unpooled.buffer().writeInt(20_000).writeInt(StartupPacket.PROTOCOL_3_0);
        assertThatThrownBy(() -> StartupDecoder.decode(tooLong)).hasMessageContaining("invalid length");
        tooLong.release();
        ByteBuf v2 = Unpooled.buffer().writeInt(8).writeInt(2 << 16);
        assertThatThrownBy(() -> StartupDecoder.decode(v2)).hasMessageContaining("unsupported frontend protocol 2.0");
        v2.release();
        ByteBuf noTerminator = Unpooled.buffer().writeInt(14).writeInt(StartupPacket.PROTOCOL_3_0)
                .writeBytes(new byte[]{'u', 0, 'x', 0, 'y', 0});
        assertThatThrownBy(() -> StartupDecoder.decode(noTerminator)).hasMessageContaining("invalid startup packet");
        noTerminator.release();
    }
}
