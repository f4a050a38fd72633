package dev.vmm.scsi;

import dev.vmm.block.TestDisk;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.vmm.scsi.ScsiDisk.*;
import static org.junit.jupiter.api.Assertions.*;

class ScsiDiskTest {
    static final int BLOCKS = 2048; // 1 MiB of 512-byte blocks

    RamStore store;
    ScsiDisk disk;

    @BeforeEach
    void setUp() {
        store = new RamStore(BLOCKS * 512, false);
        disk = new ScsiDisk(store, Config.of("SER123"));
    }

    static byte[] cdb(int... b) {
        byte[] c = new byte[b.length];
        for (int i = 0; i < b.length; i++) c[i] = (byte) b[i];
        return c;
    }

    static byte[] cdb10(int op, long lba, int len) {
        byte[] c = new byte[10];
        c[0] = (byte) op;
        put32(c, 2, lba);
        put16(c, 7, len);
        return c;
    }

    static byte[] cdb16(int op, long lba, long len) {
        byte[] c = new byte[16];
        c[0] = (byte) op;
        put64(c, 2, lba);
        put32(c, 10, len);
        return c;
    }

    ScsiResult run(byte[] cdb, byte[] out, byte[] in) {
        return disk.execute(cdb, out == null ? DataBuffer.EMPTY : DataBuffer.of(out), in == null ? DataBuffer.EMPTY : DataBuffer.of(in));
    }

    static void assertSense(ScsiResult r, int key, int asc, int ascq) {
        assertEquals(ScsiResult.CHECK_CONDITION, r.status(), r.toString());
        assertEquals(0x70, r.sense()[0] & 0x7F);
        assertEquals(key, r.senseKey(), r.toString());
        assertEquals(asc, r.asc(), r.toString());
        assertEquals(ascq, r.ascq(), r.toString());
    }

    static void assertInvalidField(ScsiResult r, int byteIndex) {
        assertSense(r, Sense.ILLEGAL_REQUEST, 0x24, 0);
        assertEquals(0xC0, r.sense()[15] & 0xC0, "SKSV and C/D set");
        assertEquals(byteIndex, u16(r.sense(), 16), "field pointer");
    }

    static byte[] pattern(int len, long seed) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void testUnitReadyAndReservedBits() {
        assertTrue(run(cdb(0, 0, 0, 0, 0, 0), null, null).good());
        assertInvalidField(run(cdb(0, 1, 0, 0, 0, 0), null, null), 1);
        assertInvalidField(run(cdb(0, 0, 0, 0, 0, 0x04), null, null), 5); // NACA
        assertInvalidField(run(cdb(0, 0, 0, 0, 0, 0x01), null, null), 5); // LINK
    }

    @Test
    void unknownOpcodesAndShortCdbs() {
        assertSense(run(cdb(0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0), null, new byte[8]), Sense.ILLEGAL_REQUEST, 0x20, 0);
        assertSense(run(cdb(0x04, 0, 0, 0, 0, 0), null, null), Sense.ILLEGAL_REQUEST, 0x20, 0); // FORMAT UNIT
        assertSense(run(cdb(0xC0, 0, 0, 0, 0, 0), null, null), Sense.ILLEGAL_REQUEST, 0x20, 0); // vendor group
        assertSense(run(new byte[0], null, null), Sense.ILLEGAL_REQUEST, 0x20, 0);
        assertInvalidField(run(cdb(0x28, 0, 0, 0), null, new byte[512]), 4);
        ScsiResult r = run(cdb(0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0), null, new byte[8]);
        assertEquals(8, r.residual());
        assertEquals(0, r.dataIn());
    }

