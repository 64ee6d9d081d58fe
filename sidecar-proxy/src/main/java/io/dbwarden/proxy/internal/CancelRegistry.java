package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.postgres.PgMessages;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.SecureRandom;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Maps the cancel keys the proxy hands to clients onto the real upstream keys. Clients never see the
 * database's process id or secret; a CancelRequest with an unknown or wrong key is dropped silently, as the
 * server does.
 */
public final class CancelRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(CancelRegistry.class);
    private final SecureRandom random = new SecureRandom();
    private final Map<Integer, Entry> byProxyPid = new ConcurrentHashMap<>();

    /** {@code session} is told of a valid cancel request (a statement the proxy still holds is cancelled there). */
    record Entry(int proxySecret, HostPort upstream, int upstreamPid, int upstreamSecret, Runnable session) {
    }

    /**
     * Registers an upstream key and returns the proxy key {pid, secret} to give to the client; {@code session} runs
     * on each valid cancel request for it (it must not block).
     */
    int[] register(HostPort upstream, int upstreamPid, int upstreamSecret, Runnable session) {
        while (true) {
            long bits = random.nextLong(); // one draw for both halves: each draw takes the generator's lock
            int pid = (int) (bits >>> 33); // 31 bits: a positive pid
            int secret = (int) bits;
            if (pid == 0) {
                continue;
            }
            if (byProxyPid.putIfAbsent(pid, new Entry(secret, upstream, upstreamPid, upstreamSecret, session)) == null) {
                return new int[]{pid, secret};
            }
        }
    }

    void unregister(int proxyPid) {
        byProxyPid.remove(proxyPid);
    }

    /**
     * Forwards a client's cancel request to the right backend if the key matches, and tells the session (which
     * cancels a statement still waiting for its verdict in the proxy, where the server cannot see it); never blocks.
     */
    void cancel(int proxyPid, int proxySecret, EventLoop loop, Class<? extends Channel> channelType) {
        Entry e = byProxyPid.get(proxyPid);
        if (e == null || e.proxySecret() != proxySecret) {
            LOG.debug("cancel request with unknown key ignored");
            return;
        }
        e.session().run();
        if (byProxyPid.get(proxyPid) != e) {
            // the session ended meanwhile: its connection may serve another session now (see UpstreamPool, which
            // looks for the mark the line above left only after unregistering the key)
            return;
        }
        send(e, loop, channelType);
    }

    /**
     * The proxy's own cancel of the statement running in the session registered under {@code proxyPid} (a session
     * it ends at shutdown). The future completes once the request has been sent, or sending it failed.
     */
    Future<?> cancelUpstream(int proxyPid, EventLoop loop, Class<? extends Channel> channelType) {
        Entry e = byProxyPid.get(proxyPid);
        return e == null ? loop.newSucceededFuture(null) : send(e, loop, channelType);
    }

    private Future<?> send(Entry e, EventLoop loop, Class<? extends Channel> channelType) {
        Promise<Void> sent = loop.newPromise();
        new Bootstrap().group(loop).channel(channelType)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // the server closes the connection after reading the request
                    }
                })
                .connect(e.upstream().host(), e.upstream().port())
                .addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        f.channel().writeAndFlush(PgMessages.cancelRequest(f.channel().alloc(), e.upstreamPid(),
                                e.upstreamSecret())).addListener((ChannelFutureListener) w -> {
                                    sent.trySuccess(null);
                                    w.channel().close();
                                });
                    } else {
                        LOG.warn("could not forward cancel request: upstream={} error={}", e.upstream(),
                                f.cause().toString());
                        sent.trySuccess(null);
                    }
                });
        return sent;
    }
}
