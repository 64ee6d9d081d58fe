package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Pattern;

import java.util.ArrayList;
import java.util.List;

/** Masks the columns matching any of the globs, wherever they appear in a result (aliases, joins, views). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ColumnMaskRule extends MaskingAction {
    @Required
    @Pattern("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    @JsonPropertyDescription("Rule name, shown in audit events.")
    private String name;

    @Required
    @Size(min = 1)
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
