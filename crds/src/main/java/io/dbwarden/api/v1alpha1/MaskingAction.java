package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Max;

/** A strategy with its parameters; shared by column rules and detectors. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class MaskingAction {
    @JsonPropertyDescription("redact, partial, hash, null or fixed.")
    private MaskStrategy strategy = MaskStrategy.REDACT;

    @Min(0)
    @Max(64)
    @JsonPropertyDescription("partial: characters kept at the start. Default: 1.")
    private Integer keepPrefix;

    @Min(0)
    @Max(64)
    @JsonPropertyDescription("partial: characters kept at the end. Default: 0 (4 for credit cards).")
    private Integer keepSuffix;

    @JsonPropertyDescription("fixed: the replacement value.")
    private String value;

    public MaskStrategy getStrategy() {
        return strategy;
    }

    public void setStrategy(MaskStrategy strategy) {
        this.strategy = strategy == null ? MaskStrategy.REDACT : strategy;
    }

    public Integer getKeepPrefix() {
        return keepPrefix;
    }

    public void setKeepPrefix(Integer keepPrefix) {
        this.keepPrefix = keepPrefix;
    }

    public Integer getKeepSuffix() {
        return keepSuffix;
    }

    public void setKeepSuffix(Integer keepSuffix) {
        this.keepSuffix = keepSuffix;
    }

    public String getValue() {
        return value;
    }

    public void setValue(String value) {
        this.value = value;
    }
}
