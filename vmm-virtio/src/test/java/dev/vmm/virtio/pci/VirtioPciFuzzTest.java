package dev.vmm.virtio.pci;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Jazzer target for what a guest controls on a virtio-pci function: PCI configuration cycles of any
 * register, width and alignment (command, BARs and their sizing, the capability list, MSI-X
 * message control), and accesses to the BAR: common configuration (feature windows, queue
 * select/size/addresses/enable, status — so activation and reset run), ISR, device configuration,
 * notify and the MSI-X table and PBA. Mostly well-aimed (known offsets, natural widths), sometimes
 * anything. No access may throw; the IDs in configuration space must not change. Without
 * JAZZER_FUZZ the seeds replay (CI).
 */
class VirtioPciFuzzTest {
    static final long BAR_ADDRESS = 0xE000_0000L;
    private static final int[] WIDTHS = {1, 2, 4, 8};

    @FuzzTest(maxDuration = "60s")
    void accesses(FuzzedDataProvider data) {
        try (PciRig rig = new PciRig()) {
            int ids = rig.configRead(0, 4);
            VirtioPciLayout layout = rig.transport.layout();
            long[] windows = {VirtioPciLayout.COMMON_OFFSET, VirtioPciLayout.ISR_OFFSET, VirtioPciLayout.DEVICE_OFFSET,
                    layout.notifyOffset(), layout.msixTableOffset(), layout.msixPbaOffset()};
            if (data.consumeBoolean()) rig.mapBar(BAR_ADDRESS);
            for (int op = 0; op < 48 && data.remainingBytes() > 0; op++) {
                switch (data.consumeInt(0, 4)) {
                    case 0 -> {
                        int width = data.pickValue(new int[] {1, 2, 4});
                        int reg = data.consumeBoolean() ? data.consumeInt(0, 255) & ~(width - 1) : data.consumeInt(0, 255);
                        rig.configWrite(reg, width, data.consumeInt());
                    }
                    case 1 -> rig.configRead(data.consumeInt(0, 255), data.pickValue(new int[] {1, 2, 4}));
                    case 2 -> rig.mapBar(data.consumeBoolean() ? BAR_ADDRESS : data.consumeLong(0, 0xFFFF_FFFFL) & ~0xFFFL);
                    case 3 -> {
                        long off = data.consumeBoolean() ? data.pickValue(windows) + data.consumeInt(0, 0x40)
                                : data.consumeLong(0, layout.barSize() + 16);
                        int width = data.pickValue(WIDTHS);
                        rig.mmio.write(BAR_ADDRESS + off, width, data.consumeLong());
                    }
                    default -> {
                        long off = data.consumeBoolean() ? data.pickValue(windows) + data.consumeInt(0, 0x40)
                                : data.consumeLong(0, layout.barSize() + 16);
                        rig.mmio.read(BAR_ADDRESS + off, data.pickValue(WIDTHS));
                    }
                }
            }
            if (rig.configRead(0, 4) != ids) throw new AssertionError("vendor/device ID changed");
        }
    }
}
