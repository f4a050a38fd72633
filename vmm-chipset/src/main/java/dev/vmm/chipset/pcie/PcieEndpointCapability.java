package dev.vmm.chipset.pcie;

import dev.vmm.chipset.pci.PciConfigSpace;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The capabilities that make a function a PCI Express endpoint below a root port, in the shape
 * QEMU 7.2 gives its virtio-pci functions on a PCIe port (checked against QEMU by
 * {@code PcieEndpointQemuOracleTest}): a PCI Express capability (id 0x10) version 2, device/port
 * type "PCI Express Endpoint", role-based error reporting, a x1 link at 2.5 GT/s with ASPM L0s
 * support and the link up, device capabilities 2 with the extended fmt field and end-end TLP prefix
 * bits, only the error reporting enables and common clock/extended synch writable; and a Power Management capability (id 0x01) version 3 whose power state the driver may set.
 *
 * <p>One deliberate difference: QEMU also advertises Function Level Reset; this model has no FLR,
 * so it does not claim it (an OS would otherwise try it and find the device unchanged).
 *
 * <p>The function's config space must be the 4 KiB kind ({@link PciConfigSpace#expressEndpoint}),
 * so the extended space at 0x100 is there (empty: its first dword reads 0, as QEMU's).
 */
public final class PcieEndpointCapability {
    public static final int EXP_CAP_ID = 0x10, PM_CAP_ID = 0x01;
    /** Size of a version 2 PCI Express capability, header included. */
    public static final int EXP_CAP_SIZE = 0x3c;
    public static final int PORT_TYPE_ENDPOINT = 0;
    static final int DEVCAP = 0x04, DEVCTL = 0x08, DEVSTA = 0x0a, LNKCAP = 0x0c, LNKCTL = 0x10, LNKSTA = 0x12,
            DEVCAP2 = 0x24, DEVCTL2 = 0x28, LNKCTL2 = 0x30;

    private PcieEndpointCapability() {}

    /** Adds both capabilities to {@code config}; returns the PCI Express capability's offset. */
    public static int install(PciConfigSpace config) {
        if (config.size() != PciConfigSpace.EXTENDED_SIZE) {
            throw new IllegalArgumentException("a PCI Express endpoint needs the 4 KiB config space");
        }
        ByteBuffer body = capRelative(EXP_CAP_SIZE), mask = capRelative(EXP_CAP_SIZE), w1c = capRelative(EXP_CAP_SIZE);
        body.putShort(0x02, (short) (2 | PORT_TYPE_ENDPOINT << 4));           // version 2, endpoint
        body.putInt(DEVCAP, 1 << 15);                                         // role-based error reporting, MPS 128
        mask.putShort(DEVCTL, (short) 0x000f);                                // error reporting enables (as QEMU; no FLR)
        w1c.putShort(DEVSTA, (short) 0x000f);
        body.putInt(LNKCAP, 1 | 1 << 4 | 1 << 10);                            // 2.5 GT/s, x1, ASPM L0s
        mask.putShort(LNKCTL, (short) 0x00c0);                                // common clock, extended synch (as QEMU)
        body.putShort(LNKSTA, (short) (1 | 1 << 4));                          // negotiated 2.5 GT/s x1
        body.putInt(DEVCAP2, 1 << 20 | 1 << 21);                              // extended fmt field, end-end TLP prefix
        // DEVCTL2 and LNKCTL2 are read-only, as QEMU's.
        int exp = config.addCapability(EXP_CAP_ID, trim(body), trim(mask), trim(w1c));

        ByteBuffer pm = capRelative(8), pmMask = capRelative(8);
        pm.putShort(0x02, (short) 3);                                         // PMC: version 3, no PME, no D1/D2
        pmMask.putShort(0x04, (short) 0x0003);                                // PMCSR power state D0..D3hot
        config.addCapability(PM_CAP_ID, trim(pm), trim(pmMask));
        return exp;
    }

    private static ByteBuffer capRelative(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The capability body without the two header bytes the config space writes itself. */
    private static byte[] trim(ByteBuffer capRelative) {
        return java.util.Arrays.copyOfRange(capRelative.array(), 2, capRelative.capacity());
    }
}
