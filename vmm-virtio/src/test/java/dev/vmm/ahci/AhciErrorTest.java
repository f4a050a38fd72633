package dev.vmm.ahci;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guest mistakes: each fails its command with an error task-file status (ERR, ABRT) and PxIS.TFES,
 * the port halts as AHCI §6.2.2 says, and after the guest's recovery (ST off/on, CLO, COMRESET) the
 * next command works. Nothing is thrown out of the device model.
 */
@Timeout(60)
class AhciErrorTest {
    static final int SECTORS = 4096;

    private AhciRig rig;
    private MemoryDisk disk;
    private ExecutorService executor;
    private AhciDriver.Port port;

    private void setUp(AhciIo io) {
        byte[] data = new byte[SECTORS * 512];
        new Random(6).nextBytes(data);
        disk = new MemoryDisk(data, false);
        rig = new AhciRig(io, new AtaDisk(disk, AtaDisk.Config.of("ERR-1")));
        if (executor != null) rig.driver.patienceNanos = AhciDriver.PATIENCE_NANOS; // an I/O thread completes commands
        rig.driver.resetHba();
        rig.driver.enableInterrupts();
        port = rig.driver.port(0);
        port.start();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (executor != null) {
            executor.shutdownNow();
            assertTrue(executor.awaitTermination(10, TimeUnit.SECONDS));
        }
        if (rig != null) rig.close();
    }

    /** The error is the command's, the port halted with the slot still in PxCI; recovery brings it back. */
    private void assertFailedThenRecover(AhciDriver.Result r, int slot) {
        assertTrue(r.failed(), "TFES expected: " + r);
        assertEquals(AtaResult.ERR, r.status() & AtaResult.ERR, "ERR in PxTFD.STS");
        assertEquals(AtaResult.ABRT, r.error() & AtaResult.ABRT, "ABRT in PxTFD.ERR");
        assertTrue((port.reg(AhciPort.CI) & 1 << slot) != 0, "the failed slot stays in PxCI until ST is cleared");
        port.recover();
        assertEquals(0, port.reg(AhciPort.CI));
        assertGoodRead();
    }

