package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;

/** Live masking of result values for the policy's subjects. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class MaskingSpec {
    @JsonPropertyDescription("Column rules; the first rule matching a column decides its masking.")
    private List<ColumnMaskRule> columns = new ArrayList<>();

    @JsonPropertyDescription("Value detectors for text columns no column rule masks.")
    private List<DetectorRule> detectors = new ArrayList<>();

    @JsonPropertyDescription("Subjects that see unmasked values.")
    private List<Subject> exemptSubjects = new ArrayList<>();

    @JsonPropertyDescription("Secret with the key for the hash strategy (standalone: --masking-key-file).")
    private SecretKeyRef hashKeySecret;

    public List<ColumnMaskRule> getColumns() {
        return columns;
    }

    public void setColumns(List<ColumnMaskRule> columns) {
        this.columns = columns == null ? new ArrayList<>() : columns;
    }

    public List<DetectorRule> getDetectors() {
        return detectors;
    }

    public void setDetectors(List<DetectorRule> detectors) {
        this.detectors = detectors == null ? new ArrayList<>() : detectors;
    }

    public List<Subject> getExemptSubjects() {
        return exemptSubjects;
    }

    public void setExemptSubjects(List<Subject> exemptSubjects) {
        this.exemptSubjects = exemptSubjects == null ? new ArrayList<>() : exemptSubjects;
    }

    public SecretKeyRef getHashKeySecret() {
        return hashKeySecret;
    }

    public void setHashKeySecret(SecretKeyRef hashKeySecret) {
        this.hashKeySecret = hashKeySecret;
    }
}
