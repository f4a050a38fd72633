package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Physical region descriptors as AHCI 1.3.1 §4.2.3.3 defines them, seen through commands: DBA bit 0
 * is reserved (word alignment), DBC is 22 bits (bits 30:22 reserved) plus one, the I bit (31) raises
 * PxIS.DPS once the transfer reaches that entry (§3.3.5), and entries are guest-physical: one that
 * runs from one RAM region into the next is followed across, one that runs into a hole between
 * regions is a host bus fatal error (TFES + HBFS) with nothing of the guest's memory written past
 * RAM. Guest RAM here is two regions, [0, 16 MiB) and [16 MiB, 32 MiB) adjacent, then a hole to
 * 48 MiB and a third region [48 MiB, 52 MiB).
 */
@Timeout(60)
class AhciPrdTest {
    static final long MIB = 1 << 20;

    @Test
    void descriptorsAcrossRegionsAndHoles() {
        try (Arena arena = Arena.ofShared()) {
            GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(16 * MIB, 4096)),
                    new GuestRegion(1, 16 * MIB, arena.allocate(16 * MIB, 4096)), new GuestRegion(2, 48 * MIB, arena.allocate(4 * MIB, 4096))));
            byte[] data = new byte[1 << 20];
            for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 7 + (i >> 9));
            MemoryDisk disk = new MemoryDisk(data, false);
            AhciController hba = new AhciController(mem, AhciIo.inline(), (v, a, d) -> { },
                    Arrays.asList(new AtaDisk(disk, AtaDisk.Config.of("PRD"))));
            AhciDriver driver = new AhciDriver(hba, mem, 0x10000, 8 * MIB);
            driver.resetHba();
            AhciDriver.Port port = driver.port(0);
            port.start();
            byte[] fis = AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 2, 4, 0, 0x40);
            byte[] expected = Arrays.copyOfRange(data, 1024, 3072);

            // One entry from the end of region 0 into region 1: split and followed.
            long across = 16 * MIB - 1000;
            AhciDriver.Result r = port.issue(0, AhciDriver.Cmd.of(fis, false, new long[] {across, 2048}));
            assertFalse(r.failed(), r.toString());
            assertEquals(2048, r.prdbc());
            byte[] got = new byte[2048];
            mem.read(across, got, 0, 1000); // GuestMemory reads one region at a time
            mem.read(16 * MIB, got, 1000, 1048);
            assertArrayEquals(expected, got);

            // DBA bit 0 is reserved: an odd address is used as the even one below it.
            mem.slice(0x40_0000, 2050).fill((byte) 0);
            r = port.issue(1, AhciDriver.Cmd.of(fis, false, new long[] {0x40_0001, 2048}));
            assertFalse(r.failed());
            byte[] even = new byte[2048];
            mem.read(0x40_0000, even, 0, 2048);
            assertArrayEquals(expected, even);

            // DBC's reserved bits 30:22 are ignored: 2048 bytes with them all set.
            port.build(2, AhciDriver.Cmd.of(fis, false, new long[] {0x50_0000, 2048}));
            long entry = port.tables[2] + 0x80 + 12;
            mem.writeU32(entry, mem.readU32(entry) | 0x7FC0_0000);
            port.reg(AhciPort.IS, -1);
            port.reg(AhciPort.CI, 1 << 2);
            assertEquals(0, port.reg(AhciPort.IS) & AhciPort.IS_TFES, "DBC read as 22 bits");
            assertEquals(2048, mem.readU32(port.clb + 32 * 2 + 4));

            // The I bit: DPS once the transfer reaches the entry, not for an entry the transfer does not reach.
            r = port.issue(3, AhciDriver.Cmd.of(fis, false, new long[] {0x60_0000, 1024}, new long[] {0x60_1000, 1024, 1}));
            assertEquals(AhciPort.IS_DPS, r.is() & AhciPort.IS_DPS);
            byte[] one = AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 2, 2, 0, 0x40);
            r = port.issue(4, AhciDriver.Cmd.of(one, false, new long[] {0x60_0000, 1024}, new long[] {0x60_1000, 1024, 1}));
            assertFalse(r.failed());
            assertEquals(0, r.is() & AhciPort.IS_DPS, "the transfer ended before the entry with the I bit");
            r = port.issue(5, AhciDriver.Cmd.of(one, false, new long[] {0x60_0000, 1024, 1}));
            assertEquals(AhciPort.IS_DPS, r.is() & AhciPort.IS_DPS);
            // A failed command raises no DPS.
            r = port.issue(6, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 4096, 1, 0, 0x40), false,
                    new long[] {0x60_0000, 512, 1}));
            assertTrue(r.failed());
            assertEquals(0, r.is() & AhciPort.IS_DPS);
            port.recover();

            // Into the hole after region 1: host bus fatal, and region 1's bytes before the hole untouched.
            long intoHole = 32 * MIB - 1024;
            mem.slice(intoHole, 1024).fill((byte) 0x5A);
            r = port.issue(7, AhciDriver.Cmd.of(fis, false, new long[] {intoHole, 2048}));
            assertTrue(r.failed());
            assertEquals(AtaResult.ABRT, r.error());
            assertEquals(AhciPort.IS_TFES, r.is() & AhciPort.IS_TFES);
            assertEquals(0x5A, mem.readU8(intoHole + 1023), "nothing transferred");
            port.recover();
            // Starting in the hole.
            r = port.issue(8, AhciDriver.Cmd.of(fis, false, new long[] {40 * MIB, 2048}));
            assertTrue(r.failed());
            port.recover();
            // The third region works.
            r = port.issue(9, AhciDriver.Cmd.of(fis, false, new long[] {48 * MIB + 4096, 2048}));
            assertFalse(r.failed());
            mem.read(48 * MIB + 4096, got, 0, 2048);
            assertArrayEquals(expected, got);
            // A command table whose PRD table lies in the hole (the FIS just before it is in RAM): host bus fatal error.
            port.build(10, AhciDriver.Cmd.of(fis, false, new long[] {0x60_0000, 2048}));
            long table = 32 * MIB - 0x80;
            byte[] cfis = new byte[0x80];
            mem.read(port.tables[10], cfis, 0, 0x80);
            mem.write(table, cfis);
            mem.writeU32(port.clb + 32 * 10 + 8, (int) table);
            port.reg(AhciPort.IS, -1);
            port.reg(AhciPort.CI, 1 << 10);
            assertEquals(AhciPort.IS_TFES | AhciPort.IS_HBFS, port.reg(AhciPort.IS) & (AhciPort.IS_TFES | AhciPort.IS_HBFS));
            port.recover();
            // No PRDs for a data command: the transfer does not fit, aborted (no host bus error).
            r = port.issue(11, AhciDriver.Cmd.of(fis, false));
            assertTrue(r.failed());
            assertEquals(0, r.is() & AhciPort.IS_HBFS);
        }
    }
}
