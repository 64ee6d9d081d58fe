package io.dbwarden.operator;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.runtime.ShutdownDelayInitiatedEvent;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An operator replica that is stopping lets sidecars go at once: when the pre-shutdown delay begins, long polls
 * waiting for a policy change are answered, and later ones do not wait, so that the graceful wait for requests in
 * flight is not held up by polls that could run for 50 s, and sidecars move to another replica.
 */
class PolicyBundlesShutdownTest {

    @Test
    void theStartOfTheShutdownDelayAnswersWaitingPollsAndStopsNewOnesFromWaiting() throws Exception {
        PolicyBundles bundles = new PolicyBundles(null, new SimpleMeterRegistry());
        CompletableFuture<Void> waiting = bundles.changeAfter(bundles.version(), Duration.ofSeconds(50));
        assertThat(waiting).isNotDone();
        assertThat(bundles.closing()).isFalse();

        bundles.stopWaiting(new ShutdownDelayInitiatedEvent());

        waiting.get(1, TimeUnit.SECONDS);
        assertThat(bundles.closing()).isTrue();
        assertThat(bundles.changeAfter(bundles.version(), Duration.ofSeconds(50))).as("answered at once").isDone();
    }

    /** What the stopping sequence above relies on: the delay is on, and in-flight requests get time to finish. */
    @Test
    void theOperatorShipsWithAPreShutdownDelayAndAGracefulWait() throws Exception {
        Properties p = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/application.properties")) {
            p.load(in);
        }
        assertThat(p.getProperty("quarkus.shutdown.delay-enabled")).isEqualTo("true");
        Duration delay = Duration.parse("PT" + p.getProperty("%prod.quarkus.shutdown.delay"));
        Duration timeout = Duration.parse("PT" + p.getProperty("%prod.quarkus.shutdown.timeout"));
        assertThat(delay).isPositive();
        assertThat(timeout).isPositive();
        assertThat(delay.plus(timeout)).as("within Kubernetes' default termination grace period")
                .isLessThan(Duration.ofSeconds(30));
    }
}
