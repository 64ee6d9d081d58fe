package io.dbwarden.operator;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * Leader election for HA: with several replicas only the lease holder reconciles (status, events), while every
 * replica serves the sidecar policy API from its own informer. Active in the prod profile
 * (quarkus.operator-sdk.activate-leader-election-for-profiles); the lease lives in the operator's namespace.
 */
@Singleton
public class LeaderElection {
    public static final String LEASE = "dbwarden-operator-lease";

    @Produces
    @Singleton
    LeaderElectionConfiguration configuration() {
        return LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE).build();
    }
}
