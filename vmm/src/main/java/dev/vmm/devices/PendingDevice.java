package dev.vmm.devices;

/**
 * A device whose host side is open (image files probed and locked, tap created, socket bound) but
 * which is not yet part of a machine. Opening happens before {@code /dev/kvm} is touched, so every
 * mistake in what the user gave is found on any host and reported as the user's; {@link #attach}
 * then creates the device model and puts it on the machine.
 */
public interface PendingDevice extends AutoCloseable {
    /** Creates the device model, places it on the bus and registers it (QMP name, stats, close order). */
    void attach(AttachContext ctx);

    /**
     * What the device is, for {@code vmm run --dry-run}: its QEMU-style driver name and what it was
     * opened on, e.g. {@code virtio-blk-pci disk.qcow2 (qcow2, 2 queues)}.
     */
    String describe();

    /**
     * Puts this device's PCI function on the machine: the next free slot, unless the device has a
     * fixed address (the ICH9 AHCI at 00:1f.2). {@code vmm run --dry-run} places its stand-in here too.
     */
    default void place(PciPlacement pci, dev.vmm.chipset.pci.PciDevice function) {
        pci.place(function);
    }

    /**
     * The boot sources of this device that carry a {@code bootindex} (firmware boot order), relative
     * to the PCI function it is placed on; none by default.
     */
    default java.util.List<dev.vmm.firmware.BootSource> bootSources() {
        return java.util.List.of();
    }

    /**
     * The {@code id=} a start-up device was given, by which QMP {@code device_del} may remove it
     * (QEMU's qdev id; issue 15), or null. Attached through {@code dev.vmm.hotplug.ColdPlug}.
     */
    default String qdevId() { return null; }

    /** QEMU's driver name of the device {@link #qdevId} names (e.g. {@code virtio-blk-pci}). */
    default String qdevDriver() { return null; }

    /** Releases the host side of a device that was never attached (the build failed before it). */
    @Override
    void close();
}
