package dev.vmm.cli.img;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code vmm img}: disk image utility in the spirit of qemu-img (info, create, convert, check, map). */
@Command(name = "img", mixinStandardHelpOptions = true,
        description = "Inspect, create, convert and check disk images (raw, qcow2; vhdx and vpc read-only).",
        subcommands = {ImgInfo.class, ImgCreate.class, ImgConvert.class, ImgCheck.class, ImgMap.class})
public final class ImgCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
