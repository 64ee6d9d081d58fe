package io.dbwarden.operator.approval;

import io.dbwarden.api.v1alpha1.ApprovalDecision;
import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ChangeApproval;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;

/** The phase of a ChangeApproval at a point in time, from its spec, annotations and status (one definition for all). */
public final class ApprovalState {
    /** Set by the admission webhook from the request's authenticated user; nobody else can write them. */
    public static final String DECIDED_BY = "dbwarden.io/decided-by";
    public static final String DECIDED_AT = "dbwarden.io/decided-at";
    /** Set by the operator when it creates a request that an automatic rule approves at once (status follows). */
    public static final String AUTO_APPROVAL = "dbwarden.io/auto-approval";
    public static final String REQUESTER_LABEL = "dbwarden.io/requester";
    public static final String STATEMENT_LABEL = "dbwarden.io/statement";

    private ApprovalState() {
    }

    public static ApprovalPhase phase(ChangeApproval ca, Instant now) {
        var status = ca.getStatus();
        if (status != null && status.getPhase() == ApprovalPhase.USED) {
            return ApprovalPhase.USED;
        }
        if (ca.getSpec().getDecision() == ApprovalDecision.DENIED) {
            return ApprovalPhase.DENIED;
        }
        if (expired(ca, now)) {
            return ApprovalPhase.EXPIRED;
        }
        boolean approved = ca.getSpec().getDecision() == ApprovalDecision.APPROVED
                || (status != null && Boolean.TRUE.equals(status.getAutoApproved()));
        if (approved) {
            return usesLeft(ca) > 0 ? ApprovalPhase.APPROVED : ApprovalPhase.USED;
        }
        return ApprovalPhase.PENDING;
    }

    public static int usesLeft(ChangeApproval ca) {
        if (ca.getStatus() != null && ca.getStatus().getUsesLeft() != null) {
            return ca.getStatus().getUsesLeft();
        }
        return ca.getSpec().getUses() == null ? 1 : ca.getSpec().getUses();
    }

    public static boolean expired(ChangeApproval ca, Instant now) {
        String at = ca.getSpec().getExpiresAt();
        if (at == null) {
            return false;
        }
        try {
            return !now.isBefore(Instant.parse(at));
        } catch (DateTimeParseException e) {
            return true; // an unreadable expiry fails closed
        }
    }

    public static String annotation(ChangeApproval ca, String key) {
        Map<String, String> a = ca.getMetadata().getAnnotations();
        return a == null ? null : a.get(key);
    }
}
