package dev.vmm.block.vhdx;

import static dev.vmm.block.QemuTools.io;
import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import dev.vmm.block.ImageFormatException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VHDX images larger than one BAT chunk (the BAT interleaves a sector-bitmap entry after every
 * chunk-ratio payload entries, and the ratio depends on the block size), made and
 * written by qemu-img/qemu-io; QEMU 7.2, run here, is the oracle: qemu-io verifies each range's
 * contents ({@code read -P}) and we must read the same; {@code qemu-img info} gives the sizes.
 */
@Timeout(180)
class VhdxQemuOracleTest {
    @TempDir Path tmp;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable();
    }

    private static final Images.Options VHDX = Images.Options.readOnlyDefaults().withFormat(ImageFormat.VHDX);
    private static final long MIB = 1 << 20, GIB = 1L << 30;
    private static final long HOLE = 2 * GIB;   // a block no write touches, whatever the block size

    /** pattern, offset, length: a range across the 4 GiB chunk boundary of most geometries, and others. */
    private static final long[][] WRITES = {
            {0x11, 0, 4096}, {0x22, 4095 * MIB, 2 * MIB}, {0x33, 5 * GIB + 3 * MIB, MIB}, {0x44, 6 * GIB - 8192, 8192}};

    @ParameterizedTest
    @ValueSource(strings = {"1M:dynamic", "8M:dynamic", "256M:dynamic", "32M:fixed"})
    void readsEveryChunkAsQemuDoes(String spec) {
        String[] p = spec.split(":");
        Path img = tmp.resolve("c.vhdx");
        run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=" + p[0] + ",subformat=" + p[1],
                img.toString(), "6G");
        String[] writes = new String[WRITES.length];
        String[] checks = new String[WRITES.length + 2];
        for (int i = 0; i < WRITES.length; i++) {
            writes[i] = "write -P " + WRITES[i][0] + " " + WRITES[i][1] + " " + WRITES[i][2];
            checks[i] = "read -P " + WRITES[i][0] + " " + WRITES[i][1] + " " + WRITES[i][2];
        }
        checks[WRITES.length] = "read -P 0 4096 " + MIB;                  // never written: zeros
        checks[WRITES.length + 1] = "read -P 0 " + HOLE + " " + MIB;
        io(img, "vhdx", writes);
        io(img, "vhdx", checks);   // QEMU itself confirms what the image holds (fails on a mismatch)
        String info = run("qemu-img", "info", "-f", "vhdx", "--output=json", img.toString());

        try (BlockDevice d = Images.open(img, VHDX)) {
            assertThat(d.size()).isEqualTo(number(info, "virtual-size"));
            assertThat(d.info().clusterSize()).isEqualTo(number(info, "cluster-size"));
            assertThat(d.info().formatSpecific()).containsEntry("logical-sector-size", 512) // all QEMU writes
                    .containsEntry("subformat", p[1]);
            for (long[] w : WRITES) {
                byte[] got = new byte[(int) w[2]];
                d.read(w[1], MemorySegment.ofArray(got));
                assertThat(got).as("range at %d", w[1]).containsOnly((byte) w[0]);
                assertThat(d.status(w[1], w[2]).data()).as("written range at %d is data", w[1]).isTrue();
            }
            byte[] gap = new byte[(int) MIB];
            d.read(HOLE, MemorySegment.ofArray(gap));
            assertThat(gap).containsOnly(0);
            // qemu-img marks untouched blocks NOT_PRESENT (dynamic) or ZERO (fixed, block_state_zero=on).
            Extent hole = d.status(HOLE, MIB);
            assertThat(hole.data()).isFalse();
            assertThat(hole.zero()).isTrue();
        }
    }

    private static final long HEADER1 = 64 << 10, HEADER2 = 128 << 10;

    /** A header field changed, its CRC-32C redone or (crcOk false) left stale. */
    private static void patchHeader(Path img, long header, int field, byte[] value, boolean crcOk) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            byte[] h = new byte[4096];
            f.seek(header);
            f.readFully(h);
            System.arraycopy(value, 0, h, field, value.length);
            if (crcOk) {
                ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
                b.putInt(4, 0);
                CRC32C crc = new CRC32C();
                crc.update(h);
                b.putInt(4, (int) crc.getValue());
            }
            f.seek(header);
            f.write(h);
        }
    }

    private static long sequence(Path img, long header) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            byte[] b = new byte[8];
            f.seek(header + 8);
            f.readFully(b);
            return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
        }
    }

    /**
     * Which of the two headers counts: the valid one (signature and CRC) with the higher sequence
     * number. The other copy is made unusable (version 2) and QEMU decides whether the image opens.
     */
    @ParameterizedTest
    // "newer-version-2": a valid header copy with the higher sequence number but version 2. QEMU 7.2
    // counts the version as part of a copy's validity and opens the image from the other copy.
    @ValueSource(strings = {"bad-crc", "bad-signature", "valid-but-older", "newer-version-2"})
    void theCurrentHeaderIsChosenAsQemuChoosesIt(String how) throws IOException {
        Path img = tmp.resolve("h.vhdx");
        run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", img.toString(), "8M");
        io(img, "vhdx", "write -P 0x77 1m 4k");
        long newer = sequence(img, HEADER1) > sequence(img, HEADER2) ? HEADER1 : HEADER2;
        long older = newer == HEADER1 ? HEADER2 : HEADER1;
        byte[] version2 = {2, 0};
        switch (how) {
            case "bad-crc" -> patchHeader(img, newer, 66, version2, false);
            case "bad-signature" -> {
                patchHeader(img, newer, 66, version2, true);
                patchHeader(img, newer, 0, "hexd".getBytes(StandardCharsets.US_ASCII), true);
            }
            case "newer-version-2" -> patchHeader(img, newer, 66, version2, true);
            default -> patchHeader(img, older, 66, version2, true);
        }
        boolean qemuOpens = QemuTools.exec("qemu-img", "info", "-f", "vhdx", img.toString()).exit() == 0;
        if (!qemuOpens) {
            assertThatThrownBy(() -> Images.open(img, VHDX).close()).isInstanceOf(ImageFormatException.class);
            return;
        }
        io(img, "vhdx", "read -P 0x77 1m 4k");
        try (BlockDevice d = Images.open(img, VHDX)) {
            byte[] got = new byte[4096];
            d.read(MIB, MemorySegment.ofArray(got));
            assertThat(got).containsOnly(0x77);
        }
    }

    /**
     * A log GUID in the headers and one 4 KiB log entry at the start of the log: valid (the image
     * was not closed cleanly), for another GUID, or with a bad CRC. qemu-img (read-only) refuses an
     * image whose log needs replaying; we must refuse exactly when it does, and read the same
     * otherwise.
     */
    @ParameterizedTest
    @ValueSource(strings = {"valid", "other-guid", "bad-crc", "long-entry"})
    void aLogThatNeedsReplayingIsRefusedAsQemuRefusesIt(String how) throws IOException {
        Path img = tmp.resolve("l.vhdx");
        run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", img.toString(), "8M");
        io(img, "vhdx", "write -P 0x66 2m 4k");
        java.util.UUID guid = java.util.UUID.fromString("12345678-1234-5678-9abc-def012345678");
        byte[] g = guidBytes(guid);
        patchHeader(img, HEADER1, 48, g, true);
        patchHeader(img, HEADER2, 48, g, true);
        long logOffset;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            byte[] h = new byte[8];
            f.seek(HEADER1 + 72);
            f.readFully(h);
            logOffset = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN).getLong();
            int length = how.equals("long-entry") ? 8192 : 4096;   // an entry spanning two 4 KiB sectors
            ByteBuffer e = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
            e.put(0, "loge".getBytes(StandardCharsets.US_ASCII)).putInt(8, length).putLong(16, 1);
            e.put(32, how.equals("other-guid") ? guidBytes(java.util.UUID.fromString("87654321-1234-5678-9abc-def012345678")) : g);
            e.putLong(48, f.length()).putLong(56, f.length());
            CRC32C crc = new CRC32C();
            crc.update(e.array());
            e.putInt(4, (int) crc.getValue() ^ (how.equals("bad-crc") ? 1 : 0));
            f.seek(logOffset);
            f.write(e.array());
        }
        boolean qemuOpens = QemuTools.exec("qemu-img", "info", "-f", "vhdx", img.toString()).exit() == 0;
        if (how.equals("valid")) assertThat(qemuOpens).as("premise: QEMU refuses a log to replay").isFalse();
        if (!qemuOpens) {
            assertThatThrownBy(() -> Images.open(img, VHDX).close()).isInstanceOf(ImageFormatException.class)
                    .hasMessageContaining("log");
            return;
        }
        io(img, "vhdx", "read -P 0x66 2m 4k");
        try (BlockDevice d = Images.open(img, VHDX)) {
            byte[] got = new byte[4096];
            d.read(2 * MIB, MemorySegment.ofArray(got));
            assertThat(got).containsOnly(0x66);
        }
    }

    /** A GUID as VHDX stores it: the first three fields little-endian. */
    private static byte[] guidBytes(java.util.UUID u) {
        ByteBuffer b = ByteBuffer.allocate(16);
        long msb = u.getMostSignificantBits();
        b.order(ByteOrder.LITTLE_ENDIAN).putInt((int) (msb >>> 32)).putShort((short) (msb >>> 16)).putShort((short) msb);
        b.order(ByteOrder.BIG_ENDIAN).putLong(u.getLeastSignificantBits());
        return b.array();
    }

    private static long number(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\": (\\d+)").matcher(json);
        assertThat(m.find()).as(key).isTrue();
        return Long.parseLong(m.group(1));
    }
}
