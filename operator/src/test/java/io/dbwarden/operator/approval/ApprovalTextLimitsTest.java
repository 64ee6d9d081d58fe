package io.dbwarden.operator.approval;

import io.dbwarden.api.v1alpha1.ApprovalPhase;
import io.dbwarden.api.v1alpha1.ChangeApproval;
import io.dbwarden.api.v1alpha1.ChangeApprovalSpec;
import io.dbwarden.api.v1alpha1.Requester;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** How long a statement an approval request may show, and how much of it a chat notification shows. */
class ApprovalTextLimitsTest {
    private static ApprovalsResource.ApprovalRequest request(String statement, String reason) {
        return new ApprovalsResource.ApprovalRequest("shop", "guarded", "ddl", "shop", statement, "a".repeat(64),
                "f", reason, "pod-1", null, null);
    }

    @Test
    void requestsShowStatementsUpToTheLimit() {
        assertThat(ApprovalsResource.invalid(request("x".repeat(ChangeApprovalSpec.MAX_STATEMENT_CHARS), null)))
                .isNull();
        assertThat(ApprovalsResource.invalid(request("x".repeat(ChangeApprovalSpec.MAX_STATEMENT_CHARS + 1), null)))
                .isEqualTo("statement longer than 65536 characters");
        assertThat(ApprovalsResource.invalid(request("x", "r".repeat(1025))))
                .isEqualTo("reason longer than 1024 characters");
    }

    @Test
    void aChatNotificationShowsTheStartOfALongStatementAndWhereToReadItWhole() {
        ChangeApproval ca = new ChangeApproval();
        ca.setMetadata(new ObjectMetaBuilder().withNamespace("shop").withName("ddl-x1").build());
        ChangeApprovalSpec spec = new ChangeApprovalSpec();
        Requester requester = new Requester();
        requester.setIdentity("shop/checkout");
        spec.setRequester(requester);
        spec.setDatabase("shop");
        spec.setPolicy("guarded");
        spec.setRule("ddl");
        spec.setStatement("create function f() " + "y".repeat(10_000));
        spec.setReason("release 7");
        ca.setSpec(spec);
        String text = ApprovalNotifier.text(ca, ApprovalPhase.PENDING);
        assertThat(text).contains("create function f() yyy").doesNotContain("y".repeat(3_000))
                .contains("The statement is 10020 characters long; review it whole: "
                        + "`kubectl -n shop get changeapproval ddl-x1 -o yaml`")
                .contains("Reason: release 7").contains("patch changeapproval ddl-x1");
        assertThat(text.length()).isLessThan(3_500);
        spec.setStatement("create table t (id int)");
        assertThat(ApprovalNotifier.text(ca, ApprovalPhase.PENDING)).contains("```create table t (id int)```")
                .doesNotContain("characters long");
    }
}
