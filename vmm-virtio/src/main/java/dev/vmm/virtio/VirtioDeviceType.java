package dev.vmm.virtio;

/** Virtio device ids (virtio 1.x, "Device Types"); PCI device id = 0x1040 + id. */
public final class VirtioDeviceType {
    private VirtioDeviceType() { }

    public static final int NET = 1;
    public static final int BLOCK = 2;
    public static final int CONSOLE = 3;
    public static final int ENTROPY = 4;
    public static final int BALLOON = 5;
    public static final int SCSI = 8;
    public static final int NINE_P = 9;
    public static final int GPU = 16;
    public static final int INPUT = 18;
    public static final int VSOCK = 19;
    public static final int CRYPTO = 20;
    public static final int IOMMU = 23;
    public static final int MEMORY = 24;
    public static final int FS = 26;
    public static final int PMEM = 27;
}
