package io.dbwarden.operator;

import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionRequest;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponse;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponseBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;

/** AdmissionReview answers shared by the operator's admission webhooks. */
public final class Admission {
    private Admission() {
    }

    /** Allowed; with a base64 JSON patch when {@code patch} is not null. */
    public static AdmissionResponse allow(AdmissionRequest req, String patch) {
        AdmissionResponseBuilder b = new AdmissionResponseBuilder().withUid(req.getUid()).withAllowed(true);
        if (patch != null) {
            b.withPatchType("JSONPatch").withPatch(patch);
        }
        return b.build();
    }

    /** Refused with an HTTP-style code and a message the user sees (kubectl prints it). */
    public static AdmissionResponse deny(AdmissionRequest req, int code, String message) {
        return new AdmissionResponseBuilder().withUid(req.getUid()).withAllowed(false)
                .withStatus(new StatusBuilder().withCode(code).withMessage(message).build()).build();
    }

    public static AdmissionReview review(AdmissionResponse response) {
        return new AdmissionReviewBuilder().withApiVersion("admission.k8s.io/v1").withKind("AdmissionReview")
                .withResponse(response).build();
    }
}
