package dev.vmm.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** The {@code vmm} command: subcommands, and with none, boots the built-in demo guest. */
@Command(name = "vmm", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "A KVM virtual machine monitor written in Java.",
        subcommands = {RunCommand.class, SnapshotCommand.class, dev.vmm.cli.img.ImgCommand.class,
                dev.vmm.cpu.CpuidCommand.class, dev.vmm.cli.nbd.NbdCommand.class})
public final class VmmCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        return new RunCommand().withDefaults().call();
    }
}
