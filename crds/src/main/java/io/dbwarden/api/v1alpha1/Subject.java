package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/**
 * Who a policy applies to: a Kubernetes service account (namespace and name, each may be "*"), or a standalone
 * identity glob such as "ci/*".
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Subject {
    @JsonPropertyDescription("Service account name, or \"*\" for every service account of the namespace.")
    private String serviceAccount;

    @JsonPropertyDescription("Namespace of the service account, or \"*\" for every namespace. Defaults to the policy's namespace.")
    private String namespace;

    @JsonPropertyDescription("Identity glob in the form namespace/name, used by the standalone proxy (for example \"ci/*\").")
    private String identity;

    public Subject() {
    }

    public static Subject serviceAccount(String namespace, String name) {
        Subject s = new Subject();
        s.namespace = namespace;
        s.serviceAccount = name;
        return s;
    }

    public static Subject identity(String glob) {
        Subject s = new Subject();
        s.identity = glob;
        return s;
    }

    public String getServiceAccount() {
        return serviceAccount;
    }

    public void setServiceAccount(String serviceAccount) {
        this.serviceAccount = serviceAccount;
    }

    public String getNamespace() {
        return namespace;
    }

    public void setNamespace(String namespace) {
        this.namespace = namespace;
    }

    public String getIdentity() {
        return identity;
    }

    public void setIdentity(String identity) {
        this.identity = identity;
    }
}
