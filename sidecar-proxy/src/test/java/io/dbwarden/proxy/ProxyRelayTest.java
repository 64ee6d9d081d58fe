package io.dbwarden.proxy;

import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;

class ProxyRelayTest {
    static RunningProxy proxy;

    @BeforeAll
    static void start() {
        proxy = RunningProxy.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    @Test
    void simpleQueryThroughProxyWithScramUpstream() throws Exception {
        try (Connection c = proxy.connect("preferQueryMode=simple"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT current_user, current_database(), 1 + 1")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo(EmbeddedPg.SCRAM_USER);
            assertThat(rs.getString(2)).isEqualTo(EmbeddedPg.DATABASE);
            assertThat(rs.getInt(3)).isEqualTo(2);
        }
    }
}
