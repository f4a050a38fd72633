package dev.vmm.ahci;

import dev.vmm.chipset.pci.PciConfigSpace;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Register behaviour that AHCI 1.3.1 decides where QEMU 7.2 departs from it or has nothing to
 * compare (AhciPortQemuOracleTest compares the rest with QEMU): reserved address bits (§3.3.1,
 * §3.3.3), PxCI/PxSACT only while ST is set (§3.3.13, §3.3.14: software sets them with the engine
 * running; the HBA clears them when ST goes to 0), PxCMD.CCS (§3.3.7), COMRESET held (§3.3.11,
 * §10.4.2), the FIS area outside RAM (host bus fatal error, §3.3.5 HBFS), NCQ completion and failure
 * FISes (§5.3.8, SATA Set Device Bits FIS), PRDBC for queued commands (§4.2.2: not updated), access
 * widths of the ABAR and the ICH9 index/data pair, GHC, MSI and INTx, and snapshot field masks.
 */
@Timeout(60)
class AhciRegistersTest {
    static final int SECTORS = 2048;

    private AhciRig rig;
    private MemoryDisk disk;
    private AhciDriver.Port port;

    private void setUp() {
        disk = new MemoryDisk(new byte[SECTORS * 512], false);
        for (int i = 0; i < disk.data.length; i++) disk.data[i] = (byte) (i * 13 + (i >> 9));
        rig = new AhciRig(AhciIo.inline(), new AtaDisk(disk, AtaDisk.Config.of("R")), null, new AtapiCdrom(null, "C"));
        port = rig.startPort(0);
    }

    @AfterEach
    void tearDown() {
        if (rig != null) rig.close();
    }