    private void assertGoodRead() {
        long buf = rig.buffer(4096);
        AhciDriver.Result ok = port.issue(7, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 8, 8, 0, 0x40), false,
                new long[] {buf, 4096}));
        assertFalse(ok.failed(), "port works after recovery: " + ok);
        assertArrayEquals(Arrays.copyOfRange(disk.data, 8 * 512, 16 * 512), rig.read(buf, 4096));
    }

    private static byte[] readFis(int sectors) {
        return AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 0, sectors, 0, 0x40);
    }

    @Test
    void prdOutsideRam() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(512);
        AhciDriver.Result r = port.issue(2, AhciDriver.Cmd.of(readFis(2), false,
                new long[] {buf, 512}, new long[] {AhciRig.RAM_SIZE - 256, 512}));
        assertFailedThenRecover(r, 2);
        r = port.issue(2, AhciDriver.Cmd.of(readFis(1), false, new long[] {0xFFFF_FFFF_FFFF_F000L, 512}));
        assertFailedThenRecover(r, 2);
    }

    @Test
    void badFisTypeAndMissingCommandBit() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(512);
        byte[] fis = readFis(1);
        fis[0] = 0x34; // a D2H FIS in a command table
        assertFailedThenRecover(port.issue(1, AhciDriver.Cmd.of(fis, false, new long[] {buf, 512})), 1);
        fis = readFis(1);
        fis[1] = 0; // C bit clear: a device control update, not a command
        assertFailedThenRecover(port.issue(1, AhciDriver.Cmd.of(fis, false, new long[] {buf, 512})), 1);
    }

    @Test
    void commandTableAndListOutsideRam() {
        setUp(AhciIo.inline());
        port.build(4, AhciDriver.Cmd.of(readFis(1), false, new long[] {rig.buffer(512), 512}));
        rig.ram.memory.writeU32(port.clb + 32 * 4 + 8, 0);
        rig.ram.memory.writeU32(port.clb + 32 * 4 + 12, 0x10); // CTBA at 64 GiB
        port.reg(AhciPort.CI, 1 << 4);
        AhciDriver.Result r = port.result(4);
        assertTrue((r.is() & AhciPort.IS_HBFS) != 0, "host bus fatal error");
        assertFailedThenRecover(r, 4);

        // The whole command list outside RAM: recovery is a COMRESET after pointing CLB back.
        port.stopEngine();
        port.reg(AhciPort.CLB, 0xFFFF_F000);
        port.reg(AhciPort.CLBU, 0x7);
        port.startEngine();
        port.reg(AhciPort.CI, 1);
        assertTrue((port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);
        port.stopEngine();
        port.reg(AhciPort.CLB, (int) port.clb);
        port.reg(AhciPort.CLBU, 0);
        port.hardReset();
        assertEquals(AtaDisk.SIGNATURE, port.signature);
        assertGoodRead();
    }

    @Test
    void transferLargerThanThePrds() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(8 * 512);
        // READ DMA EXT of 8 sectors with PRDs for 7.
        assertFailedThenRecover(port.issue(0, AhciDriver.Cmd.of(readFis(8), false, new long[] {buf, 7 * 512})), 0);
        // IDENTIFY into 256 bytes.
        assertFailedThenRecover(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_DEVICE, 0, 0, 0, 0), false,
                new long[] {buf, 256})), 0);
        // TRIM list of 2 blocks in 512 bytes of PRDs.
        assertFailedThenRecover(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.DATA_SET_MANAGEMENT, 0, 2, 1, 0x40), true,
                new long[] {buf, 512})), 0);
    }

    @Test
    void deviceErrorsAreAborts() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(4096);
        AhciDriver.Result r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, SECTORS - 1, 2, 0, 0x40), false,
                new long[] {buf, 1024}));
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error(), "a range past the end is ABRT, as in QEMU 7.2");
        assertEquals(0x41, r.status());
        port.recover();
        for (int cmd : new int[] {0xB0 /* SMART */, 0xE5 /* CHECK POWER MODE */, AtaCommand.PACKET, AtaCommand.IDENTIFY_PACKET_DEVICE}) {
            assertFailedThenRecover(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(cmd, 0, 0, 0, 0), false)), 0);
        }
    }

    @Test
    void ncqTagMistakes() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(512);
        // Tag 5 in slot 0.
        port.build(0, AhciDriver.Cmd.of(AhciDriver.ncq(false, 5, 0, 1), false, new long[] {buf, 512}));
        port.reg(AhciPort.SACT, 1);
        port.reg(AhciPort.CI, 1);
        assertTrue((port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0, "tag != slot");
        port.recover();
        assertEquals(0, port.reg(AhciPort.SACT));
        // NCQ without its PxSACT bit.
        port.build(0, AhciDriver.Cmd.of(AhciDriver.ncq(false, 0, 0, 1), false, new long[] {buf, 512}));
        port.reg(AhciPort.CI, 1);
        assertTrue((port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0, "SACT not set");
        port.recover();
        // An NCQ error: LBA past the end. SDB FIS with ERR, log 10h names the tag.
        port.build(3, AhciDriver.Cmd.of(AhciDriver.ncq(false, 3, SECTORS, 1), false, new long[] {buf, 512}));
        port.reg(AhciPort.SACT, 1 << 3);
        port.reg(AhciPort.CI, 1 << 3);
        AhciDriver.Result r = port.result(3);
        assertTrue(r.failed());
        assertEquals(0, r.is() & AhciPort.IS_SDBS, "TFES alone, as QEMU 7.2");
        assertEquals(0xA1, r.sdb()[0] & 0xFF);
        assertEquals(AtaResult.ERR, r.sdb()[2] & AtaResult.ERR);
        assertEquals(1 << 3, port.reg(AhciPort.SACT), "the failed tag stays outstanding until recovery");
        port.recover();
        long log = rig.buffer(512);
        assertFalse(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_LOG_EXT, AtaDisk.LOG_NCQ_ERROR, 1, 0, 0), false,
                new long[] {log, 512})).failed());
        byte[] page = rig.read(log, 512);
        assertEquals(3, page[0], "log 10h: tag 3, NQ clear");
        assertEquals(AtaResult.ABRT, page[3]);
        int sum = 0;
        for (byte b : page) sum += b & 0xFF;
        assertEquals(0, sum & 0xFF, "log checksum");
        assertGoodRead();
    }

    @Test
    void busyTagReusedFailsTheReuse() throws Exception {
        executor = Executors.newSingleThreadExecutor();
        setUp(AhciIo.of(executor));
        long a = rig.buffer(512), b = rig.buffer(512);
        CountDownLatch gate = new CountDownLatch(1);
        disk.gate = gate;
        port.build(6, AhciDriver.Cmd.of(AhciDriver.ncq(false, 6, 40, 1), false, new long[] {a, 512}));
        port.reg(AhciPort.SACT, 1 << 6);
        port.reg(AhciPort.CI, 1 << 6);
        assertTrue(disk.entered.await(10, TimeUnit.SECONDS), "tag 6 reached the disk");
        assertEquals(0, port.reg(AhciPort.CI), "accepted: PxCI cleared, PxSACT still set");
        assertEquals(1 << 6, port.reg(AhciPort.SACT));
        // The guest reuses slot/tag 6 while it is in flight.
        port.build(6, AhciDriver.Cmd.of(AhciDriver.ncq(false, 6, 80, 1), false, new long[] {b, 512}));
        port.reg(AhciPort.CI, 1 << 6);
        disk.gate = null;
        gate.countDown();
        AhciDriver.waitFor("reuse error", () -> (port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);
        AhciDriver.Result r = port.result(6);
        assertEquals(AtaResult.ABRT, r.error() & AtaResult.ABRT);
        assertArrayEquals(Arrays.copyOfRange(disk.data, 40 * 512, 41 * 512), rig.read(a, 512), "the original tag 6 completed");
        port.recover();
        assertGoodRead();
    }

    @Test
    void commandListOverrideClearsBusy() {
        setUp(AhciIo.inline());
        port.stopEngine();
        port.reg(AhciPort.SCTL, 0x301); // COMRESET held: the device looks busy
        assertTrue((port.reg(AhciPort.TFD) & AtaResult.BSY) != 0);
        port.reg(AhciPort.CMD, port.reg(AhciPort.CMD) | AhciPort.CMD_CLO);
        assertEquals(0, port.reg(AhciPort.CMD) & AhciPort.CMD_CLO, "CLO self-clears");
        assertEquals(0, port.reg(AhciPort.TFD) & (AtaResult.BSY | AtaResult.DRQ), "CLO cleared BSY and DRQ");
        port.reg(AhciPort.SCTL, 0x300);
        port.startEngine();
        assertGoodRead();
    }

    @Test
    void interruptsFollowIsAndIe() {
        setUp(AhciIo.inline());
        long buf = rig.buffer(512);
        port.issue(0, AhciDriver.Cmd.of(readFis(1), false, new long[] {buf, 512}));
        assertTrue(rig.hba.interruptLevel(), "INTx asserted: DHRS pending and enabled");
        assertEquals(1, rig.driver.reg(AhciController.IS), "HBA IS names port 0");
        rig.driver.reg(AhciController.IS, 1);
        assertEquals(1, rig.driver.reg(AhciController.IS), "still pending while PxIS is");
        port.reg(AhciPort.IS, -1);
        assertEquals(0, rig.driver.reg(AhciController.IS));
        assertFalse(rig.hba.interruptLevel());
        port.reg(AhciPort.IE, 0);
        port.issue(0, AhciDriver.Cmd.of(readFis(1), false, new long[] {buf, 512}));
        assertFalse(rig.hba.interruptLevel(), "masked by PxIE");
        port.reg(AhciPort.IE, AhciPort.IS_DHRS);
        assertTrue(rig.hba.interruptLevel(), "unmasking a pending status raises it");
        rig.driver.reg(AhciController.GHC, AhciController.GHC_AE);
        assertFalse(rig.hba.interruptLevel(), "GHC.IE off");
    }

    @Test
    void noDmaWithoutBusMastering() {
        setUp(AhciIo.inline());
        int command = rig.hba.configRead(dev.vmm.chipset.pci.PciConfigSpace.COMMAND, 2);
        rig.hba.configWrite(dev.vmm.chipset.pci.PciConfigSpace.COMMAND, 2, command & ~dev.vmm.chipset.pci.PciConfigSpace.COMMAND_BUS_MASTER);
        long buf = rig.buffer(512);
        rig.ram.memory.slice(buf, 512).fill((byte) 0x5A);
        port.build(0, AhciDriver.Cmd.of(readFis(1), false, new long[] {buf, 512}));
        port.reg(AhciPort.CI, 1);
        assertTrue((port.reg(AhciPort.IS) & (AhciPort.IS_TFES | AhciPort.IS_HBFS)) == (AhciPort.IS_TFES | AhciPort.IS_HBFS));
        assertEquals(0x5A, rig.read(buf, 1)[0], "guest memory untouched");
        rig.hba.configWrite(dev.vmm.chipset.pci.PciConfigSpace.COMMAND, 2, command);
        port.recover();
        assertGoodRead();
    }

    @Test
    void writesRefusedOnAReadOnlyDisk() {
        disk = new MemoryDisk(new byte[1 << 20], true);
        rig = new AhciRig(AhciIo.inline(), new AtaDisk(disk, AtaDisk.Config.of("RO")));
        port = rig.startPort(0);
        long buf = rig.buffer(512);
        AhciDriver.Result r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.WRITE_DMA_EXT, 0, 1, 0, 0x40), true,
                new long[] {buf, 512}));
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error());
        port.recover();
        List.of(AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT).forEach(c ->
                assertFalse(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(c, 0, 0, 0, 0), false)).failed(), "flush of a read-only disk"));
    }
}
