package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.admin.ProxyMetrics;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.uring.IoUringBufferRingExhaustedEvent;

/**
 * First handler of every socket that receives into an io_uring buffer ring ({@link Transport#socketOptions}):
 * counts the times the ring was empty when data arrived ({@link ProxyMetrics#receiveRingExhausted}). It handles
 * only that event, so reads and writes skip it.
 */
@ChannelHandler.Sharable
final class ReceiveRingWatch extends ChannelInboundHandlerAdapter {
    private final ProxyMetrics metrics;

    ReceiveRingWatch(ProxyMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IoUringBufferRingExhaustedEvent) {
            metrics.receiveRingExhausted();
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }
}
