package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;

import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/** Our server as a separate process (as {@code vmm nbd -t --socket}), so a test can SIGKILL it. */
public final class NbdServeMain {
    private NbdServeMain() {}

    public static void main(String[] args) throws Exception {
        BlockDevice d = Images.open(Path.of(args[0]), Images.Options.readWriteDefaults());
        new NbdServer(UnixDomainSocketAddress.of(Path.of(args[1])), NbdExport.of("", d), 8, true, System.err::println).serve();
    }
}
