package dev.vmm.cli.model;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * A picocli {@link CommandLine} for a command object, from the model generated at compile time from
 * the command's annotations ({@code GeneratedCommandModels}, by dev.vmm.cli.codegen.CommandModelProcessor)
 * when it has one, else built by picocli's reflection. Reading the annotations at run time spun
 * annotation proxy classes on every start, ~20 % of a dry run's CPU (issue 19, docs/benchmarks.md).
 */
public final class CommandLines {
    private CommandLines() {}

    public static CommandLine of(Object command) {
        CommandSpec spec = GeneratedCommandModels.spec(command);
        return new CommandLine(spec != null ? spec : command);
    }
}
