package io.dbwarden.proxy.approval;

import io.dbwarden.proxy.filter.StatementContext;
import io.dbwarden.proxy.filter.Verdict;
import io.dbwarden.proxy.policy.CompiledPolicy;

import java.util.concurrent.CompletionStage;

/**
 * Turns a statement held by a requireApproval rule into a final verdict: allowed when an approval for exactly this
 * statement and identity exists (and is consumed), otherwise denied with an error that names the request. Must
 * fail closed: an unreachable service denies.
 */
public interface ApprovalService {
    CompletionStage<Verdict> request(StatementContext context, Verdict held, CompiledPolicy policy);
}
