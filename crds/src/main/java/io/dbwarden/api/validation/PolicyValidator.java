package io.dbwarden.api.validation;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicySpec;
import io.dbwarden.api.v1alpha1.Rule;
import io.dbwarden.api.v1alpha1.Subject;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Checks a DatabaseAccessPolicy beyond what its schema can express: globs, names, unreachable and conflicting
 * rules. Each problem names the field path and what to change. Shared by the proxy (on load) and the operator
 * (status conditions).
 */
public final class PolicyValidator {
    private static final Pattern RULE_NAME = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
    private static final Pattern K8S_NAME = Pattern.compile("[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?");
    private static final Pattern SCHEMA = Pattern.compile("[a-z_][a-z0-9_$]*");

    private PolicyValidator() {
    }

    private static final java.util.regex.Pattern TIMEOUT =
            java.util.regex.Pattern.compile("([0-9]{1,10})(ms|s|min|h)?");

    /**
     * A timeout as PostgreSQL takes it (a number of milliseconds, or with ms, s, min or h), in
     * milliseconds; at least 1 ms and at most PostgreSQL's limit (2147483647 ms, about 24.8 days).
     */
    public static long timeoutMillis(String value) {
        java.util.regex.Matcher m = TIMEOUT.matcher(value);
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + value + "' is not a duration such as 30s, 500ms or 5min");
        }
        long n = Long.parseLong(m.group(1));
        long millis = switch (m.group(2) == null ? "ms" : m.group(2)) {
            case "s" -> n * 1000;
            case "min" -> n * 60_000;
            case "h" -> n * 3_600_000;
            default -> n;
        };
        if (millis < 1 || millis > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("'" + value + "' is outside 1 ms to 2147483647 ms");
        }
        return millis;
    }

    public static List<String> validate(DatabaseAccessPolicy policy) {
        List<String> errors = new ArrayList<>();
        if (policy.getMetadata() == null || policy.getMetadata().getName() == null
                || policy.getMetadata().getName().isBlank()) {
            errors.add("metadata.name: required");
        }
        DatabaseAccessPolicySpec spec = policy.getSpec();
        if (spec == null) {
            errors.add("spec: required");
            return errors;
        }
        validateSubjects(spec.getSubjects(), errors);
        if (!SCHEMA.matcher(spec.getDefaultSchema()).matches()) {
            errors.add("spec.defaultSchema: '" + spec.getDefaultSchema() + "' is not an unquoted schema name");
        }
        String[][] timeouts = {{"spec.statementTimeout", spec.getStatementTimeout()},
                {"spec.idleInTransactionTimeout", spec.getIdleInTransactionTimeout()}};
        for (String[] timeout : timeouts) {
            try {
                if (timeout[1] != null) {
                    timeoutMillis(timeout[1]);
                }
            } catch (IllegalArgumentException e) {
                errors.add(timeout[0] + ": " + e.getMessage());
            }
        }
        if (spec.getDatabase() != null) {
            var db = spec.getDatabase();
            if (db.getPort() != null && (db.getPort() < 1 || db.getPort() > 65535)) {
                errors.add("spec.database.port: " + db.getPort() + " is not a TCP port (1-65535)");
            }
            if (db.getSslMode() != null && !List.of("disable", "prefer", "require", "verify-ca", "verify-full")
                    .contains(db.getSslMode())) {
                errors.add("spec.database.sslMode: '" + db.getSslMode()
                        + "' is not one of disable, prefer, require, verify-ca, verify-full");
            }
            if (db.getCredentialsSecret() != null && (db.getCredentialsSecret().getName() == null
                    || db.getCredentialsSecret().getName().isBlank())) {
                errors.add("spec.database.credentialsSecret.name: required");
            }
        }
        for (int i = 0; i < spec.getAllowedRoles().size(); i++) {
            String role = spec.getAllowedRoles().get(i);
            if (role == null || role.isEmpty() || role.length() > 63 || role.indexOf('\0') >= 0) {
                errors.add("spec.allowedRoles[" + i + "]: a role name of 1 to 63 characters is required");
            }
        }
        validateRules(spec.getRules(), errors);
        if (spec.getMasking() != null) {
            validateMasking(spec.getMasking(), errors);
        }
        if (spec.getApprovals() != null) {
            validateApprovals(spec.getApprovals(), errors);
        }
        return errors;
    }

    private static void validateApprovals(io.dbwarden.api.v1alpha1.ApprovalSettings a, List<String> errors) {
        for (int i = 0; i < a.getApprovers().size(); i++) {
            var ap = a.getApprovers().get(i);
            boolean user = ap.getUser() != null && !ap.getUser().isBlank();
            boolean group = ap.getGroup() != null && !ap.getGroup().isBlank();
            if (user == group) {
                errors.add("spec.approvals.approvers[" + i + "]: set exactly one of user or group");
            } else if (user && ap.getUser().startsWith("system:serviceaccount:")) {
                errors.add("spec.approvals.approvers[" + i + "]: service accounts cannot approve changes; name people "
                        + "or groups");
            }
        }
        if (a.getExpiresAfter() != null) {
            try {
                java.time.Duration d = java.time.Duration.parse(a.getExpiresAfter());
                if (d.isNegative() || d.isZero() || d.compareTo(java.time.Duration.ofDays(30)) > 0) {
                    errors.add("spec.approvals.expiresAfter: must be between 1 second and 30 days");
                }
            } catch (java.time.format.DateTimeParseException e) {
                errors.add("spec.approvals.expiresAfter: '" + a.getExpiresAfter()
                        + "' is not an ISO-8601 duration such as PT1H");
            }
        }
        if (a.getUses() != null && (a.getUses() < 1 || a.getUses() > 100)) {
            errors.add("spec.approvals.uses: must be between 1 and 100");
        }
        if (a.getHoldSeconds() != null && (a.getHoldSeconds() < 0 || a.getHoldSeconds() > 300)) {
            errors.add("spec.approvals.holdSeconds: must be between 0 and 300");
        }
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < a.getAutoApprove().size(); i++) {
            var r = a.getAutoApprove().get(i);
            String path = "spec.approvals.autoApprove[" + i + "]";
            if (r.getName() == null || !RULE_NAME.matcher(r.getName()).matches()) {
                errors.add(path + ".name: required, lower-case letters, digits and '-'");
            } else if (!names.add(r.getName())) {
                errors.add(path + ".name: duplicate '" + r.getName() + "'");
            }
            if (r.getChanges().isEmpty() && r.getWindow() == null && r.getMaxEstimatedRows() == null) {
                errors.add(path + ": approves everything; set changes, a window or maxEstimatedRows");
            }
            if (r.getMaxEstimatedRows() != null && r.getMaxEstimatedRows() < 0) {
                errors.add(path + ".maxEstimatedRows: must not be negative");
            }
            var w = r.getWindow();
            if (w != null) {
                try {
                    java.time.ZoneId.of(w.getTimeZone());
                } catch (java.time.DateTimeException e) {
                    errors.add(path + ".window.timeZone: unknown time zone '" + w.getTimeZone() + "'");
                }
                for (String d : w.getDays()) {
                    if (io.dbwarden.api.v1alpha1.TimeWindow.dayOf(d) == null) {
                        errors.add(path + ".window.days: '" + d + "' is not a day (Mon..Sun)");
                    }
                }
                if (w.getFrom() == null || !w.getFrom().matches("([01][0-9]|2[0-3]):[0-5][0-9]")) {
                    errors.add(path + ".window.from: HH:MM expected, got '" + w.getFrom() + "'");
                }
                if (w.getTo() == null || !w.getTo().matches("([01][0-9]|2[0-3]):[0-5][0-9]|24:00")) {
                    errors.add(path + ".window.to: HH:MM expected, got '" + w.getTo() + "'");
                }
            }
        }
    }

    private static void validateSubjects(List<Subject> subjects, List<String> errors) {
        if (subjects.isEmpty()) {
            errors.add("spec.subjects: at least one subject is required (a policy that applies to nobody does nothing)");
        }
        for (int i = 0; i < subjects.size(); i++) {
            Subject s = subjects.get(i);
            String path = "spec.subjects[" + i + "]";
            boolean sa = s.getServiceAccount() != null;
            boolean id = s.getIdentity() != null;
            if (sa == id) {
                errors.add(path + ": set exactly one of serviceAccount or identity");
                continue;
            }
            if (id) {
                try {
                    IdentityGlob.parse(s.getIdentity());
                } catch (IllegalArgumentException e) {
                    errors.add(path + ".identity: " + e.getMessage());
                }
            } else {
                if (!K8S_NAME.matcher(s.getServiceAccount()).matches()) {
                    errors.add(path + ".serviceAccount: '" + s.getServiceAccount()
                            + "' is not a service account name or '*'");
                }
                if (s.getNamespace() != null && !K8S_NAME.matcher(s.getNamespace()).matches()) {
                    errors.add(path + ".namespace: '" + s.getNamespace() + "' is not a namespace name or '*'");
                }
            }
        }
    }

    private static void validateMasking(io.dbwarden.api.v1alpha1.MaskingSpec m, List<String> errors) {
        Map<String, Integer> names = new HashMap<>();
        for (int i = 0; i < m.getColumns().size(); i++) {
            var r = m.getColumns().get(i);
            String path = "spec.masking.columns[" + i + "]";
            if (r.getName() == null || !RULE_NAME.matcher(r.getName()).matches()) {
                errors.add(path + ".name: '" + r.getName() + "' must be a lower-case DNS label (a-z, 0-9, '-')");
            } else if (names.putIfAbsent(r.getName(), i) != null) {
                errors.add(path + ".name: '" + r.getName() + "' is already used by spec.masking.columns["
                        + names.get(r.getName()) + "]");
            }
            if (r.getColumns().isEmpty()) {
                errors.add(path + ".columns: at least one column glob (schema.table.column) is required");
            }
            for (int c = 0; c < r.getColumns().size(); c++) {
                try {
                    ColumnGlob.parse(r.getColumns().get(c));
                } catch (IllegalArgumentException e) {
                    errors.add(path + ".columns[" + c + "]: " + e.getMessage());
                }
            }
            validateAction(r, path, errors);
        }
        java.util.Set<io.dbwarden.api.v1alpha1.DetectorType> seen = java.util.EnumSet.noneOf(
                io.dbwarden.api.v1alpha1.DetectorType.class);
        for (int i = 0; i < m.getDetectors().size(); i++) {
            var d = m.getDetectors().get(i);
            String path = "spec.masking.detectors[" + i + "]";
            if (d.getType() == null) {
                errors.add(path + ".type: required (email, creditCard, iban, phone, jwt, apiKey, highEntropy)");
            } else if (!seen.add(d.getType())) {
                errors.add(path + ".type: detector " + d.getType().yamlName() + " is listed twice");
            }
            validateAction(d, path, errors);
        }
        List<Subject> exempt = m.getExemptSubjects();
        for (int i = 0; i < exempt.size(); i++) {
            List<String> sub = new ArrayList<>();
            validateSubjects(List.of(exempt.get(i)), sub);
            for (String e : sub) {
                errors.add(e.replace("spec.subjects[0]", "spec.masking.exemptSubjects[" + i + "]"));
            }
        }
    }

    private static void validateAction(io.dbwarden.api.v1alpha1.MaskingAction a, String path, List<String> errors) {
        if (a.getStrategy() == io.dbwarden.api.v1alpha1.MaskStrategy.FIXED && a.getValue() == null) {
            errors.add(path + ".value: required with strategy fixed");
        }
        if (a.getKeepPrefix() != null && (a.getKeepPrefix() < 0 || a.getKeepPrefix() > 64)) {
            errors.add(path + ".keepPrefix: " + a.getKeepPrefix() + " is not between 0 and 64");
        }
        if (a.getKeepSuffix() != null && (a.getKeepSuffix() < 0 || a.getKeepSuffix() > 64)) {
            errors.add(path + ".keepSuffix: " + a.getKeepSuffix() + " is not between 0 and 64");
        }
    }

    private static void validateRules(List<Rule> rules, List<String> errors) {
        Map<String, Integer> names = new HashMap<>();
        for (int i = 0; i < rules.size(); i++) {
            Rule r = rules.get(i);
            String path = "spec.rules[" + i + "]";
            if (r.getName() == null || !RULE_NAME.matcher(r.getName()).matches()) {
                errors.add(path + ".name: '" + r.getName() + "' must be a lower-case DNS label (a-z, 0-9, '-')");
            } else if (names.putIfAbsent(r.getName(), i) != null) {
                errors.add(path + ".name: '" + r.getName() + "' is already used by spec.rules[" + names.get(r.getName())
                        + "]");
            }
            if (r.getAction() == null) {
                errors.add(path + ".action: required (allow, deny, requireApproval or audit)");
            }
            if (r.getMaxAffectedRows() != null) {
                if (r.getMaxAffectedRows() < 1) {
                    errors.add(path + ".maxAffectedRows: must be at least 1");
                }
                if (r.getAction() != null && r.getAction() != io.dbwarden.api.v1alpha1.Action.ALLOW
                        && r.getAction() != io.dbwarden.api.v1alpha1.Action.AUDIT) {
                    errors.add(path + ".maxAffectedRows: only rules that allow statements (allow, audit) can limit "
                            + "them");
                }
                var kinds = r.getMatch().getStatements();
                if (kinds.isEmpty() || !java.util.Set.of(io.dbwarden.api.v1alpha1.StatementKind.UPDATE,
                        io.dbwarden.api.v1alpha1.StatementKind.DELETE).containsAll(kinds)) {
                    errors.add(path + ".maxAffectedRows: set match.statements to UPDATE and/or DELETE (the statements "
                            + "whose affected rows are limited)");
                }
            }
            List<String> tables = r.getMatch().getTables();
            for (int t = 0; t < tables.size(); t++) {
                try {
                    NameGlob.parse(tables.get(t));
                } catch (IllegalArgumentException e) {
                    errors.add(path + ".match.tables[" + t + "]: " + e.getMessage());
                }
            }
            List<String> functions = r.getMatch().getFunctions();
            for (int f = 0; f < functions.size(); f++) {
                try {
                    NameGlob.parse(functions.get(f));
                } catch (IllegalArgumentException e) {
                    errors.add(path + ".match.functions[" + f + "]: " + e.getMessage());
                }
            }
            for (int j = 0; j < i; j++) {
                Rule earlier = rules.get(j);
                if (earlier.getMatch().matchesEverything()) {
                    errors.add(path + ": unreachable, spec.rules[" + j + "] ('" + earlier.getName()
                            + "') has no conditions and matches every statement first");
                    break;
                }
                if (earlier.getMatch().sameConditions(r.getMatch())) {
                    errors.add(path + ": conflicts with spec.rules[" + j + "] ('" + earlier.getName()
                            + "'), which has the same conditions" + (earlier.getAction() == r.getAction() ? ""
                            : " but action " + (earlier.getAction() == null ? "none" : earlier.getAction().yamlName()))
                            + "; the earlier rule always wins, so remove or change one of them");
                    break;
                }
            }
        }
    }
}
