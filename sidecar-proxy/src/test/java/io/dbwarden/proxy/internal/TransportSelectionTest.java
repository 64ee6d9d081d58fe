package io.dbwarden.proxy.internal;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    void unknownTransportIsAConfigurationError() {
        assertThatThrownBy(() -> Transport.select("kqueue"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown transport 'kqueue'")
                .hasMessageContaining("auto, io_uring, epoll or nio");
    }
}
