package dev.vmm.scsi;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.vmm.scsi.ScsiDisk.*;
import static org.junit.jupiter.api.Assertions.*;

class ScsiTargetTest {
    final ScsiTarget target = new ScsiTarget(List.of(
            new ScsiDisk(new RamStore(1 << 20, false), Config.of("A")),
            new ScsiDisk(new RamStore(2 << 20, false), Config.of("B"))));

    @Test
    void reportLunsListsEveryUnitFromAnyLun() {
        byte[] c = new byte[12];
        c[0] = (byte) REPORT_LUNS;
        put32(c, 6, 256);
        for (int lun : new int[] {0, 1, 7}) {
            byte[] in = new byte[256];
            ScsiResult r = target.execute(lun, c, DataBuffer.EMPTY, DataBuffer.of(in));
            assertTrue(r.good());
            assertEquals(24, r.dataIn());
            assertEquals(16, u32(in, 0));
            assertEquals(0, u64(in, 8));
            assertEquals(1L << 48, u64(in, 16), "LUN 1, peripheral addressing");
        }
        c[2] = 1; // well-known LUNs only: none
        byte[] in = new byte[256];
        assertEquals(8, target.execute(0, c, DataBuffer.EMPTY, DataBuffer.of(in)).dataIn());
        c[2] = 7;
        assertEquals(Sense.ILLEGAL_REQUEST, target.execute(0, c, DataBuffer.EMPTY, DataBuffer.of(in)).senseKey());
    }

    @Test
    void unitsAreSeparate() {
        byte[] cap = new byte[8];
        target.execute(1, new byte[] {(byte) READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, DataBuffer.EMPTY, DataBuffer.of(cap));
        assertEquals(4095, u32(cap, 0));
    }

    @Test
    void absentLunAnswersAsSpcSays() {
        byte[] in = new byte[96];
        ScsiResult r = target.execute(5, new byte[] {(byte) INQUIRY, 0, 0, 0, 96, 0}, DataBuffer.EMPTY, DataBuffer.of(in));
        assertTrue(r.good());
        assertEquals(0x7F, in[0] & 0xFF, "qualifier 011b, type 1Fh");
        r = target.execute(5, new byte[] {(byte) REQUEST_SENSE, 0, 0, 0, 18, 0}, DataBuffer.EMPTY, DataBuffer.of(in));
        assertTrue(r.good());
        assertEquals(0x25, in[12]);
        r = target.execute(5, new byte[] {0, 0, 0, 0, 0, 0}, DataBuffer.EMPTY, DataBuffer.EMPTY);
        assertEquals(ScsiResult.CHECK_CONDITION, r.status());
        assertEquals(0x25, r.asc());
        assertFalse(target.touchesDisk(5, new byte[] {(byte) READ_10}));
        assertTrue(target.touchesDisk(0, new byte[] {(byte) READ_10}));
        assertEquals(0x25, target.execute(-1, new byte[] {(byte) READ_10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, DataBuffer.EMPTY, DataBuffer.EMPTY).asc());
    }
}
