package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;

import java.util.ArrayList;
import java.util.List;

/**
 * Approves a held statement without a person when every condition it sets holds. The approval is still recorded as
 * a ChangeApproval, marked auto-approved with this rule's name.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class AutoApproveRule {
    @Required
    @JsonPropertyDescription("Name, recorded in the ChangeApproval (status.autoApprovalRule).")
    private String name;

    @JsonPropertyDescription("Only statements held by these requireApproval rules. Empty: any of them.")
    private List<String> rules = new ArrayList<>();

    @JsonPropertyDescription("Only these low-risk changes: createIndexConcurrently, addColumnWithoutDefault. Empty: "
            + "any statement (then set a window or maxEstimatedRows).")
    private List<ChangeShape> changes = new ArrayList<>();

    @JsonPropertyDescription("Only inside this time window.")
    private TimeWindow window;

    @Min(0)
    @JsonPropertyDescription("Only when PostgreSQL estimates (EXPLAIN) that the statement touches at most this many "
            + "rows; statements that cannot be estimated (DDL, parameters) do not qualify.")
    private Long maxEstimatedRows;

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public List<String> getRules() {
        return rules;
    }

    public void setRules(List<String> rules) {
        this.rules = rules == null ? new ArrayList<>() : rules;
    }

    public List<ChangeShape> getChanges() {
        return changes;
    }

    public void setChanges(List<ChangeShape> changes) {
        this.changes = changes == null ? new ArrayList<>() : changes;
    }

    public TimeWindow getWindow() {
        return window;
    }

    public void setWindow(TimeWindow window) {
        this.window = window;
    }

    public Long getMaxEstimatedRows() {
        return maxEstimatedRows;
    }

    public void setMaxEstimatedRows(Long maxEstimatedRows) {
        this.maxEstimatedRows = maxEstimatedRows;
    }

    /**
     * Whether this rule approves a statement held by {@code heldBy}, of the given shape (null: none of the named
     * changes) and estimated size (null: not estimable), at {@code now}.
     */
    public boolean approves(String heldBy, ChangeShape shape, Long estimatedRows, java.time.Instant now) {
        if (!rules.isEmpty() && !rules.contains(heldBy)) {
            return false;
        }
        if (!changes.isEmpty() && (shape == null || !changes.contains(shape))) {
            return false;
        }
        if (window != null && !window.contains(now)) {
            return false;
        }
        return maxEstimatedRows == null || (estimatedRows != null && estimatedRows <= maxEstimatedRows);
    }
}
