package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.List;

/** Observed state of a DatabaseAccessPolicy, written by the operator. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DatabaseAccessPolicyStatus {
    @JsonPropertyDescription("Generation of the spec this status describes.")
    private Long observedGeneration;

    @JsonPropertyDescription("Conditions; Ready tells whether the policy is valid and served to sidecars.")
    private List<Condition> conditions = new ArrayList<>();

    @JsonPropertyDescription("Number of running workloads this policy applies to.")
    private Integer boundWorkloads;

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

    public Integer getBoundWorkloads() {
        return boundWorkloads;
    }

    public void setBoundWorkloads(Integer boundWorkloads) {
        this.boundWorkloads = boundWorkloads;
    }
}
