package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import io.dbwarden.proxy.admin.ProxyMetrics;
import io.dbwarden.proxy.masking.MaskingFilter;
import io.dbwarden.proxy.masking.MaskingRules;
import io.dbwarden.proxy.policy.CompiledPolicy;
import io.dbwarden.proxy.policy.PolicyEngine;
import io.dbwarden.proxy.policy.PolicyFilter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Applies changes of the standalone policy file without a restart: the file is re-read periodically and, when its
 * content changed and validates, the new policy (rules and masking) applies to every session from its next
 * statement. An invalid file never replaces the policy in force: the error is logged and counted, and the last
 * good policy keeps being enforced.
 */
final class PolicyReloader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PolicyReloader.class);

    private final Path file;
    private final String identity;
    private final byte[] hashKey;
    private final PolicyFilter policyFilter;
    private final MaskingFilter maskingFilter;
    private final ProxyMetrics metrics;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "dbwarden-policy-reload");
        t.setDaemon(true);
        return t;
    });
    private byte[] lastDigest;

    PolicyReloader(Path file, byte[] initialContent, String identity, byte[] hashKey, PolicyFilter policyFilter,
                   MaskingFilter maskingFilter, ProxyMetrics metrics) {
        this.file = file;
        this.identity = identity;
        this.hashKey = hashKey;
        this.policyFilter = policyFilter;
        this.maskingFilter = maskingFilter;
        this.metrics = metrics;
        this.lastDigest = initialContent == null ? null : digest(initialContent);
    }

    static MaskingRules masking(List<DatabaseAccessPolicy> policies, String identity, byte[] hashKey) {
        return MaskingRules.compile(policies.stream().filter(p -> CompiledPolicy.of(p).appliesTo(identity)).toList(),
                identity, hashKey);
    }

    void start(long periodMillis) {
        if (periodMillis > 0 && file != null) {
            timer.scheduleWithFixedDelay(this::checkNow, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
        }
    }

    synchronized void checkNow() {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (IOException e) {
            LOG.error("cannot read policy file, keeping the policy in force: file={} error={}", file, e.toString());
            metrics.policyReloadFailed();
            return;
        }
        byte[] d = digest(content);
        if (Arrays.equals(d, lastDigest)) {
            return;
        }
        lastDigest = d; // a broken file is reported once, not every period
        apply(new String(content, StandardCharsets.UTF_8), file.toString());
    }

    /** Validates and applies a policy document stream; returns false (policy in force unchanged) when it is invalid. */
    synchronized boolean apply(String yaml, String source) {
        try {
            List<DatabaseAccessPolicy> policies = yaml.isBlank() ? List.of() : PolicyLoader.parse(yaml, source);
            PolicyEngine engine = PolicyEngine.of(policies, identity);
            MaskingRules rules = masking(policies, identity, hashKey);
            policyFilter.update(engine);
            maskingFilter.update(rules);
            metrics.policyReloaded();
            LOG.info("policy applied: source={} policies={} applicable={} masking={}", source, policies.size(),
                    engine.applicable().size(), !rules.isEmpty());
            return true;
        } catch (PolicyLoader.PolicyException | IllegalArgumentException e) {
            metrics.policyReloadFailed();
            LOG.error("policy from {} is invalid; the previous policy stays in force: {}", source, e.getMessage());
            return false;
        }
    }

    private static byte[] digest(byte[] content) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(content);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
