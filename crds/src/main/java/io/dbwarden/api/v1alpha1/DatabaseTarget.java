package io.dbwarden.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Max;

/** The database a policy guards and how the proxy reaches it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class DatabaseTarget {
    @JsonPropertyDescription("Host name of the PostgreSQL server.")
    private String host;

    @Min(1)
    @Max(65535)
    @JsonPropertyDescription("Port of the PostgreSQL server. Default: 5432.")
    private Integer port;

    @JsonPropertyDescription("Database name.")
    private String name;

    @Pattern("^(disable|prefer|require|verify-ca|verify-full)$")
    @JsonPropertyDescription("TLS towards the database: disable, prefer, require, verify-ca or verify-full. Default: prefer.")
    private String sslMode;

    @JsonPropertyDescription("Secret with the credentials the proxy logs in with; the application never sees them.")
    private SecretKeyRef credentialsSecret;

    public String getHost() {
        return host;
    }

    public void setHost(String host) {
        this.host = host;
    }

    public Integer getPort() {
        return port;
    }

    public void setPort(Integer port) {
        this.port = port;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public String getSslMode() {
        return sslMode;
    }

    public void setSslMode(String sslMode) {
        this.sslMode = sslMode;
    }

    public SecretKeyRef getCredentialsSecret() {
        return credentialsSecret;
    }

    public void setCredentialsSecret(SecretKeyRef credentialsSecret) {
        this.credentialsSecret = credentialsSecret;
    }
}
