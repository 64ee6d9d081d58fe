package io.dbwarden.proxy.testing;

import io.dbwarden.proxy.cli.RunCommand;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The proxy as {@code dbwarden-proxy run} starts it, in front of {@link EmbeddedPg} as the SCRAM role (password from
 * a file in {@code dir}), enforcing a policy file, auditing to {@code dir/audit.jsonl}, without the admin endpoint.
 * {@code extraArgs} come last and may repeat one of these options to replace its value (for example {@code --audit}).
 */
public final class CliProxy {
    private CliProxy() {
    }

    public static RunCommand.Running start(Path dir, Path policy, String identity, String... extraArgs)
            throws Exception {
        Path pw = dir.resolve("pw");
        Files.writeString(pw, EmbeddedPg.PASSWORD);
        List<String> args = new ArrayList<>(List.of("--listen", "127.0.0.1:0", "--upstream",
                "127.0.0.1:" + EmbeddedPg.get().port(), "--upstream-database", EmbeddedPg.DATABASE, "--upstream-user",
                EmbeddedPg.SCRAM_USER, "--upstream-password-file", pw.toString(), "--upstream-tls", "disable",
                "--identity", identity, "--policy", policy.toString(), "--audit", dir.resolve("audit.jsonl").toString(),
                "--admin-listen", "none", "--warm-up-seconds", "0"));
        args.addAll(List.of(extraArgs));
        RunCommand cmd = new RunCommand();
        new CommandLine(cmd).setOverwrittenOptionsAllowed(true).parseArgs(args.toArray(String[]::new));
        return cmd.start();
    }

    /** A pgjdbc connection to the proxy as user "app" without TLS; {@code params} ("a=b&c=d") are added to the URL. */
    public static Connection connect(RunCommand.Running proxy, String params) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + proxy.server().port() + "/"
                + EmbeddedPg.DATABASE + "?sslmode=disable&user=app" + (params.isEmpty() ? "" : "&" + params));
    }
}
