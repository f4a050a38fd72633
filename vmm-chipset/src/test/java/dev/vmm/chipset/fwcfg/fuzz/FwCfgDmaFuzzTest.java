package dev.vmm.chipset.fwcfg.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.chipset.fwcfg.FwCfgKeys;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;

/**
 * Jazzer target for the fw_cfg device as a hostile guest drives it: arbitrary guest RAM contents
 * (DMA descriptors), selector writes, data and DMA register accesses of any width and offset.
 * Findings: any exception out of the device, a DMA that leaves a control word other than 0 or the
 * error bit in a descriptor lying in RAM, or a read-only file changed. Without JAZZER_FUZZ the seed
 * corpus under src/test/resources replays as a regression test;
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=FwCfgDmaFuzzTest} fuzzes.
 */
class FwCfgDmaFuzzTest {
    static final long RAM0 = 0x2000, RAM1_BASE = 0x3000, RAM1 = 0x1000; // a hole at 0x2000-0x2fff

    @FuzzTest(maxDuration = "60s")
    void dma(FuzzedDataProvider data) {
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM0)),
                    new GuestRegion(1, RAM1_BASE, arena.allocate(RAM1))));
            byte[] init = data.consumeBytes((int) RAM0);
            memory.write(0, init);
            Bus pio = new Bus("pio");
            FwCfg fw = new FwCfg(memory);
            fw.registerPorts(pio);
            byte[] ro = new byte[300];
            Arrays.fill(ro, (byte) 0x5a);
            fw.addFile("etc/ro", ro);
            fw.addFile("etc/rw", new byte[16], true);
            fw.setItem(FwCfgKeys.NB_CPUS, new byte[] {2, 0});
            for (int step = 0; step < 64 && data.remainingBytes() > 0; step++) {
                switch (data.consumeInt(0, 4)) {
                    case 0 -> pio.write(0x510, 2, data.consumeInt(0, 0xffff));
                    case 1 -> pio.read(0x510 + data.consumeInt(0, 11), pick(data));
                    case 2 -> pio.write(0x510 + data.consumeInt(0, 11), pick(data), data.consumeLong());
                    case 3 -> {
                        // A well-formed trigger: descriptor address in two big-endian halves.
                        long desc = data.consumeBoolean() ? data.consumeLong(0, RAM1_BASE + RAM1) : data.consumeLong();
                        pio.write(0x514, 4, Integer.reverseBytes((int) (desc >>> 32)) & 0xffff_ffffL);
                        pio.write(0x518, 4, Integer.reverseBytes((int) desc) & 0xffff_ffffL);
                        if (memory.isValid(desc, 16)) {
                            int control = Integer.reverseBytes(memory.readU32(desc));
                            if (control != 0 && control != FwCfgKeys.DMA_ERROR)
                                throw new AssertionError("control word left as 0x" + Integer.toHexString(control));
                        }
                    }
                    default -> {
                        // Plant a descriptor in RAM: control, length, address (all big-endian).
                        long at = data.consumeLong(0, RAM0 - 16);
                        byte[] d = java.nio.ByteBuffer.allocate(16).putInt(data.consumeInt()).putInt(data.consumeInt(0, 0x5000))
                                .putLong(data.consumeLong(0, 0x5000)).array();
                        memory.write(at, d);
                    }
                }
            }
            if (!Arrays.equals(fw.file("etc/ro"), ro)) throw new AssertionError("read-only file changed");
            if (fw.file("etc/rw").length != 16) throw new AssertionError("writable file resized");
        }
    }

    private static int pick(FuzzedDataProvider data) {
        return new int[] {1, 2, 4, 8}[data.consumeInt(0, 3)];
    }
}