    @Test
    void standardInquiry() {
        byte[] in = new byte[96];
        ScsiResult r = run(cdb(INQUIRY, 0, 0, 0, 96, 0), null, in);
        assertTrue(r.good());
        assertEquals(66, r.dataIn());
        assertEquals(30, r.residual());
        assertEquals(0, in[0]); // connected direct-access block device
        assertEquals(6, in[2]); // SPC-4
        assertEquals(2, in[3] & 0x0F);
        assertEquals(61, in[4]);
        assertEquals(0x02, in[7] & 0x02, "CMDQUE");
        assertEquals("VMM     VIRTUAL DISK    0001", new String(in, 8, 28, StandardCharsets.US_ASCII));
        // Allocation length truncates; a smaller buffer truncates too.
        byte[] small = new byte[96];
        assertEquals(5, run(cdb(INQUIRY, 0, 0, 0, 5, 0), null, small).dataIn());
        assertEquals(0, small[5]);
        assertEquals(4, run(cdb(INQUIRY, 0, 0, 0, 96, 0), null, new byte[4]).dataIn());
        // Page code without EVPD, CMDDT: invalid fields.
        assertInvalidField(run(cdb(INQUIRY, 0, 0x80, 0, 96, 0), null, in), 2);
        assertInvalidField(run(cdb(INQUIRY, 2, 0, 0, 96, 0), null, in), 1);
        assertInvalidField(run(cdb(INQUIRY, 1, 0x99, 0, 96, 0), null, in), 2);
    }

    byte[] vpd(int page) {
        byte[] in = new byte[255];
        ScsiResult r = run(cdb(INQUIRY, 1, page, 0, 255, 0), null, in);
        assertTrue(r.good(), r.toString());
        assertEquals(page, in[1] & 0xFF);
        int len = u16(in, 2);
        assertEquals(4 + len, r.dataIn());
        return Arrays.copyOf(in, 4 + len);
    }

    @Test
    void vpdPages() {
        assertArrayEquals(new byte[] {0, 0, 0, 6, 0, (byte) 0x80, (byte) 0x83, (byte) 0xB0, (byte) 0xB1, (byte) 0xB2}, vpd(0));
        assertEquals("SER123", new String(vpd(0x80), 4, 6, StandardCharsets.US_ASCII));

        byte[] id = vpd(0x83);
        assertEquals(0x01, id[4]); // binary
        assertEquals(0x03, id[5]); // LU, NAA
        assertEquals(8, id[7]);
        assertEquals(3, (id[8] & 0xF0) >> 4, "NAA 3: locally assigned");
        assertEquals(0x02, id[16]); // ASCII
        assertEquals(0x01, id[17]); // T10 vendor id
        assertTrue(new String(id, 20, id[19], StandardCharsets.US_ASCII).startsWith("VMM     VIRTUAL DISK    SER123"));
        byte[] other = new ScsiDisk(store, Config.of("OTHER")).execute(cdb(INQUIRY, 1, 0x83, 0, 255, 0), DataBuffer.EMPTY,
                DataBuffer.of(new byte[255])).sense();
        assertNotNull(other);
        assertArrayEquals(id, vpd(0x83), "stable");

        byte[] bl = vpd(0xB0);
        assertEquals(0x3C, u16(bl, 2));
        assertEquals(1, bl[4] & 1, "WSNZ");
        assertEquals(0xFFFF, u32(bl, 8), "max transfer length in blocks");
        // Linux ignores an optimal transfer length that is not a multiple of the physical block (4 KiB).
        assertEquals(0xFFF8, u32(bl, 12), "optimal transfer length: max rounded down to 4 KiB");
        assertEquals((1 << 30) / 512, u32(bl, 20), "max unmap LBA count");
        assertEquals(256, u32(bl, 24));
        assertEquals(8, u32(bl, 28), "unmap granularity 4 KiB");
        assertEquals((1 << 30) / 512, u64(bl, 36));

        assertEquals(1, u16(vpd(0xB1), 4), "non-rotating");

        byte[] lbp = vpd(0xB2);
        assertEquals(0xE0, lbp[5] & 0xE0, "LBPU, LBPWS, LBPWS10");
        assertEquals(2, lbp[6] & 7, "thin");
        ScsiDisk thick = new ScsiDisk(store, Config.of("X").withUnmap(false));
        byte[] in = new byte[64];
        thick.execute(cdb(INQUIRY, 1, 0xB2, 0, 64, 0), DataBuffer.EMPTY, DataBuffer.of(in));
        assertEquals(0, in[5]);
    }

