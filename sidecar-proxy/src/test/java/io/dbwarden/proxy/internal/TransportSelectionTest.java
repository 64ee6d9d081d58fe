package io.dbwarden.proxy.internal;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringChannelOption;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class TransportSelectionTest {

    @Test
    void autoPrefersIoUringThenEpollThenNio() {
        Transport expected = IoUring.isAvailable() ? Transport.IO_URING : Epoll.isAvailable() ? Transport.EPOLL
                : Transport.NIO;
        assertThat(Transport.select("auto")).isEqualTo(expected);
        assertThat(Transport.select(" AUTO ")).isEqualTo(expected);
    }

    @Test
    void explicitChoicesAreHonouredOrFallBackToWhatIsAvailable() {
        assertThat(Transport.select("nio")).isEqualTo(Transport.NIO);
        assertThat(Transport.select("epoll")).isEqualTo(Epoll.isAvailable() ? Transport.EPOLL : Transport.NIO);
        assertThat(Transport.select("io_uring")).isEqualTo(IoUring.isAvailable() ? Transport.IO_URING
                : Epoll.isAvailable() ? Transport.EPOLL : Transport.NIO);
    }

    @Test
    void ioUringReceivesIntoABufferRingUnlessTurnedOffOrUnsupported() {
        assumeTrue(IoUring.isAvailable(), "io_uring not available on this kernel");
        Transport ring = IoUring.isRegisterBufferRingSupported() ? Transport.IO_URING : Transport.IO_URING_POLL_FIRST;
        assertThat(Transport.select("auto")).isEqualTo(ring);
        assertThat(Transport.select("io_uring", true)).isEqualTo(ring);
        assertThat(Transport.select("io_uring", false)).isEqualTo(Transport.IO_URING_POLL_FIRST);
        assertThat(Transport.select("auto", false)).isEqualTo(Transport.IO_URING_POLL_FIRST);
        // the switch is about io_uring only
        assertThat(Transport.select("nio", true)).isEqualTo(Transport.NIO);
    }

    @Test
    void onlyTheRingTransportSetsABufferGroupOnItsSockets() {
        assertThat(Transport.IO_URING.socketOptions()).singleElement().satisfies(o -> {
            assertThat(o.option()).isEqualTo(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID);
            assertThat(o.value()).isEqualTo(Transport.BUFFER_GROUP);
        });
        for (Transport t : List.of(Transport.IO_URING_POLL_FIRST, Transport.EPOLL, Transport.NIO)) {
            assertThat(t.socketOptions()).isEmpty();
        }
        assertThat(Transport.IO_URING.receive()).isEqualTo("buffer-ring");
        assertThat(Transport.IO_URING_POLL_FIRST.receive()).isEqualTo("poll-first");
        assertThat(Transport.EPOLL.receive()).isEqualTo("readiness");
        assertThat(Transport.IO_URING.isIoUring()).isTrue();
        assertThat(Transport.IO_URING_POLL_FIRST.isIoUring()).isTrue();
        assertThat(Transport.EPOLL.isIoUring()).isFalse();
    }

    @Test
    void bufferRingSwitchAcceptsTrueOrFalseOnly() {
        assertThat(Transport.bufferRingWanted(null)).isTrue();
        assertThat(Transport.bufferRingWanted(" ")).isTrue();
        assertThat(Transport.bufferRingWanted("true")).isTrue();
        assertThat(Transport.bufferRingWanted(" FALSE ")).isFalse();
        assertThatThrownBy(() -> Transport.bufferRingWanted("off"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("-Ddbwarden.io-uring.buffer-ring must be true or false, got 'off'");
    }

    @Test
    void ringEntriesArePowersOfTwoInRange() {
        assertThat(Transport.ringEntries(null)).isEqualTo(256);
        assertThat(Transport.ringEntries("2")).isEqualTo(2);
        assertThat(Transport.ringEntries(" 1024 ")).isEqualTo(1024);
        assertThat(Transport.ringEntries("16384")).isEqualTo(16_384);
        for (String bad : List.of("1", "0", "-2", "3", "300", "32768", "lots")) {
            assertThatThrownBy(() -> Transport.ringEntries(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("-Ddbwarden.io-uring.buffer-ring-entries must be a power of two from 2 to 16384, "
                            + "got '" + bad + "'");
        }
    }

    @Test
    void unknownTransportIsAConfigurationError() {
        assertThatThrownBy(() -> Transport.select("kqueue"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown transport 'kqueue'")
                .hasMessageContaining("auto, io_uring, epoll or nio");
    }
}
