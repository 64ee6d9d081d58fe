package io.dbwarden.proxy.policy;

import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.cli.RunCommand;
import io.dbwarden.proxy.filter.Decision;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.testing.CliProxy;
import io.dbwarden.proxy.testing.EmbeddedPg;
import io.dbwarden.proxy.testing.LeakDetection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * SET ROLE and SET SESSION AUTHORIZATION change the privileges every later statement runs with, so a rule that
 * allows SET (for application_name, timezone, statement_timeout) does not allow them: only the roles the policy
 * lists in spec.allowedRoles, and the way back to the session's own role.
 */
@ExtendWith(LeakDetection.class)
class RoleChangesTest {
    private static final String POLICY = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: roles
              namespace: test
            spec:
              subjects:
                - identity: test/app
              defaultAction: deny
              allowedRoles: [rc_web_anon, "Rc_Mixed"]
              rules:
                - name: housekeeping
                  match:
                    statements: [SET, SHOW, TRANSACTION]
                  action: allow
                - name: reads
                  match:
                    statements: [SELECT]
                  action: allow
            """;

    static StatementDecider decider;
    static PolicyEngine engine;

    @BeforeAll
    static void load() throws Exception {
        decider = new StatementDecider();
        engine = PolicyEngine.of(PolicyLoader.parse(POLICY, "test"), "test/app");
    }

    @AfterAll
    static void close() {
        decider.close();
    }

    private static Verdict decide(String sql) {
        return decider.decide(engine, sql);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SET ROLE postgres",
            "SET SESSION ROLE postgres",
            "SET LOCAL ROLE postgres",
            "set role TO postgres",
            "SET role = postgres",
            "SET ROLE 'rc_web_anon'", // a literal: the proxy does not keep literal values, so the target is unknown
            "SET ROLE \"rc_web_anon\"x",
            "SET ROLE \"RC_WEB_ANON\"", // quoted: exactly this (other) role
            "SET ROLE rc_mixed", // folded to rc_mixed, which is not the listed "Rc_Mixed"
            "SET SESSION AUTHORIZATION postgres",
            "SET SESSION AUTHORIZATION 'postgres'",
            "SET session_authorization TO postgres",
            "/* */ SET /* */ ROLE /* */ postgres"
    })
    void roleChangesToUnlistedRolesAreDenied(String sql) {
        Verdict v = decide(sql);
        assertThat(v.decision()).as(sql).isEqualTo(Decision.DENY);
        assertThat(v.rule()).isEqualTo("pinned-role");
        assertThat(v.error().message()).contains("changing the database role is not allowed");
        assertThat(v.error().hint()).contains("rc_web_anon").contains("Rc_Mixed");
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "SET ROLE rc_web_anon",
            "SET LOCAL ROLE RC_WEB_ANON",
            "SET role TO rc_web_anon",
            "SET ROLE \"Rc_Mixed\"",
            "SET ROLE NONE",
            "RESET ROLE",
            "SET SESSION AUTHORIZATION DEFAULT",
            "RESET SESSION AUTHORIZATION",
            "SET application_name = 'checkout'",
            "SET statement_timeout TO 5000"
    })
    void listedRolesTheWayBackAndOtherSettingsAreAllowed(String sql) {
        assertThat(decide(sql).decision()).as(sql).isEqualTo(Decision.ALLOW);
    }

    @Test
    void roleNamesAreValidated() {
        assertThatThrownBy(() -> PolicyLoader.parse(POLICY.replace("allowedRoles: [rc_web_anon, \"Rc_Mixed\"]",
                "allowedRoles: [\"\", ok]"), "test"))
                .hasMessageContaining("spec.allowedRoles[0]: a role name of 1 to 63 characters is required");
    }

    @Test
    void throughTheProxyTheSessionSwitchesOnlyToListedRoles(@TempDir Path dir) throws Exception {
        try (Connection c = EmbeddedPg.get().direct(EmbeddedPg.DATABASE); Statement s = c.createStatement()) {
            s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rc_web_anon') THEN "
                    + "CREATE ROLE rc_web_anon NOLOGIN; END IF; IF NOT EXISTS (SELECT FROM pg_roles WHERE "
                    + "rolname = 'rc_admin') THEN CREATE ROLE rc_admin NOLOGIN; END IF; END $$");
            s.execute("GRANT rc_web_anon, rc_admin TO " + EmbeddedPg.SCRAM_USER);
        }
        Path policy = dir.resolve("policy.yaml");
        Files.writeString(policy, POLICY);
        try (RunCommand.Running proxy = CliProxy.start(dir, policy, "test/app");
             Connection c = CliProxy.connect(proxy, "");
             Statement s = c.createStatement()) {
            // the upstream user is a member of rc_admin, but the policy does not list it
            assertThatThrownBy(() -> s.execute("SET ROLE rc_admin")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getSQLState()).isEqualTo("42501")).hasMessageContaining("changing the database role is not allowed")
                    .hasMessageContaining("rc_admin");
            assertThat(currentUser(s)).isEqualTo(EmbeddedPg.SCRAM_USER);
            s.execute("SET ROLE rc_web_anon");
            assertThat(currentUser(s)).isEqualTo("rc_web_anon");
            s.execute("RESET ROLE");
            assertThat(currentUser(s)).isEqualTo(EmbeddedPg.SCRAM_USER);
        }
    }

    private static String currentUser(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT current_user")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
