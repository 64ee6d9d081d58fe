package io.dbwarden.proxy.cli;

import io.dbwarden.proxy.config.ConfigFiles;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** The database the proxy connects to and how it logs in: shared by {@code run} and {@code check --upstream}. */
public final class UpstreamOptions {
    @Option(names = "--upstream", description = "Database host:port (run: default spec.database of the policy).")
    String upstream;

    @Option(names = "--upstream-database",
            description = "Database to connect to (run: default spec.database.name, else the client's).")
    String upstreamDatabase;

    @Option(names = "--upstream-user", description = "Role the proxy logs in as (run: default the client's user name).")
    String upstreamUser;

    @Option(names = "--upstream-user-file",
            description = "File holding the upstream role name (e.g. a mounted Secret key).")
    Path upstreamUserFile;

    @Option(names = "--upstream-password-file",
            description = "File holding the upstream password (or set DBWARDEN_UPSTREAM_PASSWORD).")
    Path upstreamPasswordFile;

    @Option(names = "--upstream-tls", description = "disable, prefer, require, verify-ca, verify-full "
            + "(run: default spec.database.sslMode; else prefer).")
    String upstreamTls;

    @Option(names = "--upstream-root-cert", description = "PEM CA bundle for verify-ca / verify-full.")
    Path upstreamRootCert;

    /** The role: from the file when one is given, else the option (null when neither). */
    String user() throws IOException {
        return upstreamUserFile != null ? ConfigFiles.readSecret(upstreamUserFile, "--upstream-user-file")
                : upstreamUser;
    }

    /** The password: from the file when one is given, else DBWARDEN_UPSTREAM_PASSWORD (null when neither). */
    String password() throws IOException {
        return upstreamPasswordFile != null ? ConfigFiles.readSecret(upstreamPasswordFile, "--upstream-password-file")
                : System.getenv("DBWARDEN_UPSTREAM_PASSWORD");
    }
}
