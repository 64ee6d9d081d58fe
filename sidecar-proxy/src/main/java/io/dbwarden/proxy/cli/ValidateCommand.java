package io.dbwarden.proxy.cli;

import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;
import io.dbwarden.api.validation.PolicyLoader;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code dbwarden-proxy validate FILE...}: the validation the proxy and the operator run on load. */
@Command(name = "validate", mixinStandardHelpOptions = true,
        description = "Validate DatabaseAccessPolicy YAML files; prints every problem, exit code 65 if any.")
public final class ValidateCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", description = "Policy files.")
    List<Path> files;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        int exit = 0;
        for (Path f : files) {
            try {
                List<DatabaseAccessPolicy> policies = PolicyLoader.load(f);
                spec.commandLine().getOut().println(f + ": ok (" + policies.size() + " "
                        + (policies.size() == 1 ? "policy" : "policies") + ")");
            } catch (PolicyLoader.PolicyException e) {
                spec.commandLine().getErr().println(e.getMessage());
                exit = DbwardenProxyCli.EXIT_INVALID_POLICY;
            }
        }
        spec.commandLine().getOut().flush();
        return exit;
    }
}
