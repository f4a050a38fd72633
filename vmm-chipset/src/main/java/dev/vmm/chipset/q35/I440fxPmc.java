package dev.vmm.chipset.q35;

import dev.vmm.chipset.pci.BarlessFunction;
import dev.vmm.chipset.pci.PciConfigSpace;

/**
 * The i440FX PCI and memory controller (8086:1237) as host function 00:00.0 of the {@code pc}
 * machine, with its PAM registers at 0x59-0x5F ({@link PamRegisters}) for firmware shadowing.
 * SMRAM (0x72, power-on 0x02) stores its control bits without effect: there is no SMM.
 * Use it with {@code new PciHostBridge(root, new I440fxPmc())}.
 */
public final class I440fxPmc extends BarlessFunction {
    public static final int VENDOR_ID = 0x8086, DEVICE_ID = 0x1237, CLASS_CODE = 0x060000;
    public static final int PAM0 = 0x59, SMRAM = 0x72;

    private final PamRegisters pam = new PamRegisters();

    public I440fxPmc() {
        super(PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, 0x02), "i440fx-pmc");
        config.setWord(PciConfigSpace.COMMAND, PciConfigSpace.COMMAND_MEMORY);
        config.setWritable(PciConfigSpace.COMMAND, 2, 0);
        // As QEMU's i440FX: the device-specific area is plain storage (PAM reserved bits kept, not decoded).
        for (int off = 0x40; off < 0x100; off += 4) config.setWritable(off, 4, 0xFFFF_FFFF);
        config.setWritable(SMRAM, 1, 0x78);   // stored only: no SMM
        config.addWriteListener(PAM0, PamRegisters.COUNT, (o, s) -> {
            for (int i = 0; i < PamRegisters.COUNT; i++) pam.write(i, config.read(PAM0 + i, 1));
        });
        config.setByte(SMRAM, 0x02);
    }

    public PamRegisters pam() { return pam; }
}