    @Test
    void readCapacity10And16() {
        byte[] in = new byte[8];
        assertTrue(run(cdb(READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0), null, in).good());
        assertEquals(BLOCKS - 1, u32(in, 0));
        assertEquals(512, u32(in, 4));
        assertInvalidField(run(cdb(READ_CAPACITY_10, 0, 0, 0, 0, 1, 0, 0, 0, 0), null, in), 2); // LBA without PMI

        byte[] c = new byte[16];
        c[0] = (byte) SERVICE_ACTION_IN_16;
        c[1] = SA_READ_CAPACITY_16;
        put32(c, 10, 32);
        byte[] rc = new byte[32];
        ScsiResult r = run(c, null, rc);
        assertTrue(r.good());
        assertEquals(32, r.dataIn());
        assertEquals(BLOCKS - 1, u64(rc, 0));
        assertEquals(512, u32(rc, 8));
        assertEquals(3, rc[13] & 0x0F, "8 logical blocks per 4 KiB physical block");
        assertEquals(0x80, rc[14] & 0x80, "LBPME");
        c[1] = 0x11;
        assertInvalidField(run(c, null, rc), 1);

        ScsiDisk big = new ScsiDisk(store, Config.of("B").withBlockSize(4096));
        byte[] in4 = new byte[8];
        assertTrue(big.execute(cdb(READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0), DataBuffer.EMPTY, DataBuffer.of(in4)).good());
        assertEquals(BLOCKS / 8 - 1, u32(in4, 0));
        assertEquals(4096, u32(in4, 4));
    }

    @Test
    void readCapacity10SaturatesForHugeDisks() {
        TestDisk huge = new TestDisk() {
            public long size() { return 4L << 40; }
            public boolean readOnly() { return true; }
            public void read(long o, MemorySegment d) { }
            public void write(long o, MemorySegment s) { }
            public void flush() { }
            public void discard(long o, long n) { }
            public void writeZeroes(long o, long n, boolean u) { }
        };
        byte[] in = new byte[8];
        new ScsiDisk(huge, Config.of("H")).execute(cdb(READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0), DataBuffer.EMPTY, DataBuffer.of(in));
        assertEquals(0xFFFFFFFFL, u32(in, 0));
    }

    @Test
    void writeAndReadAllSizes() {
        int[][] ops = {{WRITE_6, READ_6}, {WRITE_10, READ_10}, {WRITE_12, READ_12}, {WRITE_16, READ_16}};
        long lba = 3;
        for (int[] pair : ops) {
            byte[] data = pattern(4 * 512, pair[0]);
            byte[] w = rwCdb(pair[0], lba, 4);
            ScsiResult wr = run(w, data, null);
            assertTrue(wr.good(), wr.toString());
            assertEquals(0, wr.residual());
            assertArrayEquals(data, Arrays.copyOfRange(store.data, (int) lba * 512, (int) lba * 512 + data.length));
            byte[] in = new byte[5 * 512];
            ScsiResult rr = run(rwCdb(pair[1], lba, 4), null, in);
            assertTrue(rr.good());
            assertEquals(4 * 512, rr.dataIn());
            assertEquals(512, rr.residual());
            assertArrayEquals(data, Arrays.copyOf(in, data.length));
            lba += 100;
        }
    }

    static byte[] rwCdb(int op, long lba, int n) {
        return switch (cdbLength(op)) {
            case 6 -> cdb(op, (int) (lba >> 16) & 0x1F, (int) (lba >> 8) & 0xFF, (int) lba & 0xFF, n, 0);
            case 10 -> cdb10(op, lba, n);
            case 12 -> {
                byte[] c = new byte[12];
                c[0] = (byte) op;
                put32(c, 2, lba);
                put32(c, 6, n);
                yield c;
            }
            default -> cdb16(op, lba, n);
        };
    }

