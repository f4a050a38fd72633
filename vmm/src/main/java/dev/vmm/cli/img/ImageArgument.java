package dev.vmm.cli.img;

import dev.vmm.block.Images;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;

/**
 * The arguments every read-only {@code vmm img} command takes, as qemu-img spells them: the image,
 * its format ({@code -f}, probed otherwise) and {@code -U} to read an image another process holds.
 * A picocli mixin, so the commands declare them once.
 */
final class ImageArgument {
    @Option(names = {"-f", "--format"}, description = "image format (default: probed)") String format;
    @Option(names = {"-U", "--force-share"}, description = "do not lock the image (it may be in use)") boolean forceShare;
    @Parameters(index = "0", paramLabel = "FILE") Path file;
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.SandboxOption sandbox = dev.vmm.cli.sandbox.SandboxOption.defaultOn();
    @picocli.CommandLine.Mixin dev.vmm.cli.sandbox.PrivilegeOption privileges = new dev.vmm.cli.sandbox.PrivilegeOption();

    /**
     * Once the image (and its backing chain) is open: --chroot / --run-as, then --sandbox. The
     * commands read only through the open descriptors from here on.
     */
    void confine() {
        privileges.drop();
        sandbox.enter();
    }

    /** How to open the image read-only: the format given (or probed) and the lock unless {@code -U}. */
    Images.Options readOnly() {
        return Images.Options.readOnlyDefaults().withFormat(ImgSupport.format(format)).withLock(!forceShare);
    }
}
