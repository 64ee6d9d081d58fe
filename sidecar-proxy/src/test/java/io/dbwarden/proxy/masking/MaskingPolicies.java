package io.dbwarden.proxy.masking;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Policy files for masking tests: every statement allowed, results masked by the given column rules. */
final class MaskingPolicies {
    private MaskingPolicies() {
    }

    /** Writes {@code dir/policy.yaml} with these column rules (a YAML list, items indented by six spaces). */
    static Path write(Path dir, String columnRules) throws IOException {
        return Files.writeString(dir.resolve("policy.yaml"), """
                apiVersion: dbwarden.io/v1alpha1
                kind: DatabaseAccessPolicy
                metadata:
                  name: masking-test
                  namespace: test
                spec:
                  subjects:
                    - identity: "*/*"
                  defaultAction: allow
                  masking:
                    columns:
                """ + columnRules);
    }
}