    @Test
    void scatterGatherBuffers() {
        byte[] data = pattern(3 * 512, 9);
        byte[] a = Arrays.copyOfRange(data, 0, 100), b = Arrays.copyOfRange(data, 100, 1000), c = Arrays.copyOfRange(data, 1000, 1536);
        DataBuffer out = new DataBuffer(MemorySegment.ofArray(a), MemorySegment.ofArray(b), MemorySegment.ofArray(c));
        assertTrue(disk.execute(cdb10(WRITE_10, 7, 3), out, DataBuffer.EMPTY).good());
        byte[] x = new byte[1], y = new byte[1535];
        assertTrue(disk.execute(cdb10(READ_10, 7, 3), DataBuffer.EMPTY, new DataBuffer(MemorySegment.ofArray(x), MemorySegment.ofArray(y))).good());
        assertEquals(data[0], x[0]);
        assertArrayEquals(Arrays.copyOfRange(data, 1, 1536), y);
    }

    @Test
    void read6ZeroLengthMeans256Blocks() {
        byte[] in = new byte[256 * 512];
        ScsiResult r = run(cdb(READ_6, 0, 0, 0, 0, 0), null, in);
        assertTrue(r.good());
        assertEquals(256 * 512, r.dataIn());
    }

    @Test
    void lbaOutOfRangeAndOverflow() {
        assertSense(run(cdb10(READ_10, BLOCKS, 1), null, new byte[512]), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertSense(run(cdb10(READ_10, BLOCKS - 1, 2), null, new byte[1024]), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertTrue(run(cdb10(READ_10, BLOCKS - 1, 1), null, new byte[512]).good());
        assertTrue(run(cdb10(READ_10, BLOCKS, 0), null, null).good(), "zero blocks at the end is fine");
        assertSense(run(cdb10(READ_10, BLOCKS + 1, 0), null, null), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertSense(run(cdb16(READ_16, -1L, 2), null, new byte[1024]), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertSense(run(cdb16(WRITE_16, Long.MAX_VALUE, 1), new byte[512], null), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertSense(run(cdb16(SYNCHRONIZE_CACHE_16, BLOCKS + 5, 0), null, null), Sense.ILLEGAL_REQUEST, 0x21, 0);
    }

    @Test
    void transferLongerThanTheBufferIsAnOverrunAndTouchesNothing() {
        ScsiResult r = run(cdb10(READ_10, 0, 4), null, new byte[3 * 512]);
        assertTrue(r.overrun());
        assertEquals(0, r.dataIn());
        byte[] before = store.data.clone();
        assertTrue(run(cdb10(WRITE_10, 0, 2), pattern(512, 1), null).overrun());
        assertTrue(run(cdb10(WRITE_10, 0, 2), null, new byte[1024]).overrun(), "data in the wrong direction");
        assertArrayEquals(before, store.data);
    }

    @Test
    void maximumTransferLengthIsEnforced() {
        ScsiDisk big = new ScsiDisk(new RamStore(64 << 20, false), Config.of("BIG"));
        ScsiResult r = big.execute(cdb16(READ_16, 0, 0x10000), DataBuffer.EMPTY, DataBuffer.of(new byte[0x10000 * 512]));
        assertInvalidField(r, 10);
        assertTrue(big.execute(cdb16(READ_16, 0, 0xFFFF), DataBuffer.EMPTY, DataBuffer.of(new byte[0xFFFF * 512])).good());
    }

    @Test
    void protectionFieldsAndReservedBitsInReadWrite() {
        byte[] c = cdb10(READ_10, 0, 1);
        c[1] = 0x20; // RDPROTECT
        assertInvalidField(run(c, null, new byte[512]), 1);
        c = cdb10(WRITE_10, 0, 1);
        c[1] = 0x04; // reserved in WRITE(10)
        assertInvalidField(run(c, new byte[512], null), 1);
        c = cdb10(READ_10, 0, 1);
        c[6] = (byte) 0x80;
        assertInvalidField(run(c, null, new byte[512]), 6);
        c = cdb10(READ_10, 0, 1);
        c[1] = 0x18; // DPO + FUA on a read: fine
        assertTrue(run(c, null, new byte[512]).good());
    }

    @Test
    void fuaWriteFlushes() {
        byte[] c = cdb10(WRITE_10, 0, 1);
        c[1] = 0x08;
        assertTrue(run(c, new byte[512], null).good());
        assertEquals(List.of("flush"), store.ops);
    }

    @Test
    void synchronizeCache() {
        assertTrue(run(cdb10(SYNCHRONIZE_CACHE_10, 0, 0), null, null).good());
        assertTrue(run(cdb16(SYNCHRONIZE_CACHE_16, 10, 20), null, null).good());
        assertEquals(List.of("flush", "flush"), store.ops);
        byte[] c = cdb10(SYNCHRONIZE_CACHE_10, 0, 0);
        c[1] = (byte) 0x80;
        assertInvalidField(run(c, null, null), 1);
    }

    @Test
    void writeProtected() {
        RamStore ro = new RamStore(BLOCKS * 512, true);
        ScsiDisk d = new ScsiDisk(ro, Config.of("RO"));
        assertSense(d.execute(cdb10(WRITE_10, 0, 1), DataBuffer.of(new byte[512]), DataBuffer.EMPTY), Sense.DATA_PROTECT, 0x27, 0);
        assertSense(d.execute(unmapCdb(24), DataBuffer.of(unmapList(0, 8)), DataBuffer.EMPTY), Sense.DATA_PROTECT, 0x27, 0);
        assertTrue(d.execute(cdb10(READ_10, 0, 1), DataBuffer.EMPTY, DataBuffer.of(new byte[512])).good());
        byte[] ms = new byte[64];
        d.execute(cdb(MODE_SENSE_6, 0, 0x3F, 0, 64, 0), DataBuffer.EMPTY, DataBuffer.of(ms));
        assertEquals(0x80, ms[2] & 0x80, "WP");
    }

    static byte[] unmapCdb(int plen) {
        byte[] c = new byte[10];
        c[0] = (byte) UNMAP;
        put16(c, 7, plen);
        return c;
    }

    static byte[] unmapList(long... lbaCount) {
        int n = lbaCount.length / 2;
        byte[] p = new byte[8 + 16 * n];
        put16(p, 0, p.length - 2);
        put16(p, 2, 16 * n);
        for (int i = 0; i < n; i++) {
            put64(p, 8 + 16 * i, lbaCount[2 * i]);
            put32(p, 16 + 16 * i, lbaCount[2 * i + 1]);
        }
        return p;
    }

    @Test
    void unmap() {
        Arrays.fill(store.data, (byte) 1);
        byte[] p = unmapList(8, 16, 100, 8);
        ScsiResult r = run(unmapCdb(p.length), p, null);
        assertTrue(r.good(), r.toString());
        assertEquals(List.of("discard 4096+8192", "discard 51200+4096"), store.ops);
        assertEquals(0, store.data[4096]);
        assertEquals(1, store.data[4095]);

        store.ops.clear();
        assertSense(run(unmapCdb(p.length), unmapList(8, 16, BLOCKS - 4, 8), null), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertTrue(store.ops.isEmpty(), "nothing discarded when a later descriptor is bad");
        assertSense(run(unmapCdb(4), new byte[4], null), Sense.ILLEGAL_REQUEST, 0x1A, 0);
        byte[] lying = unmapList(0, 8);
        put16(lying, 2, 32); // block descriptor length beyond the parameter list
        assertSense(run(unmapCdb(lying.length), lying, null), Sense.ILLEGAL_REQUEST, 0x1A, 0);
        byte[] tooBig = unmapList(0, (1 << 30) / 512 + 1);
        assertSense(run(unmapCdb(tooBig.length), tooBig, null), Sense.ILLEGAL_REQUEST, 0x26, 0);
        assertTrue(run(unmapCdb(0), null, null).good());
        assertTrue(run(unmapCdb(24), new byte[10], null).overrun());
        byte[] anchor = unmapCdb(24);
        anchor[1] = 1;
        assertInvalidField(run(anchor, p, null), 1);
        ScsiDisk thick = new ScsiDisk(store, Config.of("T").withUnmap(false));
        assertSense(thick.execute(unmapCdb(p.length), DataBuffer.of(p), DataBuffer.EMPTY), Sense.ILLEGAL_REQUEST, 0x20, 0);
        assertTrue(store.ops.isEmpty());
    }

    @Test
    void writeSame() {
        Arrays.fill(store.data, (byte) 1);
        // WRITE SAME(16) with UNMAP and a zero block: write-zeroes that may unmap.
        byte[] c = cdb16(WRITE_SAME_16, 16, 32);
        c[1] = 0x08;
        assertTrue(run(c, new byte[512], null).good());
        assertEquals(List.of("zeroes 8192+16384 unmap"), store.ops);
        // WRITE SAME(10) without UNMAP: zeroes kept allocated.
        store.ops.clear();
        assertTrue(run(cdb10(WRITE_SAME_10, 100, 2), new byte[512], null).good());
        assertEquals(List.of("zeroes 51200+1024"), store.ops);
        // A non-zero pattern is written to every block.
        store.ops.clear();
        byte[] block = pattern(512, 5);
        assertTrue(run(cdb10(WRITE_SAME_10, 200, 3), block, null).good());
        assertTrue(store.ops.isEmpty());
        for (int i = 0; i < 3; i++) assertArrayEquals(block, Arrays.copyOfRange(store.data, (200 + i) * 512, (201 + i) * 512));
        // NDOB: no data-out buffer, zeroes.
        c = cdb16(WRITE_SAME_16, 300, 1);
        c[1] = 0x09;
        assertTrue(run(c, null, null).good());
        assertEquals(List.of("zeroes 153600+512 unmap"), store.ops);
        // Errors.
        assertInvalidField(run(cdb10(WRITE_SAME_10, 0, 0), new byte[512], null), 7);
        assertSense(run(cdb10(WRITE_SAME_10, BLOCKS - 1, 2), new byte[512], null), Sense.ILLEGAL_REQUEST, 0x21, 0);
        assertTrue(run(cdb10(WRITE_SAME_10, 0, 1), new byte[100], null).overrun());
        byte[] anchor = cdb10(WRITE_SAME_10, 0, 1);
        anchor[1] = 0x10;
        assertInvalidField(run(anchor, new byte[512], null), 1);
        byte[] lbdata = cdb10(WRITE_SAME_10, 0, 1);
        lbdata[1] = 0x02;
        assertInvalidField(run(lbdata, new byte[512], null), 1);
    }

    @Test
    void modeSenseCachingPage() {
        byte[] in = new byte[255];
        ScsiResult r = run(cdb(MODE_SENSE_6, 0, 0x08, 0, 255, 0), null, in);
        assertTrue(r.good());
        assertEquals(4 + 8 + 20, r.dataIn());
        assertEquals(4 + 8 + 20 - 1, in[0]);
        assertEquals(0x10, in[2] & 0x90, "DPOFUA, not WP");
        assertEquals(8, in[3]);
        assertEquals(512, ((in[4 + 5] & 0xFF) << 16) | u16(in, 4 + 6));
        assertEquals(BLOCKS, ((in[5] & 0xFF) << 16) | u16(in, 6));
        assertEquals(0x08, in[12]);
        assertEquals(0x12, in[13]);
        assertEquals(0x04, in[14] & 0x04, "WCE");

        // MODE SENSE(10), DBD, all pages: caching then control.
        byte[] c10 = new byte[10];
        c10[0] = (byte) MODE_SENSE_10;
        c10[1] = 0x08;
        c10[2] = 0x3F;
        put16(c10, 7, 255);
        r = run(c10, null, in);
        assertTrue(r.good());
        assertEquals(8 + 20 + 12, r.dataIn());
        assertEquals(8 + 20 + 12 - 2, u16(in, 0));
        assertEquals(0, u16(in, 6));
        assertEquals(0x08, in[8]);
        assertEquals(0x0A, in[28]);

        // LLBAA: 16-byte descriptor.
        c10[1] = 0x10;
        c10[2] = 0x08;
        r = run(c10, null, in);
        assertEquals(1, in[4] & 1, "LONGLBA");
        assertEquals(16, u16(in, 6));
        assertEquals(BLOCKS, u64(in, 8));
        assertEquals(512, u32(in, 20));

        // Changeable values: nothing changeable.
        run(cdb(MODE_SENSE_6, 8, 0x48, 0, 255, 0), null, in);
        assertEquals(0x08, in[4]);
        assertEquals(0, in[6]);
        // Truncation keeps the full mode data length.
        byte[] four = new byte[4];
        assertEquals(4, run(cdb(MODE_SENSE_6, 0, 0x08, 0, 4, 0), null, four).dataIn());
        assertEquals(31, four[0]);
        // Saved values, unknown page, bad subpage.
        assertSense(run(cdb(MODE_SENSE_6, 0, 0xC8, 0, 255, 0), null, in), Sense.ILLEGAL_REQUEST, 0x39, 0);
        assertInvalidField(run(cdb(MODE_SENSE_6, 0, 0x19, 0, 255, 0), null, in), 2);
        assertInvalidField(run(cdb(MODE_SENSE_6, 0, 0x08, 1, 255, 0), null, in), 3);
    }

    @Test
    void requestSenseReportsNoSense() {
        byte[] in = new byte[252];
        ScsiResult r = run(cdb(REQUEST_SENSE, 0, 0, 0, 252, 0), null, in);
        assertTrue(r.good());
        assertEquals(18, r.dataIn());
        assertEquals(0x70, in[0]);
        assertEquals(0, in[2]);
        r = run(cdb(REQUEST_SENSE, 1, 0, 0, 252, 0), null, in);
        assertEquals(8, r.dataIn());
        assertEquals(0x72, in[0]);
    }

    @Test
    void startStopUnit() {
        assertTrue(run(cdb(START_STOP_UNIT, 0, 0, 0, 1, 0), null, null).good());
        assertTrue(store.ops.isEmpty());
        assertTrue(run(cdb(START_STOP_UNIT, 1, 0, 0, 0, 0), null, null).good());
        assertEquals(List.of("flush"), store.ops, "stop flushes");
        assertInvalidField(run(cdb(START_STOP_UNIT, 2, 0, 0, 1, 0), null, null), 1);
    }

    @Test
    void reportLunsOnOneDisk() {
        byte[] c = new byte[12];
        c[0] = (byte) REPORT_LUNS;
        put32(c, 6, 64);
        byte[] in = new byte[64];
        ScsiResult r = run(c, null, in);
        assertTrue(r.good());
        assertEquals(16, r.dataIn());
        assertEquals(8, u32(in, 0));
        put32(c, 6, 15);
        assertInvalidField(run(c, null, in), 6);
    }

    @Test
    void diskErrorsBecomeMediumErrors() {
        store.fail = true;
        assertSense(run(cdb10(READ_10, 0, 1), null, new byte[512]), Sense.MEDIUM_ERROR, 0x11, 0);
        assertSense(run(cdb10(WRITE_10, 0, 1), new byte[512], null), Sense.MEDIUM_ERROR, 0x0C, 0);
    }

    @Test
    void randomCdbsNeverThrow() {
        Random rnd = new Random(42);
        byte[] in = new byte[4096];
        for (int i = 0; i < 20_000; i++) {
            byte[] c = new byte[1 + rnd.nextInt(32)];
            rnd.nextBytes(c);
            if (rnd.nextBoolean()) c[0] = (byte) new int[] {0x08, 0x28, 0x88, 0xA8, 0x2A, 0x42, 0x41, 0x93, 0x12, 0x1A, 0x5A, 0x9E}[rnd.nextInt(12)];
            ScsiResult r = disk.execute(c, DataBuffer.of(new byte[rnd.nextInt(2048)]), DataBuffer.of(in));
            assertNotNull(r);
            assertTrue(r.dataIn() <= in.length);
        }
    }

    @Test
    void configValidation() {
        assertThrows(IllegalArgumentException.class, () -> Config.of("a b"));
        assertThrows(IllegalArgumentException.class, () -> Config.of("x").withBlockSize(1024));
        assertThrows(IllegalArgumentException.class, () -> new ScsiDisk(new RamStore(100, false), Config.of("s")));
    }

    @Test
    void plainTransferIsOfferedOnlyForReadsAndWritesThatExecuteWouldRun() {
        DataBuffer in8 = DataBuffer.of(new byte[8 * 512]), out8 = DataBuffer.of(pattern(8 * 512, 1));
        ScsiDisk.Transfer t = disk.plainTransfer(cdb10(0x28, 10, 8), DataBuffer.EMPTY, in8);
        assertEquals(new ScsiDisk.Transfer(false, 10 * 512, 8 * 512, false), t);
        byte[] fua = cdb16(0x8A, 100, 8);
        fua[1] = 0x08;
        assertEquals(new ScsiDisk.Transfer(true, 100 * 512, 8 * 512, true), disk.plainTransfer(fua, out8, DataBuffer.EMPTY));
        byte[] six = cdb(0x08, 0, 0, 5, 0, 0); // READ(6) length 0 = 256 blocks
        assertEquals(256 * 512, disk.plainTransfer(six, DataBuffer.EMPTY, DataBuffer.of(new byte[256 * 512])).bytes());
        // Everything execute refuses or answers itself is left to execute.
        assertNull(disk.plainTransfer(cdb10(0x28, BLOCKS, 1), DataBuffer.EMPTY, in8), "LBA out of range");
        assertNull(disk.plainTransfer(cdb10(0x28, 0, 16), DataBuffer.EMPTY, in8), "overrun");
        assertNull(disk.plainTransfer(cdb10(0x28, 0, 0), DataBuffer.EMPTY, in8), "no data");
        assertNull(disk.plainTransfer(cdb(0x12, 0, 0, 0, 36, 0), DataBuffer.EMPTY, in8), "INQUIRY");
        byte[] naca = cdb10(0x28, 0, 1);
        naca[9] = 0x04;
        assertNull(disk.plainTransfer(naca, DataBuffer.EMPTY, in8), "NACA");
        assertNull(disk.plainTransfer(new byte[] {0x28, 0}, DataBuffer.EMPTY, in8), "short CDB");
        assertNull(new ScsiDisk(new RamStore(BLOCKS * 512, true), Config.of("RO")).plainTransfer(cdb10(0x2A, 0, 8), out8, DataBuffer.EMPTY),
                "write to a read-only disk");
        // The answer to a transfer run elsewhere: residuals as execute gives them; a short or failed one is a medium error.
        DataBuffer in16 = DataBuffer.of(new byte[16 * 512]);
        ScsiResult good = disk.transferDone(t, 8 * 512, DataBuffer.EMPTY, in16);
        assertTrue(good.good());
        assertEquals(8 * 512, good.dataIn());
        assertEquals(8 * 512, good.residual());
        assertSense(disk.transferDone(t, 512, DataBuffer.EMPTY, in16), Sense.MEDIUM_ERROR, 0x11, 0);
        assertSense(disk.transferDone(new ScsiDisk.Transfer(true, 0, 512, false), -5, out8, DataBuffer.EMPTY), Sense.MEDIUM_ERROR, 0x0C, 0);
    }
}
