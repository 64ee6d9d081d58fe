package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Value detectors applied to text columns that no column rule masks. */
public enum DetectorType {
    EMAIL("email"),
    /** Card numbers of 13-19 digits passing the Luhn check. */
    CREDIT_CARD("creditCard"),
    /** IBANs passing the mod-97 check. */
    IBAN("iban"),
    /** International or national phone numbers with at least 9 digits. */
    PHONE("phone"),
    /** JSON Web Tokens (three base64url segments starting with a JSON header). */
    JWT("jwt"),
    /** Well-known key formats: AWS access keys, GitHub, Stripe, Slack, Google API keys, PEM private keys. */
    API_KEY("apiKey"),
    /** Long random-looking tokens (high Shannon entropy), a catch-all for secrets. */
    HIGH_ENTROPY("highEntropy");

    private final String yaml;

    DetectorType(String yaml) {
        this.yaml = yaml;
    }

    @JsonValue
    public String yamlName() {
        return yaml;
    }

    @JsonCreator
    public static DetectorType parse(String value) {
        for (DetectorType t : values()) {
            if (t.yaml.equals(value)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown detector '" + value
                + "'; valid detectors: email, creditCard, iban, phone, jwt, apiKey, highEntropy");
    }
}
