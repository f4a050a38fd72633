package dev.vmm.devices;

import dev.vmm.chipset.legacy.PvpanicPci;
import dev.vmm.vcpu.VmExit;

/** {@code --pvpanic pci}: a guest panic reported through PCI ends the run like the ISA pvpanic's. */
final class PvpanicPciAttach implements PendingDevice {
    @Override
    public void attach(AttachContext ctx) {
        ctx.pci().place(new PvpanicPci(ev -> ctx.exits().accept(VmExit.pvpanic("pvpanic-pci", ev))));
    }

    @Override
    public String describe() {
        return "pvpanic-pci";
    }

    @Override
    public void close() { }
}
