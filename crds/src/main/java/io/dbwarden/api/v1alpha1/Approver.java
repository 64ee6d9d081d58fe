package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** Someone who may decide ChangeApprovals: a Kubernetes user or a group (as the API server authenticates them). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Approver {
    @JsonPropertyDescription("User name as the API server sees it (kubectl auth whoami), e.g. alice@example.com.")
    private String user;

    @JsonPropertyDescription("Group name as the API server sees it, e.g. dba-oncall.")
    private String group;

    public Approver() {
    }

    public static Approver user(String name) {
        Approver a = new Approver();
        a.user = name;
        return a;
    }

    public static Approver group(String name) {
        Approver a = new Approver();
        a.group = name;
        return a;
    }

    public String getUser() {
        return user;
    }

    public void setUser(String user) {
        this.user = user;
    }

    public String getGroup() {
        return group;
    }

    public void setGroup(String group) {
        this.group = group;
    }
}
