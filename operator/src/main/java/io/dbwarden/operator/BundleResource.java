package io.dbwarden.operator;

import io.smallrye.common.annotation.Blocking;
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
 * policy changes, so changes reach sidecars within seconds.
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
    @Blocking
    @Produces("application/yaml")
    public Response bundle(@HeaderParam("Authorization") String authorization,
                           @HeaderParam("If-None-Match") String ifNoneMatch,
                           @QueryParam("wait") Integer waitSeconds) throws InterruptedException {
        String token = authorization != null && authorization.startsWith("Bearer ")
                ? authorization.substring(7).trim() : null;
        Optional<String> identity = reviewer.identity(token);
        if (identity.isEmpty()) {
            return Response.status(Response.Status.UNAUTHORIZED)
                    .entity("a valid service-account token with audience dbwarden is required\n")
                    .type("text/plain").build();
        }
        int wait = waitSeconds == null ? 0 : Math.max(0, Math.min(waitSeconds, MAX_WAIT_SECONDS));
        long deadline = System.nanoTime() + Duration.ofSeconds(wait).toNanos();
        PolicyBundles.Bundle bundle = bundles.forIdentity(identity.get());
        while (bundle.etag().equals(ifNoneMatch)) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Response.notModified().tag(bundle.etag().replace("\"", "")).build();
            }
            bundles.awaitChange(Duration.ofNanos(left));
            bundle = bundles.forIdentity(identity.get());
        }
        return Response.ok(bundle.yaml()).header("ETag", bundle.etag())
                .header("X-Dbwarden-Identity", identity.get())
                .header("X-Dbwarden-Policies", bundle.policies()).build();
    }
}
