package io.dbwarden.proxy.config;

import java.time.Duration;

/**
 * Whether and how long database connections are kept after their client's session ended cleanly, reset with
 * {@code DISCARD ALL}, for a later session that would start with identical settings (see the proxy's upstream pool).
 *
 * @param idleTimeout how long an unused connection is kept; zero turns pooling off (every session gets a new one)
 * @param maxIdle     most connections kept at once
 */
public record UpstreamPooling(Duration idleTimeout, int maxIdle) {
    /** Kept for a minute, at most 64. */
    public static final UpstreamPooling DEFAULT = new UpstreamPooling(Duration.ofSeconds(60), 64);
    /** A new database connection for every session, closed when the session ends. */
    public static final UpstreamPooling OFF = new UpstreamPooling(Duration.ZERO, 0);

    public UpstreamPooling {
        if (idleTimeout == null || idleTimeout.isNegative()) {
            throw new IllegalArgumentException("the upstream idle timeout must be zero or positive");
        }
        if (maxIdle < 0) {
            throw new IllegalArgumentException("the most idle upstream connections must be zero or positive");
        }
    }

    public boolean enabled() {
        return idleTimeout.isPositive() && maxIdle > 0;
    }
}
