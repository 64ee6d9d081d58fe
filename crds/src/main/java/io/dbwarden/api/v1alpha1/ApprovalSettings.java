package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

import java.util.ArrayList;
import java.util.List;

/** How statements held by requireApproval rules of this policy are approved. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ApprovalSettings {
    @JsonPropertyDescription("Who may approve or deny (users or groups). Without approvers nobody can approve, so "
            + "requireApproval rules then block like deny. The requesting service account can never approve its own "
            + "request.")
    private List<Approver> approvers = new ArrayList<>();

    @Pattern("^P(?!$)(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?$")
    @JsonPropertyDescription("How long a request stays open, and an approval usable (ISO-8601, e.g. PT1H, P1D). "
            + "Default: PT1H.")
    private String expiresAfter = "PT1H";

    @Min(1)
    @Max(100)
    @JsonPropertyDescription("How many times an approved statement may run. Default: 1.")
    private Integer uses = 1;

    @Min(0)
    @Max(300)
    @JsonPropertyDescription("Hold mode: the proxy waits up to this many seconds for a decision instead of failing "
            + "the statement at once (the client's statement blocks meanwhile). Default: 0.")
    private Integer holdSeconds = 0;

    @JsonPropertyDescription("Rules that approve low-risk statements without a person; the ChangeApproval is still "
            + "recorded, marked auto-approved with the rule's name.")
    private List<AutoApproveRule> autoApprove = new ArrayList<>();

    public List<AutoApproveRule> getAutoApprove() {
        return autoApprove;
    }

    public void setAutoApprove(List<AutoApproveRule> autoApprove) {
        this.autoApprove = autoApprove == null ? new ArrayList<>() : autoApprove;
    }

    public List<Approver> getApprovers() {
        return approvers;
    }

    public void setApprovers(List<Approver> approvers) {
        this.approvers = approvers == null ? new ArrayList<>() : approvers;
    }

    public String getExpiresAfter() {
        return expiresAfter;
    }

    public void setExpiresAfter(String expiresAfter) {
        this.expiresAfter = expiresAfter;
    }

    public Integer getUses() {
        return uses;
    }

    public void setUses(Integer uses) {
        this.uses = uses;
    }

    public Integer getHoldSeconds() {
        return holdSeconds;
    }

    public void setHoldSeconds(Integer holdSeconds) {
        this.holdSeconds = holdSeconds;
    }
}
