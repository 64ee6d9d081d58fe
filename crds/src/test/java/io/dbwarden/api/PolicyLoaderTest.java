package io.dbwarden.api;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.PolicyMode;
import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.api.validation.NameGlob;
import io.dbwarden.api.validation.PolicyLoader;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicyLoaderTest {
    private static final String HEADER = """
            apiVersion: dbwarden.io/v1alpha1
            kind: DatabaseAccessPolicy
            metadata:
              name: p
              namespace: ns
            spec:
              subjects:
                - serviceAccount: app
            """;

    private static List<String> errors(String yaml) {
        try {
            PolicyLoader.parse(yaml, "test.yaml");
        } catch (PolicyLoader.PolicyException e) {
            return e.errors();
        }
        throw new AssertionError("expected the policy to be rejected");
    }

    @Test
    void loadsAFullPolicyWithDefaults() throws Exception {
        List<DatabaseAccessPolicy> ps = PolicyLoader.parse(HEADER + """
                  rules:
                    - name: no-drop
                      match:
                        statements: [DROP, truncate]
                        tables: ["public.*", "\\"Mixed\\".t?"]
                      action: deny
                      message: no
                ---
                """ + HEADER.replace("name: p", "name: q") + """
                  mode: audit
                  defaultAction: allow
                """, "x");
        assertThat(ps).hasSize(2);
        DatabaseAccessPolicy p = ps.get(0);
        assertThat(p.getSpec().getMode()).isEqualTo(PolicyMode.ENFORCE);
        assertThat(p.getSpec().getDefaultAction()).isEqualTo(Action.DENY);
        assertThat(p.getSpec().getDefaultSchema()).isEqualTo("public");
        assertThat(p.getSpec().getRules().get(0).getMatch().getStatements())
                .containsExactly(StatementKind.DROP, StatementKind.TRUNCATE);
        assertThat(ps.get(1).getSpec().getMode()).isEqualTo(PolicyMode.AUDIT);
        assertThat(ps.get(1).getSpec().getDefaultAction()).isEqualTo(Action.ALLOW);
    }

    @Test
    void unknownKindActionAndFieldAreNamedWithTheirPath() {
        assertThat(errors(HEADER + """
                  rules:
                    - name: r
                      match:
                        statements: [SELECT, DESTROY]
                      action: allow
                """)).singleElement().asString().contains("spec.rules[0].match.statements[1]")
                .contains("unknown statement kind 'DESTROY'").contains("valid kinds");
        assertThat(errors(HEADER + """
                  defaultAction: permit
                """)).singleElement().asString().contains("spec.defaultAction").contains("unknown action 'permit'");
        assertThat(errors(HEADER + """
                  rules:
                    - name: r
                      matches: {}
                      action: allow
                """)).singleElement().asString().contains("unknown field 'matches'");
    }

    @Test
    void badGlobsAreExplained() {
        List<String> errs = errors(HEADER + """
                  rules:
                    - name: r
                      match:
                        tables: ["a.b.c", "pub lic.*", "", "x.", "**"]
                        functions: ["\\"unterminated"]
                      action: deny
                """);
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("tables[0]").contains("3 dot-separated parts"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("tables[1]").contains("character ' '"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("tables[2]").contains("empty name glob"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("tables[3]").contains("empty part"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("tables[4]").contains("'**' is not supported"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("functions[0]").contains("unterminated"));
    }

    @Test
    void conflictingShadowedAndDuplicateRulesAreRejected() {
        List<String> errs = errors(HEADER + """
                  rules:
                    - name: a
                      match:
                        statements: [DELETE]
                        withoutWhere: true
                      action: deny
                    - name: b
                      match:
                        withoutWhere: true
                        statements: [DELETE]
                      action: allow
                    - name: a
                      match:
                        statements: [DROP]
                      action: deny
                """);
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.rules[1]").contains("conflicts with spec.rules[0]")
                .contains("action deny"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.rules[2].name").contains("already used"));
        assertThat(errors(HEADER + """
                  rules:
                    - name: everything
                      action: allow
                    - name: never
                      match:
                        statements: [DROP]
                      action: deny
                """)).singleElement().asString().contains("unreachable");
    }

    @Test
    void structuralProblems() {
        assertThat(errors("""
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: x
                """)).singleElement().asString().contains("expected apiVersion dbwarden.io/v1alpha1");
        assertThat(errors("""
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: nobody
                spec:
                  subjects: []
                """)).singleElement().asString().contains("at least one subject");
        assertThat(errors(HEADER + """
                    - identity: "Not A Glob"
                    - serviceAccount: x
                      identity: y/z
                  database:
                    port: 70000
                    sslMode: maybe
                """)).hasSize(4);
        assertThatThrownBy(() -> PolicyLoader.parse("key: [unclosed", "x")).hasMessageContaining("not valid YAML");
    }

    @Test
    void approvalSettingsAreValidated() {
        List<String> errs = errors(HEADER + """
                  approvals:
                    approvers:
                      - user: alice
                        group: dba
                      - user: system:serviceaccount:ns:robot
                    expiresAfter: 1h
                    autoApprove:
                      - name: everything
                      - name: Bad_Name
                        changes: [createIndexConcurrently]
                      - name: nightly
                        window: {days: [Mon, Funday], from: "25:00", to: "06:00", timeZone: Mars/Olympus}
                      - name: nightly
                        maxEstimatedRows: 10
                """);
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("approvers[0]: set exactly one of user or group"))
                .anySatisfy(e -> assertThat(e).contains("approvers[1]: service accounts cannot approve"))
                .anySatisfy(e -> assertThat(e).contains("expiresAfter: '1h' is not an ISO-8601 duration"))
                .anySatisfy(e -> assertThat(e).contains("autoApprove[0]: approves everything"))
                .anySatisfy(e -> assertThat(e).contains("autoApprove[1].name"))
                .anySatisfy(e -> assertThat(e).contains("'Funday' is not a day"))
                .anySatisfy(e -> assertThat(e).contains("window.from: HH:MM expected"))
                .anySatisfy(e -> assertThat(e).contains("unknown time zone 'Mars/Olympus'"))
                .anySatisfy(e -> assertThat(e).contains("autoApprove[3].name: duplicate 'nightly'"));
        assertThat(errors(HEADER + """
                  approvals:
                    autoApprove:
                      - name: x
                        changes: [dropEverything]
                """)).anySatisfy(e -> assertThat(e).contains("unknown change 'dropEverything'"));
    }

    @Test
    void timeWindowsAndAutoApprovalConditions() {
        var w = new io.dbwarden.api.v1alpha1.TimeWindow();
        w.setDays(List.of("Mon", "tuesday"));
        w.setFrom("09:00");
        w.setTo("17:00");
        w.setTimeZone("Europe/Berlin");
        // 2026-11-23 is a Monday; Berlin is UTC+1 in November
        assertThat(w.contains(java.time.Instant.parse("2026-11-23T08:00:00Z"))).isTrue();
        assertThat(w.contains(java.time.Instant.parse("2026-11-23T07:59:00Z"))).isFalse();
        assertThat(w.contains(java.time.Instant.parse("2026-11-23T16:00:00Z"))).isFalse();
        assertThat(w.contains(java.time.Instant.parse("2026-11-25T10:00:00Z"))).isFalse(); // Wednesday
        var night = new io.dbwarden.api.v1alpha1.TimeWindow();
        night.setDays(List.of("Fri"));
        night.setFrom("22:00");
        night.setTo("04:00");
        assertThat(night.contains(java.time.Instant.parse("2026-11-27T23:00:00Z"))).isTrue(); // Friday night
        assertThat(night.contains(java.time.Instant.parse("2026-11-28T03:00:00Z"))).isTrue(); // early Saturday
        assertThat(night.contains(java.time.Instant.parse("2026-11-28T23:00:00Z"))).isFalse(); // Saturday night

        var rule = new io.dbwarden.api.v1alpha1.AutoApproveRule();
        rule.setName("small-updates");
        rule.setRules(List.of("updates-need-approval"));
        rule.setMaxEstimatedRows(100L);
        var now = java.time.Instant.now();
        assertThat(rule.approves("updates-need-approval", null, 40L, now)).isTrue();
        assertThat(rule.approves("updates-need-approval", null, 400L, now)).isFalse();
        assertThat(rule.approves("updates-need-approval", null, null, now)).isFalse(); // not estimable
        assertThat(rule.approves("ddl-needs-approval", null, 1L, now)).isFalse();
        rule.setChanges(List.of(io.dbwarden.api.v1alpha1.ChangeShape.CREATE_INDEX_CONCURRENTLY));
        assertThat(rule.approves("updates-need-approval", null, 1L, now)).isFalse();
        assertThat(rule.approves("updates-need-approval", io.dbwarden.api.v1alpha1.ChangeShape.CREATE_INDEX_CONCURRENTLY,
                1L, now)).isTrue();
    }

    @Test
    void maskingRulesAreValidated() {
        List<String> errs = errors(HEADER + """
                  masking:
                    columns:
                      - name: emails
                        columns: ["public.customers", "a.b.c", "x.y.z w"]
                        strategy: fixed
                      - name: emails
                        columns: []
                        strategy: scramble
                        keepPrefix: -1
                    detectors:
                      - type: email
                      - type: email
                      - type: creditcard
                    exemptSubjects:
                      - identity: "NOPE"
                """);
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("strategy").contains("unknown masking strategy 'scramble'"));
        errs = errors(HEADER + """
                  masking:
                    columns:
                      - name: emails
                        columns: ["public.customers", "x.y.z w"]
                        strategy: fixed
                      - name: emails
                        columns: []
                        keepPrefix: -1
                    detectors:
                      - type: email
                      - type: email
                    exemptSubjects:
                      - identity: "NOPE"
                """);
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[0].columns[0]")
                .contains("a column glob is schema.table.column"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[0].columns[1]")
                .contains("character ' '"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[0].value")
                .contains("required with strategy fixed"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[1].name").contains("already used"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[1].columns")
                .contains("at least one column glob"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.columns[1].keepPrefix"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.detectors[1].type").contains("twice"));
        assertThat(errs).anySatisfy(e -> assertThat(e).contains("spec.masking.exemptSubjects[0].identity"));
    }

    @Test
    void examplePoliciesAreValid() throws Exception {
        try (var files = java.nio.file.Files.list(java.nio.file.Path.of("../examples/policies"))) {
            List<java.nio.file.Path> yamls = files.filter(f -> f.toString().endsWith(".yaml")).toList();
            assertThat(yamls).hasSizeGreaterThanOrEqualTo(3);
            for (java.nio.file.Path f : yamls) {
                assertThat(PolicyLoader.load(f)).as(f.toString()).isNotEmpty();
            }
        }
    }

    @Test
    void globMatching() {
        NameGlob g = NameGlob.parse("Public.user_*");
        assertThat(g.matches("public", "user_accounts")).isTrue();
        assertThat(g.matches("public", "orders")).isFalse();
        assertThat(g.matches("other", "user_x")).isFalse();
        NameGlob quoted = NameGlob.parse("\"Mixed\".T?");
        assertThat(quoted.matches("Mixed", "t1")).isTrue();
        assertThat(quoted.matches("mixed", "t1")).isFalse();
        NameGlob anySchema = NameGlob.parse("credentials");
        assertThat(anySchema.matches("billing", "credentials")).isTrue();
        // unquoted names fold as the server folds unquoted identifiers: ASCII letters only
        NameGlob accented = NameGlob.parse("public.ÉMAIL");
        assertThat(accented.matches("public", "Émail")).isTrue();
        assertThat(accented.matches("public", "émail")).isFalse();
    }

    /** A name longer than the 63 bytes the server keeps of a name could never match anything: refused, not ignored. */
    @Test
    void namesLongerThanTheServerKeepsAreRefused() {
        String kept = "t".repeat(63);
        assertThat(NameGlob.parse("public." + kept).matches("public", kept)).isTrue();
        assertThat(NameGlob.parse("public.t*" + "x".repeat(61)).matches("public", "t" + "x".repeat(61))).isTrue();
        assertThat(NameGlob.parse("\"" + "é".repeat(31) + "\".x").matches("é".repeat(31), "x")).isTrue();
        for (String tooLong : List.of("public." + kept + "u", "\"" + "é".repeat(32) + "\".x", "s." + "?".repeat(64),
                "s.*" + "x".repeat(64) + "*")) {
            assertThatThrownBy(() -> NameGlob.parse(tooLong)).as(tooLong)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("keeps only the first 63 bytes");
        }
        assertThat(errors(HEADER + """
                  rules:
                    - name: r
                      match:
                        tables: ["public.%s"]
                      action: deny
                  masking:
                    columns:
                      - name: long
                        columns: ["public.t.%s"]
                        strategy: fixed
                        value: "***"
                """.formatted(kept + "abc", "c".repeat(70)))).hasSize(2)
                .anySatisfy(e -> assertThat(e).contains("spec.rules[0].match.tables[0]").contains("66 bytes long"))
                .anySatisfy(e -> assertThat(e).contains("spec.masking.columns[0].columns[0]").contains("70 bytes long"));
    }
}
