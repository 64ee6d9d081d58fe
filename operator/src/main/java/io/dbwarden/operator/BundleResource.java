package io.dbwarden.operator;

import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Response;

import java.time.Duration;
import java.util.Optional;

/**
 * The sidecar policy API. A sidecar sends its projected service-account token (audience dbwarden) as a bearer
 * token and gets exactly the policies bound to that identity. With If-None-Match and {@code wait} the call is a
 * long poll: it answers 304 after up to {@code wait} seconds when nothing changed, or the new bundle as soon as a
 * policy changes, so changes reach sidecars within seconds. A waiting poll holds no worker thread, so any number of
 * sidecars can wait without starving the admission webhooks that share the pool.
 */
@Path("/sidecar/v1/bundle")
public class BundleResource {
    static final int MAX_WAIT_SECONDS = 55;

    private final TokenReviewer reviewer;
    private final PolicyBundles bundles;

    public BundleResource(TokenReviewer reviewer, PolicyBundles bundles) {
        this.reviewer = reviewer;
        this.bundles = bundles;
    }

    @GET
    @Blocking // the TokenReview is a blocking call; the wait itself holds no thread
    @Produces("application/yaml")
    public Uni<Response> bundle(@HeaderParam("Authorization") String authorization,
                                @HeaderParam("If-None-Match") String ifNoneMatch,
                                @QueryParam("wait") Integer waitSeconds) {
        String token = authorization != null && authorization.startsWith("Bearer ")
                ? authorization.substring(7).trim() : null;
        Optional<String> identity = reviewer.identity(token);
        if (identity.isEmpty()) {
            return Uni.createFrom().item(Response.status(Response.Status.UNAUTHORIZED)
                    .entity("a valid service-account token with audience dbwarden is required\n")
                    .type("text/plain").build());
        }
        int wait = waitSeconds == null ? 0 : Math.max(0, Math.min(waitSeconds, MAX_WAIT_SECONDS));
        return poll(identity.get(), ifNoneMatch, System.nanoTime() + Duration.ofSeconds(wait).toNanos());
    }

    /**
     * Answers the bundle if its tag differs from the client's, 304 when the time is up (or the operator is shutting
     * down), and otherwise waits for the next policy change without a thread, then looks again on a worker thread.
     * The version is read before the bundle, so a change in between ends the wait at once.
     */
    private Uni<Response> poll(String identity, String ifNoneMatch, long deadline) {
        long version = bundles.version();
        PolicyBundles.Bundle bundle = bundles.forIdentity(identity);
        if (!bundle.etag().equals(ifNoneMatch)) {
            return Uni.createFrom().item(Response.ok(bundle.yaml()).header("ETag", bundle.etag())
                    .header("X-Dbwarden-Identity", identity)
                    .header("X-Dbwarden-Policies", bundle.policies()).build());
        }
        long left = deadline - System.nanoTime();
        if (left <= 0 || bundles.closing()) {
            return Uni.createFrom().item(Response.notModified().tag(bundle.etag().replace("\"", "")).build());
        }
        return Uni.createFrom().completionStage(bundles.changeAfter(version, Duration.ofNanos(left)))
                .emitOn(Infrastructure.getDefaultWorkerPool())
                .onItem().transformToUni(changed -> poll(identity, ifNoneMatch, deadline));
    }
}
