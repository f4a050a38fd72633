package dev.vmm.devices;

import dev.vmm.config.ConfigException;
import dev.vmm.config.RngOptions;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.rng.VirtioRng;

import java.io.IOException;

/** {@code --rng}: a virtio-rng device fed from a host entropy source. */
final class VirtioRngAttach implements PendingDevice {
    private final VirtioRng rng;

    private VirtioRngAttach(VirtioRng rng) {
        this.rng = rng;
    }

    static VirtioRngAttach open(RngOptions o) {
        try {
            return new VirtioRngAttach(new VirtioRng(o.source(), o.rate()));
        } catch (IOException e) {
            throw new ConfigException("--rng: cannot open " + o.source() + ": " + e.getMessage());
        }
    }

    @Override
    public void attach(AttachContext ctx) {
        VirtioPciDevice pci = ctx.virtio().attach(rng, null);
        ctx.registry().statsFrom(() -> String.format("%s: status 0x%02x, %d bytes of entropy served%n", pci,
                pci.deviceStatus(), rng.bytesServed()));
        ctx.registry().closeLater(rng);
    }

    @Override
    public String describe() {
        return "virtio-rng-pci";
    }

    @Override
    public void close() {
        try {
            rng.close();
        } catch (IOException e) {
            System.err.println("vmm: warning: closing the rng source: " + e.getMessage());
        }
    }
}
