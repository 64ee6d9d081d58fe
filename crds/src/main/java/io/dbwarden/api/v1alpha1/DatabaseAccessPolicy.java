package io.dbwarden.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * Who may run what against a database, how results are masked, and what needs approval. The same YAML drives
 * the operator (as a custom resource) and the standalone proxy (as a file).
 */
@Group(DatabaseAccessPolicy.GROUP)
@Version(DatabaseAccessPolicy.VERSION)
@Singular("databaseaccesspolicy")
@Plural("databaseaccesspolicies")
@ShortNames({"dap", "dbpolicy"})
@AdditionalPrinterColumn(name = "Mode", jsonPath = ".spec.mode")
@AdditionalPrinterColumn(name = "Default", jsonPath = ".spec.defaultAction")
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Workloads", jsonPath = ".status.boundWorkloads", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class DatabaseAccessPolicy extends CustomResource<DatabaseAccessPolicySpec, DatabaseAccessPolicyStatus>
        implements Namespaced {
    public static final String GROUP = "dbwarden.io";
    public static final String VERSION = "v1alpha1";
    public static final String KIND = "DatabaseAccessPolicy";

    @Override
    protected DatabaseAccessPolicySpec initSpec() {
        return new DatabaseAccessPolicySpec();
    }
}
