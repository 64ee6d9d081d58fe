package io.dbwarden.proxy.filter;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * A verdict still to come that can say what holds meanwhile: a statement waiting for its ChangeApproval is
 * {@link Decision#REQUIRE_APPROVAL} under a rule of a policy until an approver decides. Should the session end first,
 * the statement is audited with that decision rather than with none. The decision may become known after the stage
 * was handed out (once the statement's analysis is done), so it is read when it is needed.
 */
public final class PendingVerdict extends CompletableFuture<Verdict> {
    private volatile Verdict meanwhile;
    /** A stage whose decision meanwhile counts as this one's, when this one has none of its own. */
    private final CompletionStage<Verdict> source;

    public PendingVerdict() {
        this(null);
    }

    private PendingVerdict(CompletionStage<Verdict> source) {
        this.source = source;
    }

    /** Completes as {@code stage} does; {@code meanwhile} is the decision until then. */
    public static PendingVerdict of(CompletionStage<Verdict> stage, Verdict meanwhile) {
        PendingVerdict p = new PendingVerdict(null);
        p.meanwhile = meanwhile;
        p.completeAs(stage);
        return p;
    }

    /** Completes as {@code stage} does (a continuation of {@code source}); what holds meanwhile is source's. */
    public static PendingVerdict following(CompletionStage<Verdict> stage, CompletionStage<Verdict> source) {
        PendingVerdict p = new PendingVerdict(source);
        p.completeAs(stage);
        return p;
    }

    /** Completes as {@code stage} does. */
    public void completeAs(CompletionStage<Verdict> stage) {
        stage.whenComplete((v, e) -> {
            if (e != null) {
                completeExceptionally(e);
            } else {
                complete(v);
            }
        });
    }

    /** Sets the decision that holds until the verdict comes. */
    public void meanwhile(Verdict decision) {
        this.meanwhile = decision;
    }

    /** What holds while {@code stage} has not completed: its pending decision, or null when it says none. */
    public static Verdict meanwhile(CompletionStage<Verdict> stage) {
        if (!(stage instanceof PendingVerdict p)) {
            return null;
        }
        Verdict m = p.meanwhile;
        return m != null ? m : meanwhile(p.source);
    }
}