    private AhciDriver.Cmd read(long buf, long lba, int sectors) {
        return AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, lba, sectors, 0, 0x40), false, new long[] {buf, sectors * 512L});
    }

    private long abar(int off, int size) { return rig.hba.barRead(AhciController.ABAR, off, size); }

    @Test
    void portRegistersFollowTheSpecification() {
        setUp();
        AhciDriver.Port p1 = rig.driver.port(1);
        // Reserved low bits of the address registers read 0; the upper halves hold any value.
        p1.reg(AhciPort.CLB, 0x1234_57FF);
        p1.reg(AhciPort.FB, 0x1234_57FF);
        p1.reg(AhciPort.CLBU, 0x89AB_CDEF);
        p1.reg(AhciPort.FBU, 0x0123_4567);
        assertEquals(0x1234_5400, p1.reg(AhciPort.CLB));
        assertEquals(0x1234_5700, p1.reg(AhciPort.FB));
        assertEquals(0x89AB_CDEF, p1.reg(AhciPort.CLBU));
        assertEquals(0x0123_4567, p1.reg(AhciPort.FBU));
        // Writing the low half keeps the high half and the other way round.
        p1.reg(AhciPort.CLB, 0x400);
        p1.reg(AhciPort.FB, 0x100);
        assertEquals(0x89AB_CDEF, p1.reg(AhciPort.CLBU));
        assertEquals(0x0123_4567, p1.reg(AhciPort.FBU));
        p1.reg(AhciPort.CLBU, 0);
        assertEquals(0x400, p1.reg(AhciPort.CLB));
        // PxCI and PxSACT are ignored while ST is 0.
        p1.reg(AhciPort.CI, -1);
        p1.reg(AhciPort.SACT, -1);
        assertEquals(0, p1.reg(AhciPort.CI));
        assertEquals(0, p1.reg(AhciPort.SACT));
        // Registers past SNTF (FBS, vendor) read 0; CMD's read-only bits are not writable.
        assertEquals(0, p1.reg(0x40));
        assertEquals(0, p1.reg(0x70));
        p1.reg(AhciPort.CMD, ~AhciPort.CMD_ST & ~AhciPort.CMD_FRE);
        assertEquals(AhciPort.CMD_SUD | AhciPort.CMD_POD | AhciPort.CMD_ATAPI | AhciPort.CMD_DLAE, p1.reg(AhciPort.CMD));
        // PxSNTF and PxSERR are write-1-to-clear and start at 0.
        p1.reg(AhciPort.SNTF, -1);
        p1.reg(AhciPort.SERR, -1);
        assertEquals(0, p1.reg(AhciPort.SNTF));
        assertEquals(0, p1.reg(AhciPort.SERR));
        // PxSCTL keeps its 12 defined bits.
        p1.reg(AhciPort.SCTL, 0xFFFF_F300);
        assertEquals(0x300, p1.reg(AhciPort.SCTL));
    }

    @Test
    void commandSlotAndComreset() {
        setUp();
        long buf = rig.buffer(512);
        // CCS names the slot the HBA issued last; clearing ST clears it with CR.
        port.issue(5, read(buf, 0, 1));
        assertEquals(5, port.reg(AhciPort.CMD) >>> AhciPort.CMD_CCS_SHIFT & 0x1F);
        port.issue(17, read(buf, 0, 1));
        assertEquals(17, port.reg(AhciPort.CMD) >>> AhciPort.CMD_CCS_SHIFT & 0x1F);
        port.stopEngine();
        assertEquals(0, port.reg(AhciPort.CMD) & (0x1F << AhciPort.CMD_CCS_SHIFT | AhciPort.CMD_CR));
        // The PxIS bit of the D2H FIS is write-1-to-clear; writing other bits leaves it.
        assertEquals(AhciPort.IS_DHRS, port.reg(AhciPort.IS) & AhciPort.IS_DHRS);
        port.reg(AhciPort.IS, ~AhciPort.IS_DHRS);
        assertEquals(AhciPort.IS_DHRS, port.reg(AhciPort.IS) & AhciPort.IS_DHRS);
        port.reg(AhciPort.IS, AhciPort.IS_DHRS);
        assertEquals(0, port.reg(AhciPort.IS));
        // COMRESET held with the engine running: the link is down, the device busy, ST and the slots dropped.
        port.startEngine();
        port.build(3, read(buf, 0, 1));
        port.reg(AhciPort.SCTL, 0x301);
        assertEquals(0, port.reg(AhciPort.SSTS));
        assertEquals(AtaResult.BSY, port.reg(AhciPort.TFD));
        assertEquals(0, port.reg(AhciPort.CMD) & (AhciPort.CMD_ST | AhciPort.CMD_CR));
        port.reg(AhciPort.CI, 1 << 3);
        assertEquals(0, port.reg(AhciPort.CI), "no commands while ST is off");
        // DET 1 written again changes nothing; DET 0 releases it: signature, reset status, D2H FIS, DHRS.
        rig.ram.memory.write(port.fb + Fis.RX_D2H, new byte[20]);
        port.reg(AhciPort.SCTL, 0x301);
        assertEquals(0, rig.read(port.fb + Fis.RX_D2H, 1)[0]);
        port.reg(AhciPort.SCTL, 0x300);
        assertEquals(AhciPort.SSTS_UP, port.reg(AhciPort.SSTS));
        assertEquals(0x130, port.reg(AhciPort.TFD));
        assertEquals(AtaDisk.SIGNATURE, port.reg(AhciPort.SIG));
        assertArrayEquals(new byte[] {0x34, 0x40, 0x30, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0},
                Arrays.copyOf(rig.read(port.fb + Fis.RX_D2H, 20), 14));
        assertEquals(AhciPort.IS_DHRS, port.reg(AhciPort.IS));
        // DET values other than 1 do not reset.
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.SCTL, 0x304);
        assertEquals(AhciPort.SSTS_UP, port.reg(AhciPort.SSTS));
        assertEquals(0, port.reg(AhciPort.IS));
        port.reg(AhciPort.SCTL, 0x300);
        assertEquals(0, port.reg(AhciPort.IS), "DET 4 → 0 is no COMRESET release");
        // The CD-ROM's COMRESET: packet signature, 70h.
        AhciDriver.Port cd = rig.driver.port(2);
        cd.reg(AhciPort.SCTL, 0x301);
        cd.reg(AhciPort.SCTL, 0x300);
        assertEquals(AtapiCdrom.SIGNATURE, cd.reg(AhciPort.SIG));
        assertEquals(0x170, cd.reg(AhciPort.TFD));
        // FRE set again after the signature: no second D2H FIS.
        port.stopEngine();
        port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) & ~AhciPort.CMD_FRE);
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) | AhciPort.CMD_FRE);
        assertEquals(0, port.reg(AhciPort.IS));
    }

    @Test
    void fisAreaAndQueuedCompletions() {
        setUp();
        long buf = rig.buffer(4096);
        // NCQ: the D2H FIS at acceptance has no I bit; the SDB FIS names the tag with the I bit; PRDBC untouched.
        port.build(4, AhciDriver.Cmd.of(AhciDriver.ncq(false, 4, 8, 2), false, new long[] {buf, 1024}));
        rig.ram.memory.writeU32(port.clb + 32 * 4 + 4, 0x5A5A_5A5A);
        rig.ram.memory.write(port.fb, new byte[256]);
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.SACT, 1 << 4);
        port.reg(AhciPort.CI, 1 << 4);
        assertEquals(0, port.reg(AhciPort.SACT));
        assertEquals(AhciPort.IS_SDBS, port.reg(AhciPort.IS), "SDBS alone: the acceptance FIS raises no DHRS");
        assertArrayEquals(new byte[] {0x34, 0, 0x50, 0}, Arrays.copyOf(rig.read(port.fb + Fis.RX_D2H, 20), 4));
        assertArrayEquals(new byte[] {(byte) 0xA1, 0x40, 0x50, 0, 0x10, 0, 0, 0}, rig.read(port.fb + Fis.RX_SDB, 8));
        assertEquals(0x5A5A_5A5A, rig.ram.memory.readU32(port.clb + 32 * 4 + 4), "PRDBC is not updated for queued commands");
        assertArrayEquals(Arrays.copyOfRange(disk.data, 8 * 512, 10 * 512), rig.read(buf, 1024));
        // Tags in every byte of the SDB FIS's SActive field (bits 7:0, 15:8, 23:16, 31:24).
        for (int tag : new int[] {9, 17, 31}) {
            port.build(tag, AhciDriver.Cmd.of(AhciDriver.ncq(false, tag, 8, 1), false, new long[] {buf, 512}));
            port.reg(AhciPort.SACT, 1 << tag);
            port.reg(AhciPort.CI, 1 << tag);
            byte[] sdb = rig.read(port.fb + Fis.RX_SDB, 8);
            assertEquals(1 << tag, (sdb[4] & 0xFF) | (sdb[5] & 0xFF) << 8 | (sdb[6] & 0xFF) << 16 | (sdb[7] & 0xFF) << 24, "tag " + tag);
        }
        // A failed queued command: SDB FIS with the error and no completed tag, TFES, the port halts with PxSACT kept.
        port.build(30, AhciDriver.Cmd.of(AhciDriver.ncq(false, 30, SECTORS, 1), false, new long[] {buf, 512}));
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.SACT, 1 << 30);
        port.reg(AhciPort.CI, 1 << 30);
        assertEquals(AhciPort.IS_TFES, port.reg(AhciPort.IS));
        assertArrayEquals(new byte[] {(byte) 0xA1, 0x40, 0x41, 0x04, 0, 0, 0, 0}, rig.read(port.fb + Fis.RX_SDB, 8));
        assertEquals(1 << 30, port.reg(AhciPort.SACT));
        assertEquals(0x441, port.reg(AhciPort.TFD));
        // Halted: another command waits in PxCI until recovery.
        port.build(0, read(buf, 0, 1));
        port.reg(AhciPort.CI, 1);
        assertEquals(1, port.reg(AhciPort.CI));
        port.recover();
        assertEquals(0, port.reg(AhciPort.SACT));
        // A non-queued command while a queued one is accepted is an error; here the simple case: nothing outstanding.
        assertFalse(port.issue(0, read(buf, 0, 1)).failed());
        // The FIS area outside RAM: the command completes, HBFS is set and nothing is written.
        port.stopEngine();
        port.reg(AhciPort.FB, (int) (AhciRig.RAM_SIZE + 0x1000));
        port.startEngine();
        AhciDriver.Result r = port.issue(1, read(buf, 1, 1));
        assertEquals(AhciPort.IS_HBFS, r.is() & AhciPort.IS_HBFS);
        assertEquals(0, port.reg(AhciPort.CI));
        assertEquals(512, rig.ram.memory.readU32(port.clb + 32 + 4), "PRDBC of a non-queued command");
        // FRE off: no FIS is written at all, FR reads 0.
        port.stopEngine();
        port.reg(AhciPort.FB, (int) port.fb);
        port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) & ~AhciPort.CMD_FRE);
        assertEquals(0, port.reg(AhciPort.CMD) & AhciPort.CMD_FR);
        rig.ram.memory.write(port.fb, new byte[256]);
        port.startEngine();
        r = port.issue(2, read(buf, 2, 1));
        assertFalse(r.failed());
        assertArrayEquals(new byte[256], rig.read(port.fb, 256));
        assertEquals(AhciPort.IS_DHRS, r.is() & AhciPort.IS_DHRS, "the status still is");
        // A command FIS of fewer than 5 dwords is refused.
        port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) | AhciPort.CMD_FRE);
        port.build(3, read(buf, 0, 1));
        rig.ram.memory.writeU32(port.clb + 32 * 3, 4 | 1 << 16);
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.CI, 1 << 3);
        assertEquals(AhciPort.IS_TFES, port.reg(AhciPort.IS) & AhciPort.IS_TFES);
        assertEquals(0, port.reg(AhciPort.IS) & AhciPort.IS_HBFS, "a guest mistake in the FIS is no host bus error");
        port.recover();
        // The command table's address: bits 6:0 are reserved (128-byte aligned), CTBAU is used.
        port.build(4, read(buf, 3, 1));
        int ctba = rig.ram.memory.readU32(port.clb + 32 * 4 + 8);
        rig.ram.memory.writeU32(port.clb + 32 * 4 + 8, ctba | 0x7F);
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.CI, 1 << 4);
        assertEquals(0, port.reg(AhciPort.CI), "the table was found at CTBA with bits 6:0 cleared");
        assertEquals(0, port.reg(AhciPort.IS) & AhciPort.IS_TFES);
        rig.ram.memory.writeU32(port.clb + 32 * 4 + 12, 1);
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.CI, 1 << 4);
        assertEquals(AhciPort.IS_TFES | AhciPort.IS_HBFS, port.reg(AhciPort.IS) & (AhciPort.IS_TFES | AhciPort.IS_HBFS),
                "CTBAU points past RAM: host bus fatal");
    }

    @Test
    void controllerAccessWidthsAndIndexDataPair() {
        setUp();
        // Byte, word and dword reads of CAP; a qword read of a register pair.
        int cap = AhciController.CAP_VALUE;
        for (int i = 0; i < 4; i++) assertEquals(cap >>> 8 * i & 0xFF, abar(i, 1), "CAP byte " + i);
        assertEquals(cap >>> 16 & 0xFFFF, abar(2, 2));
        assertEquals(cap & 0xFFFF_FFFFL, abar(0, 4));
        int clb0 = AhciController.PORT_BASE + AhciPort.CLB;
        rig.hba.barWrite(AhciController.ABAR, clb0, 8, 0x0000_0001_0000_0400L);
        assertEquals(0x0000_0001_0000_0400L, abar(clb0, 8));
        assertEquals(1, abar(clb0 + 4, 4));
        // Narrow and unaligned writes are dropped.
        rig.hba.barWrite(AhciController.ABAR, clb0, 2, 0x800);
        rig.hba.barWrite(AhciController.ABAR, clb0 + 1, 4, 0x800);
        assertEquals(0x400, abar(clb0, 4));
        rig.hba.barWrite(AhciController.ABAR, clb0 + 4, 4, 0);
        // Outside the ABAR, unimplemented registers, ports past the sixth, other BARs: 0, writes ignored.
        assertEquals(0, abar(AhciController.ABAR_SIZE, 4));
        assertEquals(0, abar(-4, 4));
        for (int off : new int[] {AhciController.CCC_CTL, AhciController.CCC_PORTS, AhciController.EM_LOC, AhciController.EM_CTL,
            AhciController.CAP2, AhciController.BOHC, 0x2C, 0xA0}) {
            assertEquals(0, abar(off, 4), "register " + Integer.toHexString(off));
        }
        int pastPorts = AhciController.PORT_BASE + AhciController.PORTS * AhciController.PORT_SIZE;
        rig.hba.barWrite(AhciController.ABAR, pastPorts + AhciPort.CLB, 4, 0x400);
        assertEquals(0, abar(pastPorts + AhciPort.CLB, 4));
        rig.hba.barWrite(AhciController.ABAR, AhciController.ABAR_SIZE, 4, 1);
        assertEquals(0, rig.hba.barRead(0, 0, 4));
        // Index/data pair (BAR4): the index selects a dword of the ABAR (low 2 bits and bits past 4 KiB ignored).
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_INDEX, 4, AhciController.PI);
        assertEquals(AhciController.PI, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_INDEX, 4));
        assertEquals(0x3F, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_DATA, 4));
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_INDEX, 4, 0x1000 | AhciController.VS | 3);
        assertEquals(AhciController.VERSION, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_DATA, 4));
        int fb1 = AhciController.PORT_BASE + AhciController.PORT_SIZE + AhciPort.FB;
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_INDEX, 4, fb1);
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_DATA, 4, 0x0ABC_DE00L);
        assertEquals(0x0ABC_DE00L, abar(fb1, 4));
        assertEquals(0xFFFF_FFFFL & 0x0ABC_DE00L, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_DATA, 4));
        // Other offsets or widths of BAR4: 0, writes ignored.
        assertEquals(0, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_DATA, 2));
        assertEquals(0, rig.hba.barRead(AhciController.IDP_BAR, 0, 4));
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_INDEX, 2, 0);
        rig.hba.barWrite(AhciController.IDP_BAR, AhciController.IDP_DATA, 2, 0);
        assertEquals(0x0ABC_DE00L, abar(fb1, 4));
        rig.hba.barWrite(AhciController.IDP_BAR, 0, 4, 0);
        assertEquals(fb1, rig.hba.barRead(AhciController.IDP_BAR, AhciController.IDP_INDEX, 4));
        // Identity.
        assertEquals("AhciController[disk, -, cdrom, -, -, -]", rig.hba.toString());
        assertEquals("ich9-ahci", rig.hba.name());
        assertEquals("disk", rig.hba.drive(0).kind());
        assertFalse(rig.hba.busy());
        assertThrows(IllegalArgumentException.class, () -> new AhciController(rig.ram.memory, AhciIo.inline(), (v, a, d) -> { },
                Arrays.asList(new AhciDrive[AhciController.PORTS + 1])));
        assertEquals("AhciController[-, -, -, -, -, -]", new AhciController(rig.ram.memory, AhciIo.inline(), (v, a, d) -> { },
                Arrays.asList(new AhciDrive[AhciController.PORTS])).toString(), "six ports, six drives at most");
    }

    @Test
    void ghcAndInterrupts() {
        setUp();
        // GHC: AE always reads 1, IE is kept, other bits ignored; HR resets IE and reads 0 after.
        rig.driver.reg(AhciController.GHC, 0x7FFF_FFFE);
        assertEquals(AhciController.GHC_AE | AhciController.GHC_IE, rig.driver.reg(AhciController.GHC));
        rig.driver.reg(AhciController.GHC, 0);
        assertEquals(AhciController.GHC_AE, rig.driver.reg(AhciController.GHC));
        // INTx: level while IE and a port's enabled status; an MSI per event when MSI is on.
        rig.driver.enableInterrupts();
        long buf = rig.buffer(512);
        port.issue(0, read(buf, 0, 1));
        assertTrue(rig.hba.interruptLevel());
        assertTrue(rig.msis.isEmpty());
        port.reg(AhciPort.IS, -1);
        assertFalse(rig.hba.interruptLevel());
        rig.enableMsi();
        assertFalse(rig.hba.interruptLevel(), "no INTx with MSI");
        port.issue(0, read(buf, 0, 1));
        assertEquals(1, rig.msis.size());
        assertArrayEquals(new long[] {0, 0xFEE0_0000L, 0x4041}, rig.msis.get(0));
        // Still pending: another event (a second command) sends another message.
        port.build(1, read(buf, 0, 1));
        port.reg(AhciPort.CI, 2);
        assertEquals(2, rig.msis.size());
        // A write to an unrelated register with the status pending sends nothing.
        rig.driver.reg(AhciController.IS, -1);
        assertEquals(2, rig.msis.size());
        // Clearing and a new event: a message on the rising edge.
        port.reg(AhciPort.IS, -1);
        port.issue(0, read(buf, 0, 1));
        assertEquals(3, rig.msis.size());
        // MSI disabled again with the status pending: INTx takes over.
        int cap = rig.hba.configSpace().findCapability(0x05);
        rig.hba.configWrite(cap + 2, 2, 0);
        assertTrue(rig.hba.interruptLevel());
        rig.hba.configWrite(cap + 2, 2, 1);
        assertFalse(rig.hba.interruptLevel());
        // A 64-bit message address.
        rig.hba.configWrite(cap + 8, 4, 0x12);
        port.reg(AhciPort.IS, -1);
        port.issue(0, read(buf, 0, 1));
        assertEquals(4, rig.msis.size());
        assertEquals(0x12_FEE0_0000L, rig.msis.get(3)[1]);
        // A port other than 0 names its own bit in the HBA's IS: the CD-ROM on port 2 after its COMRESET.
        port.reg(AhciPort.IS, -1);
        AhciDriver.Port cd = rig.driver.port(2);
        cd.reg(AhciPort.IE, AhciPort.IS_DHRS);
        cd.reg(AhciPort.SCTL, 0x301);
        cd.reg(AhciPort.SCTL, 0x300);
        assertEquals(1 << 2, rig.driver.reg(AhciController.IS));
        cd.reg(AhciPort.IS, -1);
        assertEquals(0, rig.driver.reg(AhciController.IS));
        // GHC.HR: IE off, every port reset, no interrupt.
        rig.driver.reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_HR);
        assertEquals(AhciController.GHC_AE, rig.driver.reg(AhciController.GHC));
        assertEquals(0, rig.driver.reg(AhciController.IS));
        assertEquals(0, port.reg(AhciPort.IE));
        assertEquals(AhciPort.CMD_SUD | AhciPort.CMD_POD, port.reg(AhciPort.CMD));
    }

    @Test
    void restoredRegistersAreMasked() {
        setUp();
        AhciState s = rig.hba.save();
        // Value semantics: a re-save is equal with the same hash; the config bytes are a copy either way.
        AhciState again = rig.hba.save();
        assertEquals(s, again);
        assertEquals(s.hashCode(), again.hashCode());
        byte[] config = s.pciConfig();
        config[0] ^= 1;
        assertEquals(again, s, "changing the returned bytes changes nothing");
        assertFalse(s.equals(new AhciState(config, s.ghc(), s.ports())));
        assertFalse(s.equals(new AhciState(s.pciConfig(), s.ghc() ^ 2, s.ports())));
        assertFalse(s.equals(s.ports()));
        AhciState.Port p = s.ports().get(1);
        AhciState.Port hostile = new AhciState.Port(0x1234_57FFL, 0x1234_57FFL, p.is(), -1, p.cmd(), p.tfd(), p.sig(), p.ssts(),
                0xFFFF_FFFF, p.serr(), 5, 6, p.sntf(), 0, false, p.disk(), p.cdrom());
        List<AhciState.Port> ports = new java.util.ArrayList<>(s.ports());
        ports.set(1, hostile);
        AhciController other = new AhciController(rig.ram.memory, AhciIo.inline(), (v, a, d) -> { }, Arrays.asList(
                new AtaDisk(disk, AtaDisk.Config.of("R")), null, new AtapiCdrom(null, "C")));
        other.restore(new AhciState(s.pciConfig(), -1, ports));
        int base = AhciController.PORT_BASE + AhciController.PORT_SIZE;
        assertEquals(0x1234_5400L, other.barRead(AhciController.ABAR, base + AhciPort.CLB, 4));
        assertEquals(0x1234_5700L, other.barRead(AhciController.ABAR, base + AhciPort.FB, 4));
        assertEquals(AhciPort.IE_MASK & 0xFFFF_FFFFL, other.barRead(AhciController.ABAR, base + AhciPort.IE, 4));
        assertEquals(0xFFF, other.barRead(AhciController.ABAR, base + AhciPort.SCTL, 4));
        assertEquals(5, other.barRead(AhciController.ABAR, base + AhciPort.SACT, 4));
        assertEquals(6, other.barRead(AhciController.ABAR, base + AhciPort.CI, 4), "ST off: nothing re-issued");
        assertEquals((AhciController.GHC_AE | AhciController.GHC_IE) & 0xFFFF_FFFFL, other.barRead(AhciController.ABAR, AhciController.GHC, 4));
    }
}
