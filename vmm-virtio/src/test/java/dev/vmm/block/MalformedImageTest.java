package dev.vmm.block;

import dev.vmm.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Lying or damaged images: one clear one-line error (an {@link ImageFormatException} or
 * {@link BlockException}), no other exception, no hang, no allocation sized by the lie.
 */
class MalformedImageTest {
    @TempDir Path tmp;

    private Path qcow2(String name, long size, long clusterSize) {
        Path p = tmp.resolve(name);
        Qcow2Creator.create(p, size, new Qcow2Creator.Options(3, clusterSize, false, 16, null, null));
        return p;
    }

    private static void patch(Path p, long off, long value, int bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(off);
            for (int i = bytes - 1; i >= 0; i--) f.write((int) (value >>> (8 * i)));
        }
    }

    /** Opens and reads the whole disk; must fail with one clear line. */
    private static void assertRejected(Path p, ImageFormat format, String messagePart) {
        assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                assertThatThrownBy(() -> {
                    try (BlockDevice d = Images.open(p, Images.Options.readOnlyDefaults().withFormat(format))) {
                        byte[] buf = new byte[1 << 16];
                        for (long off = 0; off < d.size(); off += buf.length) {
                            d.read(off, MemorySegment.ofArray(buf).asSlice(0, Math.min(buf.length, d.size() - off)));
                        }
                    }
                }).isInstanceOf(BlockException.class)
                        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n").contains(messagePart)));
    }

    @Test
    void truncatedHeader() throws IOException {
        Path p = tmp.resolve("t.qcow2");
        Files.write(p, new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3, 0, 0});
        assertRejected(p, null, "truncated");
    }

    @Test
    void clusterBitsOutOfRange() throws IOException {
        Path p = qcow2("cb.qcow2", 1 << 20, 65536);
        patch(p, 20, 8, 4);
        assertRejected(p, null, "cluster_bits 8 is out of range");
        patch(p, 20, 0xffffffffL, 4);
        assertRejected(p, null, "cluster_bits 4294967295 is out of range");
    }

    @Test
    void l1TableOutOfFile() throws IOException {
        Path p = qcow2("l1.qcow2", 1 << 20, 65536);
        patch(p, 40, 1L << 40, 8);
        assertRejected(p, null, "L1 table");
    }

    @Test
    void hugeL1IsRefusedBeforeAllocating() throws IOException {
        Path p = qcow2("hl1.qcow2", 1 << 20, 65536);
        patch(p, 36, 0x7fffffffL, 4);
        assertRejected(p, null, "L1 table is too large");
        patch(p, 36, 0x100000L, 4); // 8 MiB: allowed by the cap, but not by the file
        assertRejected(p, null, "past the end of the file");
    }

    @Test
    void refcountTableOutOfFile() throws IOException {
        Path p = qcow2("rt.qcow2", 1 << 20, 65536);
        patch(p, 48, 1L << 50, 8);
        assertRejected(p, null, "refcount table");
        Path q = qcow2("rt2.qcow2", 1 << 20, 65536);
        patch(q, 56, 0xffffffffL, 4);
        assertRejected(q, null, "refcount table is too large");
    }

    @Test
    void sizeOverflow() throws IOException {
        Path p = qcow2("sz.qcow2", 1 << 20, 512);
        patch(p, 24, Long.MAX_VALUE, 8);
        assertRejected(p, null, "virtual size");
        Path q = qcow2("sz2.qcow2", 1 << 20, 512);
        patch(q, 24, 1L << 40, 8); // L1 (32 entries) far too small for 1 TiB
        assertRejected(q, null, "L1 table is too small");
    }

    @Test
    void l2AndDataOffsetsPastTheEnd() throws IOException {
        Path p = qcow2("off.qcow2", 1 << 20, 65536);
        try (BlockDevice d = Images.open(p, Images.Options.readWriteDefaults())) {
            d.write(0, MemorySegment.ofArray(new byte[4096]));
        }
        long l1 = readLong(p, 40);
        long l2 = readLong(p, l1) & 0x00fffffffffffe00L;
        patch(p, l2, 0x8000000000000000L | (1L << 40), 8); // data cluster far past the end
        assertRejected(p, null, "invalid offset");
        patch(p, l1, 0x8000000000000000L | (1L << 41), 8); // L2 table far past the end
        assertRejected(p, null, "past the end of the file");
        patch(p, l1, 0x8000000000000000L | 0x10200, 8); // unaligned L2 table
        assertRejected(p, null, "not cluster aligned");
    }

    @Test
    void unknownIncompatibleFeature() throws IOException {
        Path p = qcow2("feat.qcow2", 1 << 20, 65536);
        patch(p, 72, 1L << 20, 8);
        assertRejected(p, null, "unsupported incompatible feature(s): bit 20");
        patch(p, 72, 1L << 4 | 1L << 2, 8); // external data file
        assertRejected(p, null, "external data file");
    }

    @Test
    void loopingBackingChain() {
        Path a = tmp.resolve("a.qcow2"), b = tmp.resolve("b.qcow2");
        Qcow2Creator.create(a, 1 << 20, Qcow2Creator.Options.defaults().withBacking("b.qcow2", "qcow2"));
        Qcow2Creator.create(b, 1 << 20, Qcow2Creator.Options.defaults().withBacking("a.qcow2", "qcow2"));
        assertRejected(a, null, "backing chain loops");
        Path self = tmp.resolve("self.qcow2");
        Qcow2Creator.create(self, 1 << 20, Qcow2Creator.Options.defaults().withBacking("self.qcow2", null));
        assertRejected(self, null, "backing chain loops");
    }

    @Test
    void missingBackingFile() {
        Path a = tmp.resolve("orphan.qcow2");
        Qcow2Creator.create(a, 1 << 20, Qcow2Creator.Options.defaults().withBacking("gone.raw", "raw"));
        assertRejected(a, null, "gone.raw");
    }

    @Test
    void corruptCompressedCluster() throws IOException {
        Path p = qcow2("comp.qcow2", 1 << 20, 65536);
        try (BlockDevice d = Images.open(p, Images.Options.readWriteDefaults())) {
            d.write(0, MemorySegment.ofArray(new byte[4096]));
        }
        long l1 = readLong(p, 40);
        long l2 = readLong(p, l1) & 0x00fffffffffffe00L;
        long host = readLong(p, l2) & 0x00fffffffffffe00L;
        patch(p, host, 0xffffffffffffffffL, 8); // garbage deflate stream
        patch(p, l2, 0x4000000000000000L | host, 8); // claim it is compressed
        assertRejected(p, null, "compressed cluster");
    }

    @Test
    void vpcLies() throws IOException {
        Path p = tmp.resolve("v.vpc");
        byte[] f = new byte[512 + 1024 + 512];
        byte[] footer = footer(3, 1024 * 1024, 512);
        System.arraycopy(footer, 0, f, 0, 512);
        System.arraycopy(footer, 0, f, f.length - 512, 512);
        byte[] dyn = "cxsparse".getBytes();
        System.arraycopy(dyn, 0, f, 512, 8);
        put(f, 512 + 16, 1L << 40, 8); // BAT far past the end
        put(f, 512 + 28, 1 << 30, 4); // max table entries: a billion
        put(f, 512 + 32, 2 << 20, 4);
        Files.write(p, f);
        assertRejected(p, null, "vpc block table");
        put(f, 512 + 28, 2, 4);
        put(f, 512 + 32, 3, 4); // not a power of two
        Files.write(p, f);
        assertRejected(p, null, "vpc block size 3 is invalid");
        Files.write(p, new byte[] {'c', 'o', 'n', 'e', 'c', 't', 'i', 'x'});
        assertRejected(p, ImageFormat.VPC, "truncated");
        put(footer, 48, 512 * 1024, 8); // size changed, checksum not updated
        System.arraycopy(footer, 0, f, 0, 512);
        Files.write(p, f);
        assertRejected(p, null, "vpc footer checksum mismatch");
    }

    private static byte[] footer(int type, long size, long dynOffset) {
        byte[] b = new byte[512];
        System.arraycopy("conectix".getBytes(), 0, b, 0, 8);
        put(b, 16, dynOffset, 8);
        System.arraycopy("tap\0".getBytes(), 0, b, 28, 4);
        put(b, 40, size, 8);
        put(b, 48, size, 8);
        put(b, 60, type, 4);
        int sum = 0; // a valid checksum, so that the lies below the footer are what is tested
        for (byte x : b) sum += x & 0xff;
        put(b, 64, ~sum & 0xffffffffL, 4);
        return b;
    }

    @Test
    void vhdxLies() throws IOException {
        Path p = tmp.resolve("x.vhdx");
        byte[] f = new byte[1 << 20];
        System.arraycopy("vhdxfile".getBytes(), 0, f, 0, 8);
        Files.write(p, f);
        assertRejected(p, null, "no valid header");
        Files.write(p, new byte[] {'v', 'h', 'd', 'x', 'f', 'i', 'l', 'e'});
        assertRejected(p, null, "truncated");
    }

    private static void put(byte[] b, int off, long v, int n) {
        for (int i = 0; i < n; i++) b[off + i] = (byte) (v >>> (8 * (n - 1 - i)));
    }

    private static long readLong(Path p, long off) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
            f.seek(off);
            return f.readLong();
        }
    }
}
