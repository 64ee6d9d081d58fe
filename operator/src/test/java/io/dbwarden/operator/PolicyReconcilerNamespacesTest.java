package io.dbwarden.operator;

import io.dbwarden.api.validation.IdentityGlob;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Counting bound workloads lists pods only in the namespaces a policy's subjects can match. */
class PolicyReconcilerNamespacesTest {
    private static List<IdentityGlob> globs(String... identities) {
        return java.util.Arrays.stream(identities).map(IdentityGlob::parse).toList();
    }

    @Test
    void literalNamespacesAreListedOnceEach() {
        assertThat(PolicyReconciler.namespaces(globs("shop/checkout", "shop/*", "billing/api")))
                .contains(Set.of("billing", "shop"));
        assertThat(PolicyReconciler.namespaces(globs())).contains(Set.of());
    }

    @Test
    void aWildcardNamespaceMeansEveryNamespace() {
        assertThat(PolicyReconciler.namespaces(globs("shop/checkout", "*/reporting"))).isEqualTo(Optional.empty());
        assertThat(PolicyReconciler.namespaces(globs("team-*/app"))).isEqualTo(Optional.empty());
        assertThat(PolicyReconciler.namespaces(globs("*/*"))).isEqualTo(Optional.empty());
    }
}
