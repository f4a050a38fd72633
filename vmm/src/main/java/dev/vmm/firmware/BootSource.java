package dev.vmm.firmware;

/**
 * A device the firmware may boot from, with the {@code bootindex=N} the user gave it: its
 * OpenFirmware node name as QEMU derives it from the PCI function ({@code scsi} for virtio-blk,
 * {@code ethernet} for virtio-net — the PCI class's name — or {@code pciVVVV,DDDD} for a class
 * without one, like the ICH9 AHCI) and the path below that node ({@code /disk@0,0},
 * {@code /ethernet-phy@0}, {@code /drive@2/disk@0}).
 */
public record BootSource(int bootIndex, String node, String suffix) {
    public BootSource {
        if (bootIndex < 0) throw new IllegalArgumentException("bootindex must not be negative");
    }

    /** virtio-blk-pci's disk. */
    public static BootSource virtioBlk(int bootIndex) { return new BootSource(bootIndex, "scsi", "/disk@0,0"); }

    /** virtio-net-pci's PXE. */
    public static BootSource virtioNet(int bootIndex) { return new BootSource(bootIndex, "ethernet", "/ethernet-phy@0"); }

    /** A disk or CD-ROM on port {@code port} of the ICH9 AHCI controller (8086:2922). */
    public static BootSource ahci(int bootIndex, int port) {
        return new BootSource(bootIndex, "pci8086,2922", "/drive@" + Integer.toHexString(port) + "/disk@0");
    }

    /**
     * usb-storage's disk on root hub port {@code port} of the xHCI controller (QEMU's
     * {@code /usb@S/storage@P/channel@0/disk@0,0}; SeaBIOS matches P against the port it found it on).
     */
    public static BootSource usbStorage(int bootIndex, int port) {
        return new BootSource(bootIndex, "usb", "/storage@" + Integer.toHexString(port) + "/channel@0/disk@0,0");
    }
}
