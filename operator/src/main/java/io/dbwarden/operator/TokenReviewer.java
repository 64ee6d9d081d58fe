package io.dbwarden.operator;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns a sidecar's projected service-account token into its identity (namespace/serviceaccount) with a
 * TokenReview for the audience "dbwarden"; anything else (other audiences, users, failed reviews) is no identity.
 * Positive answers are cached for a minute by token hash (tokens are never kept or logged).
 */
@ApplicationScoped
public class TokenReviewer {
    public static final String AUDIENCE = "dbwarden";
    private static final String SA_PREFIX = "system:serviceaccount:";
    private static final long CACHE_MILLIS = 60_000;
    private static final Logger LOG = Logger.getLogger(TokenReviewer.class);

    private record Cached(String identity, long until) {
    }

    private final KubernetesClient client;
    private final Map<String, Cached> cache = new ConcurrentHashMap<>();

    public TokenReviewer(KubernetesClient client) {
        this.client = client;
    }

    public Optional<String> identity(String token) {
        if (token == null || token.isBlank()) {
            return Optional.empty();
        }
        String key = Hashes.sha256Hex(token, 32);
        Cached c = cache.get(key);
        if (c != null && c.until() > System.currentTimeMillis()) {
            return Optional.of(c.identity());
        }
        TokenReview review;
        try {
            review = client.tokenReviews().create(new TokenReviewBuilder().withNewSpec().withToken(token)
                    .withAudiences(AUDIENCE).endSpec().build());
        } catch (RuntimeException e) {
            LOG.warnf("token review failed: %s", e.toString());
            return Optional.empty();
        }
        var status = review == null ? null : review.getStatus();
        if (status == null || !Boolean.TRUE.equals(status.getAuthenticated()) || status.getUser() == null
                || status.getUser().getUsername() == null || !status.getUser().getUsername().startsWith(SA_PREFIX)
                || (status.getAudiences() != null && !status.getAudiences().isEmpty()
                && !status.getAudiences().contains(AUDIENCE))) {
            return Optional.empty();
        }
        String[] parts = status.getUser().getUsername().substring(SA_PREFIX.length()).split(":");
        if (parts.length != 2) {
            return Optional.empty();
        }
        String identity = parts[0] + "/" + parts[1];
        if (cache.size() > 10_000) {
            cache.clear();
        }
        cache.put(key, new Cached(identity, System.currentTimeMillis() + CACHE_MILLIS));
        return Optional.of(identity);
    }
}
