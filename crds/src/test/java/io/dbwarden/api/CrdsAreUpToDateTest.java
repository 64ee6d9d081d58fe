package io.dbwarden.api;

import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.fabric8.crdv2.generator.CRDGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CRD manifests under crds/kubernetes are generated from the Java model. This test regenerates them and fails
 * when the committed files differ; run it with -Ddbwarden.updateCrds=true to rewrite them.
 */
class CrdsAreUpToDateTest {
    static final Path COMMITTED = Path.of("kubernetes");
    static final List<String> FILES = List.of("databaseaccesspolicies.dbwarden.io-v1.yml",
            "changeapprovals.dbwarden.io-v1.yml");

    @Test
    void committedCrdsMatchTheModel(@TempDir Path out) throws Exception {
        new CRDGenerator().inOutputDir(out.toFile()).forCRDVersions("v1")
                .customResourceClasses(DatabaseAccessPolicy.class, ChangeApproval.class).generate();
        boolean update = Boolean.getBoolean("dbwarden.updateCrds");
        for (String f : FILES) {
            String generated = Files.readString(out.resolve(f));
            if (update) {
                Files.createDirectories(COMMITTED);
                Files.writeString(COMMITTED.resolve(f), generated);
            }
            assertThat(COMMITTED.resolve(f)).as("crds/kubernetes/" + f + " is stale: run "
                    + "'mvn -pl crds test -Dtest=CrdsAreUpToDateTest -Ddbwarden.updateCrds=true' and commit it").exists();
            assertThat(Files.readString(COMMITTED.resolve(f))).as("crds/kubernetes/" + f + " is stale: run "
                    + "'mvn -pl crds test -Dtest=CrdsAreUpToDateTest -Ddbwarden.updateCrds=true' and commit it")
                    .isEqualTo(generated);
        }
    }
}
