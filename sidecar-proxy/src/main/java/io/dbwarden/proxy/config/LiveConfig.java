package io.dbwarden.proxy.config;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The proxy configuration in force, with the credentials that come from files kept current: the upstream role and
 * password ({@code --upstream-user-file}, {@code --upstream-password-file}) and the password clients must send
 * ({@code --client-password-file}). A rotated Secret (External Secrets, Vault, a manual {@code kubectl apply}) is
 * used from the next connection on, without a restart; connections already open are not touched. A file that cannot
 * be read or is empty leaves the value in force. Values are never logged.
 */
public final class LiveConfig implements Supplier<ProxyConfig> {
    private static final Logger LOG = LoggerFactory.getLogger(LiveConfig.class);

    private final Path upstreamUserFile;
    private final Path upstreamPasswordFile;
    private final Path clientPasswordFile;
    private volatile ProxyConfig current;

    public LiveConfig(ProxyConfig initial, Path upstreamUserFile, Path upstreamPasswordFile, Path clientPasswordFile) {
        this.current = Objects.requireNonNull(initial);
        this.upstreamUserFile = upstreamUserFile;
        this.upstreamPasswordFile = upstreamPasswordFile;
        this.clientPasswordFile = clientPasswordFile;
    }

    /** A configuration without credential files: never changes. */
    public static LiveConfig fixed(ProxyConfig config) {
        return new LiveConfig(config, null, null, null);
    }

    @Override
    public ProxyConfig get() {
        return current;
    }

    /** Whether some credential comes from a file that can change. */
    public boolean watchesFiles() {
        return upstreamUserFile != null || upstreamPasswordFile != null || clientPasswordFile != null;
    }

    /**
     * Re-reads the credential files.
     *
     * @return whether a credential changed
     */
    public synchronized boolean refresh() {
        ProxyConfig c = current;
        String user = read(upstreamUserFile, c.upstreamUser(), "--upstream-user-file");
        String password = read(upstreamPasswordFile, c.upstreamPassword(), "--upstream-password-file");
        String clientPassword = read(clientPasswordFile, c.clientPassword(), "--client-password-file");
        List<String> changed = new ArrayList<>();
        if (!Objects.equals(user, c.upstreamUser())) {
            changed.add("upstream user");
        }
        if (!Objects.equals(password, c.upstreamPassword())) {
            changed.add("upstream password");
        }
        if (!Objects.equals(clientPassword, c.clientPassword())) {
            changed.add("client password");
        }
        if (changed.isEmpty()) {
            return false;
        }
        current = c.withUpstreamCredentials(user, password)
                .withClientAuth(c.clientAuth(), clientPassword, c.allowRemoteTrust());
        LOG.info("credentials changed on disk, used from the next connection on: {}", String.join(", ", changed));
        return true;
    }

    private static String read(Path file, String inForce, String option) {
        if (file == null) {
            return inForce;
        }
        try {
            String value = readSecret(file);
            if (value.isEmpty()) {
                LOG.warn("{} {} is empty; keeping the value in force", option, file);
                return inForce;
            }
            return value;
        } catch (IOException e) {
            LOG.warn("cannot read {} {} ({}); keeping the value in force", option, file, ConfigFiles.describe(e));
            return inForce;
        }
    }

    /** A secret file's content without the one trailing newline editors and {@code echo} add. */
    public static String readSecret(Path file) throws IOException {
        String s = Files.readString(file);
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }
}
