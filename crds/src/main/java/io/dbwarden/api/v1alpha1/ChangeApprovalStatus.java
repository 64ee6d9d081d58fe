package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.List;

/** Observed state of a ChangeApproval, written by the operator and its admission webhook. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ChangeApprovalStatus {
    @JsonPropertyDescription("Pending, Approved, Denied, Expired or Used.")
    private ApprovalPhase phase;

    @JsonPropertyDescription("User who decided, from the admission request (never from the object itself).")
    private String decidedBy;

    @JsonPropertyDescription("When the decision was made (RFC 3339).")
    private String decidedAt;

    @JsonPropertyDescription("True when an automatic-approval rule decided.")
    private Boolean autoApproved;

    @JsonPropertyDescription("The automatic-approval rule that decided.")
    private String autoApprovalRule;

    @JsonPropertyDescription("Runs left before the approval is used up.")
    private Integer usesLeft;

    @JsonPropertyDescription("Generation of the spec this status describes.")
    private Long observedGeneration;

    @JsonPropertyDescription("Conditions, with reason and message.")
    private List<Condition> conditions = new ArrayList<>();

    public ApprovalPhase getPhase() {
        return phase;
    }

    public void setPhase(ApprovalPhase phase) {
        this.phase = phase;
    }

    public String getDecidedBy() {
        return decidedBy;
    }

    public void setDecidedBy(String decidedBy) {
        this.decidedBy = decidedBy;
    }

    public String getDecidedAt() {
        return decidedAt;
    }

    public void setDecidedAt(String decidedAt) {
        this.decidedAt = decidedAt;
    }

    public Boolean getAutoApproved() {
        return autoApproved;
    }

    public void setAutoApproved(Boolean autoApproved) {
        this.autoApproved = autoApproved;
    }

    public String getAutoApprovalRule() {
        return autoApprovalRule;
    }

    public void setAutoApprovalRule(String autoApprovalRule) {
        this.autoApprovalRule = autoApprovalRule;
    }

    public Integer getUsesLeft() {
        return usesLeft;
    }

    public void setUsesLeft(Integer usesLeft) {
        this.usesLeft = usesLeft;
    }

    public Long getObservedGeneration() {
        return observedGeneration;
    }

    public void setObservedGeneration(Long observedGeneration) {
        this.observedGeneration = observedGeneration;
    }

    public List<Condition> getConditions() {
        return conditions;
    }

    public void setConditions(List<Condition> conditions) {
        this.conditions = conditions;
    }
}
