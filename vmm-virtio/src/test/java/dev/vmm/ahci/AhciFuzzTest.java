package dev.vmm.ahci;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Jazzer target for what a guest controls on an AHCI port: port register writes, the command
 * header, the command table (FIS, ATAPI packet) and the PRD table, on a disk port or a CD-ROM port.
 * Any input must leave the device model without an exception, the command either completed or
 * failed with TFES, and the port usable after the guest's recovery (COMRESET, restart): a known
 * good command then succeeds. Without JAZZER_FUZZ this replays the seed corpus under
 * src/test/resources/dev/vmm/ahci/AhciFuzzTestInputs (CI); with {@code JAZZER_FUZZ=1 ./mvnw -pl
 * vmm-virtio -am test -Dtest=AhciFuzzTest} it fuzzes for maxDuration.
 *
 * <p>Input: flags (bit 0 CD-ROM port, bit 1 set PxSACT, bit 2 leave ST off), slot, register
 * write count (0-7) and that many (offset, int32) pairs, command header DW0, CTBA mode (0: valid
 * table; else 8 raw address bytes follow), 128 table bytes, then PRDs of 16 bytes (address folded
 * into twice the RAM size so that half land in RAM).
 */
class AhciFuzzTest {
    static final long RAM = 1 << 20;

    @FuzzTest(maxDuration = "60s")
    void commands(byte[] input) {
        exercise(input);
    }

    static void exercise(byte[] input) {
        List<RuntimeException> bugs = new CopyOnWriteArrayList<>();
        var previous = AhciPort.internalErrors;
        AhciPort.internalErrors = bugs::add;
        try {
            run(input);
        } finally {
            AhciPort.internalErrors = previous;
        }
        if (!bugs.isEmpty()) throw new AssertionError("exception inside the device model", bugs.get(0));
    }

    private static void run(byte[] input) {
        ByteBuffer in = ByteBuffer.wrap(Arrays.copyOf(input, Math.max(input.length, 200))).order(ByteOrder.LITTLE_ENDIAN);
        int flags = in.get() & 0xFF;
        boolean cd = (flags & 1) != 0;
        int slot = in.get() & 31;
        MemoryDisk disk = new MemoryDisk(new byte[64 << 10], false);
        MemoryDisk medium = new MemoryDisk(new byte[32 * 2048], true);
        try (TestRam ram = new TestRam(0, RAM)) {
            AhciController hba = new AhciController(ram.memory, AhciIo.inline(), (v, a, d) -> { }, Arrays.asList(
                    new AtaDisk(disk, AtaDisk.Config.of("F")), new AtapiCdrom(medium, "C")));
            AhciDriver driver = new AhciDriver(hba, ram.memory, 0x1000, RAM / 2);
            driver.resetHba();
            driver.enableInterrupts();
            AhciDriver.Port port = driver.port(cd ? 1 : 0);
            port.start();

            int writes = in.get() & 7;
            for (int i = 0; i < writes; i++) {
                int reg = in.get() & 0x7C;
                int value = in.getInt();
                if (reg == AhciPort.CI) continue; // the issue below is the one command
                port.reg(reg, value);
            }
            int dw0 = in.getInt();
            long table = port.tables[slot];
            if ((in.get() & 0xFF) != 0) table = in.getLong();
            byte[] head = new byte[128];
            in.get(head);
            int prds = Math.min(dw0 >>> 16, in.remaining() / 16);
            long header = port.clb + 32L * slot;
            ram.memory.writeU32(header, (dw0 & 0xFFFF) | prds << 16);
            ram.memory.writeU32(header + 4, 0);
            ram.memory.writeU32(header + 8, (int) table);
            ram.memory.writeU32(header + 12, (int) (table >>> 32));
            if (ram.memory.isValid(table, 0x80 + 16L * prds)) {
                ram.memory.write(table, head);
                for (int i = 0; i < prds; i++) {
                    long e = table + 0x80 + 16L * i;
                    ram.memory.writeU64(e, Long.remainderUnsigned(in.getLong(), 2 * RAM));
                    ram.memory.writeU32(e + 8, in.getInt());
                    ram.memory.writeU32(e + 12, in.getInt());
                }
            }
            if ((flags & 4) == 0) port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) | AhciPort.CMD_ST | AhciPort.CMD_FRE);
            if ((flags & 2) != 0) port.reg(AhciPort.SACT, 1 << slot);
            port.reg(AhciPort.CI, 1 << slot);
            if ((port.reg(AhciPort.CMD) & AhciPort.CMD_ST) != 0) {
                boolean done = (port.reg(AhciPort.CI) & 1 << slot) == 0 || (port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0;
                assertTrue(done, "the command completed or failed");
            }

            // The guest's recovery: COMRESET and a fresh start, then known-good commands.
            port.stopEngine();
            port.reg(AhciPort.SCTL, 0x301);
            port.reg(AhciPort.SCTL, 0x300);
            port.start();
            assertEquals(cd ? AtapiCdrom.SIGNATURE : AtaDisk.SIGNATURE, port.signature);
            long buf = driver.alloc(512, 512);
            AhciDriver.Result r = cd
                    ? port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_PACKET_DEVICE, 0, 0, 0, 0), false, new long[] {buf, 512}))
                    : port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 1, 1, 0, 0x40), false, new long[] {buf, 512}));
            assertFalse(r.failed(), "port usable after recovery: " + r);
        }
    }
}
