package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.filter.StatementFilter;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.postgres.PgError;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/** Statement filters for exercising the filter seam without the policy engine. */
public final class TestFilters {
    private TestFilters() {
    }

    /** Blocks every statement whose literal-free text mentions {@code word}. */
    public static StatementFilter denyMentioning(String word) {
        return ctx -> ctx.statement().normalized().contains(word)
                ? CompletableFuture.completedFuture(deny(word))
                : Verdict.allowNow();
    }

    /** Same decision, but answered later from another thread, as an approval or lookup would. */
    public static StatementFilter denyMentioningAsync(String word, long delayMillis) {
        Executor later = CompletableFuture.delayedExecutor(delayMillis, TimeUnit.MILLISECONDS);
        return ctx -> CompletableFuture.supplyAsync(() -> ctx.statement().normalized().contains(word)
                ? deny(word) : Verdict.allow(), later);
    }

    public static Verdict deny(String word) {
        return Verdict.deny("test-policy", "no-" + word, "mentions " + word,
                PgError.error(PgError.INSUFFICIENT_PRIVILEGE,
                        "dbwarden: statement blocked by rule \"no-" + word + "\" of policy \"test-policy\"",
                        null, "Ask the platform team."));
    }
}
