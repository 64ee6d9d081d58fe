package io.dbwarden.proxy;

import io.dbwarden.proxy.config.ClientAuthMode;
import io.dbwarden.proxy.config.HostPort;
import io.dbwarden.proxy.config.UpstreamTlsMode;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import io.dbwarden.proxy.testing.RunningProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.postgresql.util.PSQLException;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Upstream credentials held by the proxy (SCRAM, MD5, cleartext), client authentication, TLS on both legs. */
@ExtendWith(LeakDetection.class)
class ProxyAuthTlsTest {

    @ParameterizedTest
    @ValueSource(strings = {EmbeddedPg.SCRAM_USER, EmbeddedPg.MD5_USER, EmbeddedPg.CLEAR_USER})
    void proxyAuthenticatesUpstreamWhileTheAppSendsNoPassword(String role) throws Exception {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamCredentials(role, EmbeddedPg.PASSWORD),
                List.of(), List.of());
             Connection c = proxy.connect();
             ResultSet rs = c.createStatement().executeQuery("SELECT current_user")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo(role);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {EmbeddedPg.SCRAM_USER, EmbeddedPg.MD5_USER, EmbeddedPg.CLEAR_USER})
    void wrongUpstreamPasswordGivesTheClientAClearFatalError(String role) {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamCredentials(role, "wrong"), List.of(),
                List.of())) {
            assertThatThrownBy(proxy::connect).isInstanceOf(SQLException.class)
                    .satisfies(e -> {
                        assertThat(e.getMessage()).contains("dbwarden").contains("password authentication failed");
                        assertThat(e.getMessage()).doesNotContain("wrong");
                        assertThat(((PSQLException) e).getServerErrorMessage().getHint())
                                .contains("upstream user and password");
                    });
            assertThat(proxy.metrics.render()).contains("dbwarden_upstream_failures_total 1");
        }
    }

    @Test
    void aDatabaseWithoutFreeConnectionSlotsIsReportedAsSuchWithItsSqlState() throws Exception {
        EmbeddedPg.execute("DO $$ BEGIN CREATE ROLE app_limited LOGIN CONNECTION LIMIT 1; "
                + "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamCredentials("app_limited",
                EmbeddedPg.PASSWORD), List.of(), List.of());
             Connection first = proxy.connect()) {
            assertThat(first.isValid(2)).isTrue();
            assertThatThrownBy(proxy::connect).isInstanceOfSatisfying(PSQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("53300");
                assertThat(e.getServerErrorMessage().getMessage()).startsWith("dbwarden: ")
                        .contains("too many connections for role");
                assertThat(e.getServerErrorMessage().getHint()).contains("no connection slot left")
                        .contains("retry later");
            });
            assertThat(first.isValid(2)).as("the session that holds the slot is untouched").isTrue();
        }
    }

    @Test
    void aMissingUpstreamDatabaseIsNamedAndTheHintSaysWhereTheNameComesFrom() {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamDatabase("no_such_db"), List.of(),
                List.of())) {
            assertThatThrownBy(proxy::connect).isInstanceOfSatisfying(PSQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("3D000");
                assertThat(e.getServerErrorMessage().getMessage()).contains("no_such_db");
                assertThat(e.getServerErrorMessage().getHint()).contains("--upstream-database");
            });
        }
    }

    @Test
    void missingUpstreamPasswordIsExplained() {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamCredentials(EmbeddedPg.SCRAM_USER, null),
                List.of(), List.of())) {
            assertThatThrownBy(proxy::connect).hasMessageContaining("no upstream password is configured");
        }
    }

    @Test
    void unreachableUpstreamFailsFast() {
        try (RunningProxy proxy = RunningProxy.start(c -> new io.dbwarden.proxy.config.ProxyConfig(c.listen(),
                new HostPort("127.0.0.1", 1), null, null, null, UpstreamTlsMode.DISABLE, null, null, null, false,
                ClientAuthMode.TRUST, null, false, "x/y", 1 << 20, java.time.Duration.ofSeconds(2),
                java.time.Duration.ofSeconds(5)), List.of(), List.of())) {
            assertThatThrownBy(proxy::connect).hasMessageContaining("could not connect to the database");
        }
    }

    @Test
    void clientPasswordAuthentication() throws Exception {
        try (RunningProxy proxy = RunningProxy.start(c -> c.withClientAuth(ClientAuthMode.PASSWORD, "client-pw", false),
                List.of(), List.of())) {
            Properties ok = props("client-pw");
            try (Connection c = DriverManager.getConnection(url(proxy, "sslmode=disable"), ok);
                 ResultSet rs = c.createStatement().executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
            assertThatThrownBy(() -> DriverManager.getConnection(url(proxy, "sslmode=disable"), props("nope")))
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"));
            assertThat(proxy.metrics.render()).contains("dbwarden_client_auth_failures_total 1");
        }
    }

    @Test
    void upstreamTlsVerifyFullAcceptsTheRightServer() throws Exception {
        var certs = EmbeddedPg.get().certs();
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstream(new HostPort("localhost", c.upstream().port()))
                .withUpstreamTls(UpstreamTlsMode.VERIFY_FULL, certs.caCert()), List.of(), List.of());
             Connection c = proxy.connect();
             ResultSet rs = c.createStatement().executeQuery("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
            rs.next();
            assertThat(rs.getBoolean(1)).as("upstream leg is encrypted").isTrue();
        }
    }

    @Test
    void upstreamTlsVerifyFullRejectsHostNameMismatch() {
        var certs = EmbeddedPg.get().certs();
        // the certificate names "localhost" only; 127.0.0.1 must not pass verify-full, but passes verify-ca
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamTls(UpstreamTlsMode.VERIFY_FULL,
                certs.caCert()), List.of(), List.of())) {
            assertThatThrownBy(proxy::connect).hasMessageContaining("TLS handshake with the database");
        }
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstreamTls(UpstreamTlsMode.VERIFY_CA,
                certs.caCert()), List.of(), List.of());
             Connection c = proxy.connect()) {
            assertThat(c.isValid(2)).isTrue();
        } catch (SQLException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void upstreamTlsRejectsAnUntrustedCa() {
        var certs = EmbeddedPg.get().certs();
        try (RunningProxy proxy = RunningProxy.start(c -> c.withUpstream(new HostPort("localhost", c.upstream().port()))
                .withUpstreamTls(UpstreamTlsMode.VERIFY_FULL, certs.otherCaCert()), List.of(), List.of())) {
            assertThatThrownBy(proxy::connect).hasMessageContaining("TLS handshake with the database");
        }
    }

    @Test
    void clientTlsOptionalAndRequired() throws Exception {
        var certs = EmbeddedPg.get().certs();
        try (RunningProxy proxy = RunningProxy.start(c -> c.withClientTls(certs.serverCert(), certs.serverKey(), true),
                List.of(), List.of())) {
            Properties p = props(null);
            p.setProperty("sslrootcert", certs.caCert().toString());
            p.setProperty("sslmode", "verify-full");
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://localhost:" + proxy.port() + "/"
                    + EmbeddedPg.DATABASE, p); ResultSet rs = c.createStatement().executeQuery("SELECT 5")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(5);
            }
            assertThatThrownBy(() -> DriverManager.getConnection(url(proxy, "sslmode=disable"), props(null)))
                    .hasMessageContaining("accepts only TLS connections");
        }
    }

    private static String url(RunningProxy proxy, String params) {
        return "jdbc:postgresql://127.0.0.1:" + proxy.port() + "/" + EmbeddedPg.DATABASE + "?" + params;
    }

    private static Properties props(String password) {
        Properties p = new Properties();
        p.setProperty("user", "app");
        if (password != null) {
            p.setProperty("password", password);
        }
        return p;
    }
}
