package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

/** A Secret holding the database credentials the proxy uses; mounted into the sidecar container only. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class SecretKeyRef {
    @Required
    @JsonPropertyDescription("Name of the Secret in the policy's namespace.")
    private String name;

    @JsonPropertyDescription("Key of the user name in the Secret. Default: username.")
    private String usernameKey = "username";

    @JsonPropertyDescription("Key of the password in the Secret. Default: password.")
    private String passwordKey = "password";

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public String getUsernameKey() {
        return usernameKey;
    }

    public void setUsernameKey(String usernameKey) {
        this.usernameKey = usernameKey;
    }

    public String getPasswordKey() {
        return passwordKey;
    }

    public void setPasswordKey(String passwordKey) {
        this.passwordKey = passwordKey;
    }
}
