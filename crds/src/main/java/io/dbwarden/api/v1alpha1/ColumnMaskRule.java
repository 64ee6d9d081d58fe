package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;

/** Masks the columns matching any of the globs, wherever they appear in a result (aliases, joins, views). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ColumnMaskRule extends MaskingAction {
    @JsonPropertyDescription("Rule name, shown in audit events.")
    private String name;

    @JsonPropertyDescription("Column globs schema.table.column; * and ? are wildcards, quoted parts match exactly.")
    private List<String> columns = new ArrayList<>();

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public List<String> getColumns() {
        return columns;
    }

    public void setColumns(List<String> columns) {
        this.columns = columns == null ? new ArrayList<>() : columns;
    }
}
