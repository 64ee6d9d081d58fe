package io.dbwarden.proxy.policy;

import io.dbwarden.api.v1alpha1.Action;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicySpec;
import io.dbwarden.api.v1alpha1.PolicyMode;
import io.dbwarden.api.validation.IdentityGlob;
import io.dbwarden.api.validation.Subjects;

import java.util.List;

/** A validated DatabaseAccessPolicy in the form the proxy evaluates. */
public record CompiledPolicy(String name, String namespace, List<IdentityGlob> subjects, PolicyMode mode,
                             Action defaultAction, String defaultSchema, boolean readOnly,
                             boolean allowUnparsedStatements, List<CompiledRule> rules, int approvalHoldSeconds,
                             List<io.dbwarden.api.v1alpha1.AutoApproveRule> autoApprove,
                             java.util.Set<String> allowedRoles, long statementTimeoutMillis,
                             long idleInTransactionTimeoutMillis) {

    public static CompiledPolicy of(DatabaseAccessPolicy p) {
        DatabaseAccessPolicySpec spec = p.getSpec();
        String namespace = p.getMetadata().getNamespace();
        List<IdentityGlob> subjects = Subjects.globs(spec.getSubjects(), namespace);
        return new CompiledPolicy(p.getMetadata().getName(), namespace, subjects, spec.getMode(),
                spec.getDefaultAction(), spec.getDefaultSchema(), Boolean.TRUE.equals(spec.getReadOnly()),
                Boolean.TRUE.equals(spec.getAllowUnparsedStatements()),
                spec.getRules().stream().map(CompiledRule::of).toList(),
                spec.getApprovals() == null || spec.getApprovals().getHoldSeconds() == null ? 0
                        : spec.getApprovals().getHoldSeconds(),
                spec.getApprovals() == null ? List.of() : List.copyOf(spec.getApprovals().getAutoApprove()),
                java.util.Set.copyOf(spec.getAllowedRoles()),
                millis(spec.getStatementTimeout()), millis(spec.getIdleInTransactionTimeout()));
    }

    private static long millis(String timeout) {
        return timeout == null ? 0 : io.dbwarden.api.validation.PolicyValidator.timeoutMillis(timeout);
    }

    public boolean appliesTo(String identity) {
        return subjects.stream().anyMatch(g -> g.matches(identity));
    }
}
