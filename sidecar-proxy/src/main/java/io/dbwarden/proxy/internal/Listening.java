package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.HostPort;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;

/** Binding a listening socket with an error that says which address failed and why. */
public final class Listening {
    private Listening() {
    }

    /**
     * Binds {@code bootstrap} to {@code address}; an address in use, not local or not permitted fails with an
     * IllegalStateException naming {@code what} ("--listen", say) and the address.
     */
    public static Channel bind(ServerBootstrap bootstrap, HostPort address, String what) {
        try {
            return bootstrap.bind(address.host(), address.port()).syncUninterruptibly().channel();
        } catch (Exception e) { // the bind error arrives as it is, checked or not
            String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            int detail = reason.lastIndexOf("): "); // Netty's native transports: "bind(..) failed with error(-98): ..."
            throw new IllegalStateException("cannot listen on " + what + " " + address + ": "
                    + (detail >= 0 ? reason.substring(detail + 3) : reason), e);
        }
    }
}
