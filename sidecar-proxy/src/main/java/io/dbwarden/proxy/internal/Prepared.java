package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;

/**
 * A statement the client prepared with Parse (or a portal bound to it), with the verdict it got and the filter chain's
 * {@link io.dbwarden.proxy.filter.FilterChain#version() version} read before that verdict was asked for: an Execute
 * under another version (a policy reloaded, the audit log unable to record) judges the statement again.
 */
record Prepared(StatementInfo statement, Verdict verdict, long chainVersion) {
}
