package dev.vmm.cli.img;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;
import dev.vmm.block.qcow2.Qcow2Checker;
import dev.vmm.block.qcow2.Qcow2Image;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Exit codes as qemu-img check: 0 clean, 1 check failed, 2 corruptions, 3 leaks only, 63 format has no checks. */
@Command(name = "check", mixinStandardHelpOptions = true, description = "Check a qcow2 image's metadata for corruption and leaked clusters.")
final class ImgCheck implements Callable<Integer> {
    static final int OK = 0, FAILED = 1, CORRUPT = 2, LEAKS = 3, UNSUPPORTED = 63;

    @Spec CommandSpec spec;
    @Mixin ImageArgument image;

    @Override
    public Integer call() {
        return ImgSupport.guarded(spec.commandLine(), () -> {
            Images.Options o = image.readOnly(); // with the backing chain: a missing or unknown backing fails the check, as with qemu-img
            PrintWriter out = spec.commandLine().getOut();
            try (BlockDevice d = Images.open(image.file, o)) {
                image.confine(); // --chroot, --run-as, --sandbox: the image is open
                if (!(d instanceof Qcow2Image q)) {
                    ImgSupport.error(spec.commandLine(), "this image format (" + d.format() + ") does not support checks");
                    return UNSUPPORTED;
                }
                Qcow2Checker.Result r = q.check();
                for (String m : r.messages()) out.println(m);
                int rc;
                if (r.corruptions() > 0) {
                    out.println();
                    out.println(r.corruptions() + " errors were found on the image.");
                    out.println("Data may be corrupted, or further writes to the image may corrupt it.");
                    rc = CORRUPT;
                } else if (r.leaks() > 0) {
                    out.println();
                    out.println(r.leaks() + " leaked clusters were found on the image.");
                    out.println("This means waste of disk space, but no harm to data.");
                    rc = LEAKS;
                } else {
                    out.println("No errors were found on the image.");
                    rc = OK;
                }
                if (r.corruptions() > 0 && r.leaks() > 0) out.println(r.leaks() + " leaked clusters were found on the image.");
                long total = Math.max(1, r.totalClusters());
                out.printf(Locale.ROOT, "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters%n",
                        r.allocatedClusters(), r.totalClusters(), 100.0 * r.allocatedClusters() / total,
                        100.0 * r.fragmentedClusters() / Math.max(1, r.allocatedClusters()),
                        100.0 * r.compressedClusters() / Math.max(1, r.allocatedClusters()));
                out.println("Image end offset: " + r.imageEndOffset());
                out.flush();
                return rc;
            }
        });
    }
}
