package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

/** The workload that asked to run a statement. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Requester {
    @Required
    @JsonPropertyDescription("Identity namespace/serviceaccount of the requesting workload.")
    private String identity;

    @JsonPropertyDescription("Pod the statement came from.")
    private String pod;

    public String getIdentity() {
        return identity;
    }

    public void setIdentity(String identity) {
        this.identity = identity;
    }

    public String getPod() {
        return pod;
    }

    public void setPod(String pod) {
        this.pod = pod;
    }
}
