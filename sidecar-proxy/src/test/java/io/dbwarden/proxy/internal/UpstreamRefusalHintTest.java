package io.dbwarden.proxy.internal;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The hint a client gets when the proxy's own connection to the database failed, by SQLSTATE (the cases a real
 * server produces in a test, 53300, 3D000 and 28P01, are in {@code ProxyAuthTlsTest}).
 */
class UpstreamRefusalHintTest {

    @Test
    void eachKindOfRefusalPointsAtItsOwnRemedy() {
        assertThat(FrontendHandler.upstreamRefusalHint("53300")).contains("no connection slot left", "retry later");
        assertThat(FrontendHandler.upstreamRefusalHint("53200")).as("out of memory: class 53 too")
                .isEqualTo(FrontendHandler.upstreamRefusalHint("53300"));
        assertThat(FrontendHandler.upstreamRefusalHint("57P03")).contains("starting up, shutting down", "retry");
        assertThat(FrontendHandler.upstreamRefusalHint("28P01")).contains("credentials", "pg_hba.conf");
        assertThat(FrontendHandler.upstreamRefusalHint("28000"))
                .isEqualTo(FrontendHandler.upstreamRefusalHint("28P01"));
        assertThat(FrontendHandler.upstreamRefusalHint("3D000")).contains("--upstream-database");
        assertThat(FrontendHandler.upstreamRefusalHint("08006")).contains("upstream settings");
        assertThat(FrontendHandler.upstreamRefusalHint("57P01")).as("a terminated backend is no start-up state")
                .isEqualTo(FrontendHandler.upstreamRefusalHint("08006"));
        Set<String> distinct = new HashSet<>();
        for (String code : List.of("53300", "57P03", "28P01", "3D000", "08006")) {
            distinct.add(FrontendHandler.upstreamRefusalHint(code));
        }
        assertThat(distinct).hasSize(5);
    }
}
