package dev.vmm.chipset.acpi.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.q35.PcieRootPort;
import java.util.HashSet;
import java.util.Set;

/**
 * Jazzer target for the hot-plug registers as a hostile guest drives them, interleaved with host
 * plug/unplug requests: the ACPI CPU hot-plug block (any offset, width, value) and a root port's
 * slot control/status. Findings: an exception out of a device, a CPU ejected that the host never
 * asked to remove, status bits outside the defined ones, a slot ejected without a device in it.
 * Without JAZZER_FUZZ the seed corpus under src/test/resources replays as a regression test;
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=HotplugRegistersFuzzTest} fuzzes.
 */
class HotplugRegistersFuzzTest {
    static final class Dev implements PciDevice {
        final PciConfigSpace config = PciConfigSpace.expressEndpoint(0x1af4, 0x1042, 0x010000, 1);
        public PciConfigSpace configSpace() { return config; }
        public long barRead(int bar, long offset, int size) { return -1; }
        public void barWrite(int bar, long offset, int size, long value) { }
    }

    @FuzzTest(maxDuration = "60s")
    void registers(FuzzedDataProvider data) {
        Set<Integer> released = new HashSet<>();
        AcpiCpuHotplug cpus = new AcpiCpuHotplug(new long[] {0, 1, 2, 3}, 1, index -> {
            if (!released.remove(index)) throw new AssertionError("CPU " + index + " ejected without device_del");
        });
        PcieRootPort rp = new PcieRootPort(1, 0);
        int[] ejectedSlots = {0};
        rp.slotListener(d -> ejectedSlots[0]++);
        int exp = rp.expressCapability();
        for (int step = 0; step < 128 && data.remainingBytes() > 0; step++) {
            switch (data.consumeInt(0, 6)) {
                case 0 -> cpus.write(data.consumeInt(-2, AcpiCpuHotplug.SIZE + 2), width(data), data.consumeLong());
                case 1 -> {
                    cpus.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, data.consumeInt(0, 5));
                    long st = cpus.read(AcpiCpuHotplug.FLAGS_OFFSET, 1);
                    if ((st & ~0x17L) != 0) throw new AssertionError("undefined status bits 0x" + Long.toHexString(st));
                }
                case 2 -> {
                    int i = data.consumeInt(0, 3);
                    if (!cpus.isPresent(i)) cpus.plug(i);
                    else { cpus.requestUnplug(i); released.add(i); }
                }
                case 3 -> {
                    int w = Math.min(4, width(data));   // config accesses are 1, 2 or 4 bytes
                    rp.bridge().configWrite(exp + data.consumeInt(0x14, 0x1c), w, data.consumeInt());
                }
                case 4 -> {
                    if (!rp.occupied()) rp.hotPlug(new Dev());
                    else rp.pressAttentionButton();
                }
                case 5 -> cpus.read(data.consumeInt(-2, AcpiCpuHotplug.SIZE + 2), width(data));
                default -> {
                    int before = ejectedSlots[0];
                    boolean occupied = rp.occupied();
                    rp.bridge().configWrite(exp + PcieRootPort.EXP_SLTCTL, 2, data.consumeInt(0, 0xffff));
                    if (ejectedSlots[0] != before && !occupied) throw new AssertionError("empty slot ejected");
                }
            }
        }
    }

    /**
     * The pc PCI hot-plug block (PIIX4, 0xae00) under any guest access interleaved with host plug and
     * unplug requests. Findings: an exception, a fixed slot (host bridge, bridge) ejected, an eject
     * reported for an empty slot, a "requested" eject the host never asked for.
     */
    @FuzzTest(maxDuration = "60s")
    void piix4PciHotplug(FuzzedDataProvider data) {
        int[] occupied = {0};
        int[] requested = {0};
        dev.vmm.chipset.acpi.Piix4PciHotplug hp = new dev.vmm.chipset.acpi.Piix4PciHotplug((slot, asked) -> {
            if (slot == 0 || slot == 5) throw new AssertionError("fixed slot " + slot + " ejected");
            if ((occupied[0] & 1 << slot) == 0) throw new AssertionError("empty slot " + slot + " ejected");
            if (asked != ((requested[0] & 1 << slot) != 0)) throw new AssertionError("slot " + slot + " requested=" + asked);
            occupied[0] &= ~(1 << slot);
            requested[0] &= ~(1 << slot);
        });
        hp.fixedSlot(0);
        hp.fixedSlot(5);
        for (int step = 0; step < 128 && data.remainingBytes() > 0; step++) {
            int slot = data.consumeInt(1, 31);
            switch (data.consumeInt(0, 3)) {
                case 0 -> hp.write(data.consumeInt(-2, dev.vmm.chipset.acpi.Piix4PciHotplug.SIZE + 2), width(data), data.consumeLong());
                case 1 -> hp.read(data.consumeInt(-2, dev.vmm.chipset.acpi.Piix4PciHotplug.SIZE + 2), width(data));
                default -> {
                    if (slot == 5) continue;
                    if ((occupied[0] & 1 << slot) == 0) {
                        hp.plug(slot);
                        occupied[0] |= 1 << slot;
                    } else {
                        hp.requestUnplug(slot);
                        requested[0] |= 1 << slot;
                    }
                }
            }
        }
    }

    private static int width(FuzzedDataProvider data) {
        return new int[] {1, 2, 4, 8}[data.consumeInt(0, 3)];
    }
}
