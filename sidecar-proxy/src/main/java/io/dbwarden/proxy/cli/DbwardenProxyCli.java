package io.dbwarden.proxy.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code dbwarden-proxy}: the standalone entry point. {@code run} serves, {@code check} and {@code validate} test
 * policies offline (for GitOps pipelines).
 */
@Command(name = "dbwarden-proxy", mixinStandardHelpOptions = true, versionProvider = DbwardenProxyCli.Version.class,
        description = "Identity-aware PostgreSQL proxy: policy, audit and guardrails for every statement.",
        subcommands = {RunCommand.class, CheckCommand.class, ValidateCommand.class, VerifyCommand.class})
public final class DbwardenProxyCli implements Runnable {
    /** Exit code for an invalid policy file (sysexits EX_DATAERR). */
    public static final int EXIT_INVALID_POLICY = 65;
    /** Exit code for bad arguments (sysexits EX_USAGE). */
    public static final int EXIT_USAGE = 64;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new DbwardenProxyCli());
        cl.setExitCodeExceptionMapper(e -> e instanceof IllegalArgumentException ? EXIT_USAGE : 1);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // a file error the code did not wrap says more with the problem than with the path alone
            cmd.getErr().println("dbwarden-proxy: " + (e instanceof java.nio.file.FileSystemException f
                    ? "cannot use " + f.getFile() + ": " + io.dbwarden.proxy.config.ConfigFiles.describe(f)
                    : e.getMessage()));
            return e instanceof IllegalArgumentException ? EXIT_USAGE : 1;
        });
        return cl;
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand: run, check or validate");
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = DbwardenProxyCli.class.getPackage().getImplementationVersion();
            return new String[]{"dbwarden-proxy " + (v == null ? "development build" : v)};
        }
    }
}
