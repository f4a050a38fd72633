package dev.vmm.ahci;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Snapshot state: save, restore into a new controller over the same guest RAM, same registers, commands go on. */
@Timeout(60)
class AhciStateTest {
    private AhciRig rig;

    @AfterEach
    void tearDown() {
        if (rig != null) rig.close();
    }

    private static int[] registers(AhciController c) {
        int[] r = new int[AhciController.PORT_BASE / 4 + AhciController.PORTS * AhciController.PORT_SIZE / 4];
        for (int i = 0; i < r.length; i++) r[i] = (int) c.barRead(AhciController.ABAR, 4L * i, 4);
        return r;
    }

    @Test
    void registersAndDriveStateRoundTrip() {
        MemoryDisk disk = new MemoryDisk(new byte[1 << 20], false);
        AtapiCdrom cd = new AtapiCdrom(new MemoryDisk(new byte[32 * 2048], true), "CD");
        rig = new AhciRig(AhciIo.inline(), new AtaDisk(disk, AtaDisk.Config.of("S")), null, cd);
        rig.enableMsi();
        rig.driver.resetHba();
        rig.driver.enableInterrupts();
        AhciDriver.Port p0 = rig.driver.port(0), p2 = rig.driver.port(2);
        p0.start();
        p2.start();
        p0.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0, 0x82, 0), false));
        p2.issue(1, AhciDriver.Cmd.packet(Arrays.copyOf(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1}, 16)));
        // Leave port 0 halted after an error, with TFES pending.
        p0.issue(3, AhciDriver.Cmd.of(AhciDriver.h2d(0xB0, 0, 0, 0, 0), false));
        assertTrue((p0.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);

        AhciState saved = rig.hba.save();
        int[] before = registers(rig.hba);
        byte[] config = rig.hba.configSpace().saveBytes();

        AtaDisk disk2 = new AtaDisk(disk, AtaDisk.Config.of("S"));
        AtapiCdrom cd2 = new AtapiCdrom(new MemoryDisk(new byte[32 * 2048], true), "CD");
        AhciController restored = new AhciController(rig.ram.memory, AhciIo.inline(), (v, a, d) -> rig.msis.add(new long[] {v, a, d}),
                Arrays.asList(disk2, null, cd2));
        restored.restore(saved);
        assertArrayEquals(before, registers(restored), "ABAR registers");
        assertArrayEquals(config, restored.configSpace().saveBytes(), "config space (MSI enabled, command register)");
        assertFalse(disk2.writeCacheEnabled(), "SET FEATURES state");
        assertTrue(cd2.locked(), "the guest's medium lock");
        assertEquals(saved, restored.save(), "save of the restored controller");

        // The guest's recovery and next commands work on the restored controller.
        rig.driver.hba = restored;
        p0.recover();
        long buf = rig.buffer(512);
        disk.data[7 * 512] = 42;
        AhciDriver.Result r = p0.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 7, 1, 0, 0x40), false, new long[] {buf, 512}));
        assertFalse(r.failed());
        assertEquals(42, rig.read(buf, 1)[0]);
        assertFalse(cd2.eject(false), "still locked after restore");
    }

    @Test
    void queuedCommandsInFlightRunAgainAfterRestore() {
        byte[] data = new byte[4 << 20];
        new Random(5).nextBytes(data);
        MemoryDisk disk = new MemoryDisk(data, false);
        List<Runnable> parked = new ArrayList<>();
        rig = new AhciRig(parked::add, new AtaDisk(disk, AtaDisk.Config.of("S")));
        AhciDriver.Port p = rig.startPort(0); // no command yet: nothing parked
        assertTrue(parked.isEmpty());
        long[] bufs = new long[8];
        byte[] written = new byte[8 * 512];
        new Random(6).nextBytes(written);
        int mask = 0;
        for (int tag = 0; tag < 8; tag++) {
            bufs[tag] = rig.buffer(8 * 512);
            boolean write = tag == 7;
            if (write) rig.ram.memory.write(bufs[tag], written);
            p.build(tag, AhciDriver.Cmd.of(AhciDriver.ncq(write, tag, 100L * tag, 8), write, new long[] {bufs[tag], 8 * 512}));
            mask |= 1 << tag;
        }
        p.reg(AhciPort.SACT, mask);
        p.reg(AhciPort.CI, mask);
        assertEquals(1, parked.size(), "one drain job handed to the I/O side, not run");
        AhciState saved = rig.hba.save();
        assertEquals(mask, saved.ports().get(0).ci());

        AhciController restored = new AhciController(rig.ram.memory, AhciIo.inline(), (v, a, d) -> { },
                List.of(new AtaDisk(disk, AtaDisk.Config.of("S"))));
        restored.restore(saved);
        rig.driver.hba = restored;
        assertEquals(0, p.reg(AhciPort.SACT), "the commands ran on the restored controller");
        assertEquals(0, p.reg(AhciPort.CI));
        for (int tag = 0; tag < 7; tag++) {
            assertArrayEquals(Arrays.copyOfRange(data, 100 * tag * 512, (100 * tag + 8) * 512), rig.read(bufs[tag], 8 * 512));
        }
        assertArrayEquals(written, Arrays.copyOfRange(disk.data, 700 * 512, 708 * 512));
    }

    @Test
    void stateOfAnotherShapeIsRefused() {
        rig = new AhciRig(AhciIo.inline());
        AhciState s = rig.hba.save();
        AhciState wrong = new AhciState(s.pciConfig(), s.ghc(), s.ports().subList(0, 3));
        assertThrows(IllegalArgumentException.class, () -> rig.hba.restore(wrong));
    }
}
