package io.dbwarden.proxy.internal;

import io.dbwarden.proxy.filter.StatementInfo;
import io.dbwarden.proxy.filter.Verdict;

/** A statement the client prepared with Parse (or a portal bound to it), with the verdict it got at Parse. */
record Prepared(StatementInfo statement, Verdict verdict) {
}
