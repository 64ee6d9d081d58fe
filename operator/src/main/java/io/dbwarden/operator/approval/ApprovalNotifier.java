package io.dbwarden.operator.approval;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * Optional chat notification (Slack-compatible incoming webhook JSON: {"text": ...}) when a change is requested and
 * when it is decided, configured with dbwarden.approvals.notify-url. Best effort: a failed post is logged, never
 * blocks the approval.
 */
@ApplicationScoped
public class ApprovalNotifier {
    private static final Logger LOG = Logger.getLogger(ApprovalNotifier.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Optional<URI> url;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public ApprovalNotifier(@ConfigProperty(name = "dbwarden.approvals.notify-url") Optional<String> url) {
        this.url = url.filter(u -> !u.isBlank()).map(URI::create);
    }

    public boolean enabled() {
        return url.isPresent();
    }

    /** Posts the message for {@code phase}; returns whether the endpoint accepted it. */
    public boolean notify(ChangeApproval ca, ApprovalPhase phase) {
        if (url.isEmpty()) {
            return false;
        }
        String text = text(ca, phase);
        try {
            String body = JSON.writeValueAsString(Map.of("text", text));
            HttpResponse<Void> resp = http.send(HttpRequest.newBuilder(url.get()).timeout(Duration.ofSeconds(10))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.discarding());
            if (resp.statusCode() / 100 != 2) {
                LOG.warnf("approval notification for %s/%s answered %d", ca.getMetadata().getNamespace(),
                        ca.getMetadata().getName(), resp.statusCode());
                return false;
            }
            return true;
        } catch (java.io.IOException e) {
            LOG.warnf("approval notification for %s/%s failed: %s", ca.getMetadata().getNamespace(),
                    ca.getMetadata().getName(), e.toString());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Characters of the statement a chat message shows: chat services cut long messages on their own. */
    static final int SHOWN_CHARS = 3000;

    private static String shown(String statement) {
        return statement.length() <= SHOWN_CHARS ? statement : statement.substring(0, SHOWN_CHARS) + " ...";
    }

    static String text(ChangeApproval ca, ApprovalPhase phase) {
        var spec = ca.getSpec();
        String ref = "`kubectl -n " + ca.getMetadata().getNamespace() + " get changeapproval " + ca.getMetadata().getName()
                + "`";
        return switch (phase) {
            case PENDING -> ":raised_hand: *" + spec.getRequester().getIdentity() + "* asks to run on `"
                    + spec.getDatabase() + "` (policy " + spec.getPolicy() + ", rule " + spec.getRule() + "):\n```"
                    + shown(spec.getStatement()) + "```"
                    + (spec.getStatement().length() <= SHOWN_CHARS ? "" : "\nThe statement is "
                    + spec.getStatement().length() + " characters long; review it whole: `kubectl -n "
                    + ca.getMetadata().getNamespace() + " get changeapproval " + ca.getMetadata().getName()
                    + " -o yaml`")
                    + (spec.getReason() == null ? "" : "\nReason: " + spec.getReason())
                    + "\nApprove: `kubectl -n " + ca.getMetadata().getNamespace() + " patch changeapproval "
                    + ca.getMetadata().getName() + " --type merge -p '{\"spec\":{\"decision\":\"approved\"}}'`";
            case APPROVED -> ":white_check_mark: approved by " + decidedBy(ca) + ": " + ref;
            case DENIED -> ":no_entry: denied by " + decidedBy(ca) + ": " + ref;
            case EXPIRED -> ":hourglass: expired: " + ref;
            case USED -> ":heavy_check_mark: executed: " + ref;
        };
    }

    private static String decidedBy(ChangeApproval ca) {
        if (ca.getStatus() != null && Boolean.TRUE.equals(ca.getStatus().getAutoApproved())) {
            return "automatic rule " + ca.getStatus().getAutoApprovalRule();
        }
        String by = ApprovalState.annotation(ca, ApprovalState.DECIDED_BY);
        return by == null ? "unknown" : by;
    }
}
