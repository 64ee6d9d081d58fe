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
 * A statement held for approval by a requireApproval rule. Created by the proxy (through the operator); approved
 * or denied with kubectl by setting spec.decision.
 */
@Group(DatabaseAccessPolicy.GROUP)
@Version(DatabaseAccessPolicy.VERSION)
@Singular("changeapproval")
@Plural("changeapprovals")
@ShortNames({"ca", "approval"})
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase")
@AdditionalPrinterColumn(name = "Requester", jsonPath = ".spec.requester.identity")
@AdditionalPrinterColumn(name = "Rule", jsonPath = ".spec.rule")
@AdditionalPrinterColumn(name = "Decided By", jsonPath = ".status.decidedBy", priority = 1)
@AdditionalPrinterColumn(name = "Statement", jsonPath = ".spec.statement", priority = 1)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class ChangeApproval extends CustomResource<ChangeApprovalSpec, ChangeApprovalStatus> implements Namespaced {
    public static final String KIND = "ChangeApproval";
}
