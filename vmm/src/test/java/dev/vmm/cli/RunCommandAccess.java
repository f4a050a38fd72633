package dev.vmm.cli;

/** Tests outside this package build a {@code vmm run} configuration as {@link RunCommand} does. */
public final class RunCommandAccess {
    private RunCommandAccess() {}

    public static dev.vmm.machine.MachineConfig config(RunCommand r) {
        return r.config();
    }
}
