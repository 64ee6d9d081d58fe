package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

/** Masks values found by a detector in text columns, replacing only the detected part of the value. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DetectorRule extends MaskingAction {
    @Required
    @JsonPropertyDescription("email, creditCard, iban, phone, jwt, apiKey or highEntropy.")
    private DetectorType type;

    public DetectorType getType() {
        return type;
    }

    public void setType(DetectorType type) {
        this.type = type;
    }
}
