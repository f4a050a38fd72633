package dev.vmm.cli.img;

import dev.vmm.block.BlockException;
import dev.vmm.block.Images;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.vmm.cli.img.ImgCommandTest.img;
import static dev.vmm.cli.img.ImgCommandTest.qemu;
import static dev.vmm.cli.img.ImgCommandTest.qemuExit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code vmm img} against damaged or hostile files (issue 18). Where QEMU has a behaviour, qemu-img
 * runs on the same file at test time and is the reference.
 */
class HostileImageTest {
    @TempDir Path tmp;

    @BeforeEach
    void tools() {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img not installed (apt-get install qemu-utils)");
    }

    static void assertOneLineError(ImgCommandTest.Run r, int exit, String... fragments) {
        assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(exit);
        assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains(fragments).doesNotContain("Exception", "\tat ");
    }

    // ---- 1: non-regular files ----

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void fifoIsRefusedBeforeReading() throws Exception {
        Path fifo = tmp.resolve("disk.fifo");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
        for (List<String> args : List.of(List.of("info", fifo.toString()), List.of("check", fifo.toString()),
                List.of("map", fifo.toString()), List.of("convert", "-O", "raw", fifo.toString(), tmp.resolve("out.raw").toString()))) {
            assertOneLineError(img(args.toArray(String[]::new)), 1, "not a regular file or block device");
        }
        assertThat(tmp.resolve("out.raw")).doesNotExist();
        assertThatThrownBy(() -> Images.open(fifo, Images.Options.readOnlyDefaults()))
                .isInstanceOf(BlockException.class).hasMessageContaining("not a regular file or block device");
        assertThatThrownBy(() -> Images.open(fifo, Images.Options.readWriteDefaults()))
                .isInstanceOf(BlockException.class).hasMessageContaining("not a regular file or block device");
    }

    @Test
    @Timeout(30)
    void directoryIsRefused() {
        assertOneLineError(img("info", tmp.toString()), 1, "not a regular file or block device");
    }

    @Test
    @Timeout(30)
    void symlinkLoopSaysSo() throws Exception {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        Files.createSymbolicLink(a, b);
        Files.createSymbolicLink(b, a);
        assertOneLineError(img("info", a.toString()), 1, "Too many levels of symbolic links");
        assertOneLineError(img("info", tmp.resolve("missing").toString()), 1, "No such file or directory");
    }

    // ---- 2: VPC footer checksum ----

