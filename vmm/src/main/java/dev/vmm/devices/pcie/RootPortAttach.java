package dev.vmm.devices.pcie;

import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.chipset.q35.PcieRootPort;
import dev.vmm.config.ConfigException;
import dev.vmm.config.pci.RootPortSpec;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;

/**
 * {@code --pcie-root-port}: a {@link PcieRootPort} on the root bus whose secondary bus is known as
 * the port's id, so {@code bus=ID} puts a device in its slot (device 0 of the secondary bus, the only
 * one a PCIe link has) as a PCI Express endpoint. Nothing on the host side to open.
 */
public final class RootPortAttach implements PendingDevice {
    private final RootPortSpec spec;
    private final int physicalSlot;
    private PcieRootPort port;

    /** @param physicalSlot the slot number the port reports (the spec's, or one chosen for it) */
    public RootPortAttach(RootPortSpec spec, int physicalSlot) {
        this.spec = spec;
        this.physicalSlot = physicalSlot;
    }

    /** The port once placed (attach or dry run), else null. */
    public PcieRootPort port() { return port; }

    public RootPortSpec spec() { return spec; }

    @Override
    public void attach(AttachContext ctx) {
        place(ctx.pci(), null);
        ctx.registry().qdevId(port.bridge(), spec.id());
    }

    /** Root ports are placed by themselves; the dry run's stand-in function is not used. */
    @Override
    public void place(PciPlacement pci, PciDevice standIn) {
        if (!"pcie.0".equals(pci.rootName())) throw new ConfigException("--pcie-root-port needs --machine q35");
        port = new PcieRootPort(physicalSlot, spec.port());
        pci.at(spec.target(), () -> pci.place(port.bridge()));
        pci.addBus(spec.id(), new Slot(port));
    }

    @Override
    public String describe() {
        return "pcie-root-port id=" + spec.id() + " chassis=" + spec.chassis() + " slot=" + physicalSlot;
    }

    @Override
    public void close() { }

    /** The port's secondary bus as a place for one PCI Express endpoint (hot-plug finds the port here). */
    public record Slot(PcieRootPort port) implements PciPlacement.Downstream {
        @Override
        public PciBus bus() { return port.bridge().secondaryBus(); }

        @Override
        public boolean express() { return true; }

        @Override
        public PciFunction plug(int slot, int fn, PciDevice dev) {
            if (slot > 0 || fn > 0) {
                throw new ConfigException(String.format("PCI: slot %x function %x not available for %s, reserved for PCIe devices"
                        + " (a root port has one slot: addr=0)", slot, fn, dev.name()));
            }
            if (port.occupied()) {
                throw new ConfigException("PCI: slot 0 function 0 not available for " + dev.name() + ", in use by "
                        + port.bridge().secondaryBus().function(0, 0).device().name());
            }
            return port.plug(dev);
        }
    }
}
