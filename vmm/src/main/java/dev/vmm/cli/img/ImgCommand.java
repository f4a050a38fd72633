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

    /**
     * A new instance of the subcommand called {@code name} (as in {@code subcommands} above), or null.
     * {@code vmm img info ...} builds only that subcommand's picocli model: building the parent's
     * builds every subcommand's, by reflection, half of an img info's CPU time (#19).
     */
    public static Object subcommand(String name) {
        return switch (name) {
            case "info" -> new ImgInfo();
            case "create" -> new ImgCreate();
            case "convert" -> new ImgConvert();
            case "check" -> new ImgCheck();
            case "map" -> new ImgMap();
            default -> null;
        };
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