    @Test
    @Timeout(60)
    void vpcFooterWithBadChecksumIsRefusedLikeQemu() throws Exception {
        for (String sub : List.of("dynamic", "fixed")) {
            for (int field : new int[] {48, 56}) { // current size, geometry (cylinders)
                Path f = tmp.resolve(sub + field + ".vhd");
                qemu("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=" + sub, f.toString(), "8M");
                assertThat(img("info", f.toString()).exit()).isZero();
                // QEMU and we read the copy at offset 0 of a dynamic image, the one at the end of a fixed image
                long footer = sub.equals("fixed") ? Files.size(f) - 512 : 0;
                try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                    raf.seek(footer + field);
                    int b = raf.read();
                    raf.seek(footer + field);
                    raf.write(b ^ 0x01);
                }
                // -f vpc: qemu-img probes a fixed image (no footer copy at offset 0) as raw
                int qemuRc = qemuExit("qemu-img", "info", "-f", "vpc", f.toString());
                ImgCommandTest.Run ours = img("info", "-f", "vpc", f.toString());
                assertThat(qemuRc).as("qemu-img info of " + sub + " with a flipped bit at " + field).isNotZero();
                assertOneLineError(ours, qemuRc, "checksum");
            }
        }
    }

    // ---- 3: check reports what it finds, and opens the backing chain as qemu-img check does ----

    static long beLong(Path f, long off) throws Exception {
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "r")) {
            raf.seek(off);
            return raf.readLong();
        }
    }

    static void putLong(Path f, long off, long v) throws Exception {
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.seek(off);
            raf.writeLong(v);
        }
    }

    @Test
    @Timeout(60)
    void checkReportsL1EntryWithReservedBitsLikeQemu() throws Exception {
        Path f = tmp.resolve("l1.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", f.toString(), "8M");
        qemu("qemu-io", "-c", "write -P 1 0 64k", f.toString());
        long l1 = beLong(f, 40);
        putLong(f, l1, beLong(f, l1) | 2); // a reserved bit of the first L1 entry
        int qemuRc = qemuExit("qemu-img", "check", f.toString());
        ImgCommandTest.Run ours = img("check", f.toString());
        assertThat(ours.exit()).as(ours.out() + ours.err()).isEqualTo(qemuRc);
        assertThat(ours.out()).contains("reserved bits set", "errors were found on the image");
        // the data behind such an entry is not trusted
        assertOneLineError(img("convert", "-O", "raw", f.toString(), tmp.resolve("o.raw").toString()), 1, "reserved bits");
    }

    @Test
    @Timeout(60)
    void checkWithMissingOrUnknownBackingLikeQemu() throws Exception {
        Path base = tmp.resolve("base.raw"), top = tmp.resolve("top.qcow2"), odd = tmp.resolve("odd.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "raw", base.toString(), "8M");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", odd.toString(), "8M");
        // backing format extension says "raw": make it a format nobody knows
        byte[] b = Files.readAllBytes(odd);
        int at = new String(b, java.nio.charset.StandardCharsets.ISO_8859_1).indexOf("raw\0");
        assertThat(at).isPositive();
        b[at] = 'x'; b[at + 1] = 'y'; b[at + 2] = 'z';
        Files.write(odd, b);
        int qemuOdd = qemuExit("qemu-img", "check", odd.toString());
        ImgCommandTest.Run oursOdd = img("check", odd.toString());
        assertThat(qemuOdd).isNotZero();
        assertOneLineError(oursOdd, qemuOdd, "xyz");

        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString(), "8M");
        assertThat(img("check", top.toString()).exit()).isZero();
        Files.delete(base);
        int qemuMissing = qemuExit("qemu-img", "check", top.toString());
        assertThat(qemuMissing).isNotZero();
        assertOneLineError(img("check", top.toString()), qemuMissing, "No such file or directory");
    }

    // ---- 4: map of compressed, unallocated and preallocated clusters ----

    @Test
    @Timeout(60)
    void mapOfCompressedImageFailsLikeQemuInsteadOfAnEmptyTable() throws Exception {
        Path raw = tmp.resolve("z.raw"), f = tmp.resolve("z.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "4M");
        qemu("qemu-io", "-f", "raw", "-c", "write -P 7 0 128k", raw.toString());
        qemu("qemu-img", "convert", "-c", "-O", "qcow2", raw.toString(), f.toString());
        int qemuRc = qemuExit("qemu-img", "map", f.toString());
        ImgCommandTest.Run ours = img("map", f.toString());
        assertThat(ours.exit()).as(ours.out() + ours.err()).isEqualTo(qemuRc).isNotZero();
        assertThat(ours.err()).contains("compressed");
        assertJsonMapEqualsQemu(f);
    }

    @Test
    @Timeout(60)
    void mapJsonPresentAndZeroLikeQemu() throws Exception {
        Path plain = tmp.resolve("u.qcow2"), pre = tmp.resolve("p.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", plain.toString(), "4M");
        qemu("qemu-io", "-c", "write -P 1 64k 64k", "-c", "write -z 1M 64k", plain.toString());
        assertJsonMapEqualsQemu(plain);
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", pre.toString(), "4M");
        qemu("qemu-io", "-c", "write -P 1 64k 64k", pre.toString());
        assertJsonMapEqualsQemu(pre);
    }

    /** present/zero/data of both maps agree at every boundary of either map. */
    static void assertJsonMapEqualsQemu(Path f) throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper m = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.JsonNode q = m.readTree(qemu("qemu-img", "map", "--output=json", f.toString()));
        ImgCommandTest.Run r = img("map", "--output=json", f.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        com.fasterxml.jackson.databind.JsonNode o = m.readTree(r.out());
        java.util.TreeSet<Long> points = new java.util.TreeSet<>();
        for (var n : q) points.add(n.get("start").asLong());
        for (var n : o) points.add(n.get("start").asLong());
        long end = q.get(q.size() - 1).get("start").asLong() + q.get(q.size() - 1).get("length").asLong();
        assertThat(o.get(o.size() - 1).get("start").asLong() + o.get(o.size() - 1).get("length").asLong()).isEqualTo(end);
        for (long p : points) {
            for (String k : List.of("present", "zero", "data")) {
                assertThat(at(o, p).get(k)).as(f.getFileName() + " " + k + " at " + p + "\nours " + r.out() + "\nqemu " + q).isEqualTo(at(q, p).get(k));
            }
        }
    }

    static com.fasterxml.jackson.databind.JsonNode at(com.fasterxml.jackson.databind.JsonNode map, long offset) {
        for (var n : map) {
            long s = n.get("start").asLong();
            if (offset >= s && offset < s + n.get("length").asLong()) return n;
        }
        throw new AssertionError("no entry at " + offset);
    }

    // ---- 5: conversion skips by metadata ----

    @Test
    @Timeout(60)
    void convertingPreallocatedTwentyGigabytesSkipsHoles() throws Exception {
        Path f = tmp.resolve("big.qcow2"), out = tmp.resolve("big.raw");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", f.toString(), "20G");
        qemu("qemu-io", "-c", "write -P 0x5a 10G 64k", f.toString());
        ImgCommandTest.Run r = img("convert", "-O", "raw", f.toString(), out.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Files.size(out)).isEqualTo(20L << 30);
        assertThat(qemuExit("qemu-img", "compare", "-f", "qcow2", "-F", "raw", f.toString(), out.toString())).isZero();
        Process st = new ProcessBuilder("stat", "-c", "%b", out.toString()).start();
        long allocated = Long.parseLong(new String(st.getInputStream().readAllBytes()).strip()) * 512;
        assertThat(allocated).as("host bytes of the converted raw").isLessThan(16L << 20);
    }

    // ---- 6: implausible metadata and messages ----

    @Test
    @Timeout(60)
    void qcow2SizeNotMultipleOf512IsRoundedDownLikeQemu() throws Exception {
        Path f = tmp.resolve("odd.qcow2"), out = tmp.resolve("odd.raw");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", f.toString(), "8M");
        putLong(f, 24, (8L << 20) + 1);
        com.fasterxml.jackson.databind.ObjectMapper m = new com.fasterxml.jackson.databind.ObjectMapper();
        long qemuSize = m.readTree(qemu("qemu-img", "info", "--output=json", f.toString())).get("virtual-size").asLong();
        ImgCommandTest.Run info = img("info", "--json", f.toString());
        assertThat(info.exit()).as(info.err()).isZero();
        assertThat(m.readTree(info.out()).get("virtual-size").asLong()).isEqualTo(qemuSize);
        assertThat(img("convert", "-O", "raw", f.toString(), out.toString()).exit()).isZero();
        assertThat(Files.size(out)).isEqualTo(qemuSize);
    }

    @Test
    @Timeout(60)
    void qcow2CorruptBitmapsExtensionIsNotCleanLikeQemu() throws Exception {
        Path f = tmp.resolve("bm.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", f.toString(), "8M");
        qemu("qemu-img", "bitmap", "--add", f.toString(), "b0");
        // find the bitmaps extension (after the v3 header) and misalign its directory offset
        long ext = java.nio.ByteBuffer.wrap(Files.readAllBytes(f)).getInt(100);
        byte[] b = Files.readAllBytes(f);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b);
        int dirOffsetField = -1;
        for (int off = (int) ext; bb.getInt(off) != 0; off += 8 + ((bb.getInt(off + 4) + 7) & ~7)) {
            if (bb.getInt(off) == 0x23852875) dirOffsetField = off + 8 + 16;
        }
        assertThat(dirOffsetField).isPositive();
        putLong(f, dirOffsetField, bb.getLong(dirOffsetField) + 512);
        int qemuCheck = qemuExit("qemu-img", "check", f.toString());
        ImgCommandTest.Run check = img("check", f.toString());
        assertThat(check.out()).doesNotContain("No errors");
        assertThat(check.exit()).as(check.out() + check.err()).isEqualTo(qemuCheck).isNotZero();
        assertThat(img("info", f.toString()).exit()).isEqualTo(qemuExit("qemu-img", "info", f.toString()));
        assertThat(check.err()).contains("bitmap directory offset");
    }

    @Test
    @Timeout(60)
    void vhdxBlockOverlappingTheHeadersSaysSo() throws Exception {
        Path f = tmp.resolve("h.vhdx");
        qemu("qemu-img", "create", "-q", "-f", "vhdx", f.toString(), "8M");
        qemu("qemu-io", "-f", "vhdx", "-c", "write -P 3 0 64k", f.toString());
        byte[] b = Files.readAllBytes(f);
        java.nio.ByteBuffer rt = java.nio.ByteBuffer.wrap(b, 0x30000, 0x10000).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long batOffset = -1;
        for (int i = 0, n = rt.getInt(8); i < n; i++) {
            if (rt.getInt(16 + 32 * i) == 0x2DC27766) batOffset = rt.getLong(16 + 32 * i + 16); // the BAT region's GUID
        }
        assertThat(batOffset).isPositive();
        java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong((int) batOffset, 6); // fully present at MiB 0
        Files.write(f, b);
        assertOneLineError(img("convert", "-O", "raw", f.toString(), tmp.resolve("h.raw").toString()), 1, "overlaps the headers");
    }

    @Test
    @Timeout(60)
    void convertOntoTheSourcesOwnBackingFileSaysSo() throws Exception {
        Path base = tmp.resolve("base.qcow2"), top = tmp.resolve("top.qcow2");
        qemu("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8M");
        qemu("qemu-io", "-c", "write -P 9 0 64k", base.toString());
        qemu("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.getFileName().toString(), "-F", "qcow2", top.toString());
        byte[] before = Files.readAllBytes(base);
        ImgCommandTest.Run r = img("convert", "-O", "raw", top.toString(), base.toString());
        assertOneLineError(r, 1, "backing file");
        assertThat(r.err()).doesNotContain("another process");
        assertThat(Files.readAllBytes(base)).isEqualTo(before);
    }

    @Test
    @Timeout(60)
    void vhdxVirtualSizeZeroLikeQemu() throws Exception {
        Path f = tmp.resolve("z.vhdx");
        qemu("qemu-img", "create", "-q", "-f", "vhdx", f.toString(), "8M");
        qemu("qemu-io", "-f", "vhdx", "-c", "write -P 3 0 64k", f.toString());
        byte[] b = Files.readAllBytes(f);
        java.nio.ByteBuffer le = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long meta = -1;
        for (int i = 0, n = le.getInt(0x30000 + 8); i < n; i++) {
            int e = 0x30000 + 16 + 32 * i;
            if (le.getInt(e) == 0x8B7CA206) meta = le.getLong(e + 16); // the metadata region's GUID
        }
        assertThat(meta).isPositive();
        int sizeAt = -1;
        for (int i = 0, n = le.getShort((int) meta + 10) & 0xffff; i < n; i++) {
            int e = (int) meta + 32 + 32 * i;
            if (le.getInt(e) == 0x2FA54224) sizeAt = (int) meta + le.getInt(e + 16); // virtual disk size item
        }
        assertThat(sizeAt).isPositive();
        le.putLong(sizeAt, 0);
        Files.write(f, b);
        int qemuRc = qemuExit("qemu-img", "info", f.toString());
        ImgCommandTest.Run ours = img("info", f.toString());
        assertThat(qemuRc).isNotZero();
        assertOneLineError(ours, qemuRc, "virtual size 0");
    }
}
