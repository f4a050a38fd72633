package dev.vmm;

import dev.vmm.error.UserFixable;
import dev.vmm.cli.VmmCommand;
import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.kvm.KvmUnavailableException;
import picocli.CommandLine;

import java.io.UncheckedIOException;

/**
 * Entry point of the {@code vmm} binary. Every error the user can cause or fix is one line on
 * stderr: exit status 2 for usage (arguments, files, kernels), 1 for host problems (no KVM).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        // Device warnings (System.Logger → java.util.logging) as one line each, like every other
        // message of the binary, instead of JUL's two-line default with a timestamp and source.
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "vmm: %4$s: %5$s%6$s%n");
        }
        System.exit(run(args));
    }

    public static int run(String... args) {
        for (String a : args) {
            if (a.equals("--trace-startup")) dev.vmm.startup.StartupTrace.enable();
        }
        // "vmm --kernel K ..." means "vmm run --kernel K ...": run is the default subcommand.
        if (args.length > 0 && args[0].startsWith("-") && !java.util.Set.of("-h", "--help", "-V", "--version").contains(args[0])) {
            String[] withRun = new String[args.length + 1];
            withRun[0] = "run";
            System.arraycopy(args, 0, withRun, 1, args.length);
            args = withRun;
        }
        // Building picocli's model of every subcommand costs hundreds of ms of reflection; a run needs
        // only its own. The whole tree is built for help, version and unknown words.
        CommandLine cl;
        Object sub = args.length == 0 ? null : switch (args[0]) {
            case "run" -> new dev.vmm.cli.RunCommand();
            case "img" -> new dev.vmm.cli.img.ImgCommand();
            case "snapshot" -> new dev.vmm.cli.SnapshotCommand();
            case "cpuid" -> new dev.vmm.cpu.CpuidCommand();
            case "nbd" -> new dev.vmm.cli.nbd.NbdCommand();
            default -> null;
        };
        Object imgSub = args.length > 1 && args[0].equals("img") ? dev.vmm.cli.img.ImgCommand.subcommand(args[1]) : null;
        if (imgSub != null) { // "vmm img info ...": that subcommand's model only (ImgCommand.subcommand)
            cl = dev.vmm.cli.model.CommandLines.of(imgSub);
            cl.setCommandName("vmm img " + args[1]);
            args = java.util.Arrays.copyOfRange(args, 2, args.length);
        } else if (sub != null) {
            cl = dev.vmm.cli.model.CommandLines.of(sub); // the compile-time model when there is one
            cl.setCommandName("vmm " + args[0]);
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        } else {
            cl = new CommandLine(new VmmCommand());
        }
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> handle(ex));
        cl.setParameterExceptionHandler((ex, a) -> {
            System.err.println("vmm: " + ex.getMessage() + " (see 'vmm " + subcommandName(ex) + "--help')");
            return 2;
        });
        return cl.execute(args);
    }

    private static String subcommandName(CommandLine.ParameterException ex) {
        String n = ex.getCommandLine().getCommandName();
        return n.equals("vmm") ? "" : n.replaceFirst("^vmm ", "") + " ";
    }

    static int handle(Exception ex) {
        // A user-fixable error may arrive wrapped (e.g. by a worker or a lambda): its own message is
        // the one line the user needs, whatever carried it here.
        for (Throwable t = ex; t != null; t = t.getCause()) {
            if (t instanceof UserFixable) {
                System.err.println("vmm: " + t.getMessage());
                return 2;
            }
        }
        if (ex instanceof KvmUnavailableException || ex instanceof NativeException || ex instanceof UncheckedIOException
                || ex instanceof dev.vmm.cli.RunCommand.IncomingFailed) {
            System.err.println("vmm: " + ex.getMessage());
            return 1;
        }
        if (ex instanceof IllegalArgumentException) {
            System.err.println("vmm: " + ex.getMessage());
            return 2;
        }
        System.err.println("vmm: internal error: " + ex);
        ex.printStackTrace();
        return 1;
    }
}
