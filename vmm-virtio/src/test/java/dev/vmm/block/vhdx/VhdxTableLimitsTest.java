package dev.vmm.block.vhdx;

import static dev.vmm.block.QemuTools.io;
import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import dev.vmm.block.vhdx.VhdxTables.Item;
import dev.vmm.block.vhdx.VhdxTables.Region;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Region and metadata tables exactly at the limits the reader checks and just past them, built by
 * hand ({@link VhdxTables}) into an image qemu-img made (8 MiB, 1 MiB blocks, 4 KiB of 0x66 at
 * 2 MiB), and a log entry that wraps around the end of the log. QEMU 7.2, run here, is the oracle:
 * where qemu-io reads the image (and verifies the pattern) we must read the same; where it refuses
 * the image, we must refuse it too. Each case also states which way QEMU goes (a premise), so that
 * a case cannot silently stop testing its limit.
 */
@Timeout(180)
class VhdxTableLimitsTest {
    @TempDir Path tmp;

    private static final Images.Options VHDX = Images.Options.readOnlyDefaults().withFormat(ImageFormat.VHDX);
    private static final long MIB = 1 << 20;
    private static final UUID UNKNOWN = UUID.fromString("11111111-2222-3333-4444-555555555555");
    private static final int REQUIRED_ITEM = 4;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable();
    }

    private Path image(boolean withData) {
        Path img = tmp.resolve("t.vhdx");
        run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", img.toString(), "8M");
        if (withData) io(img, "vhdx", "write -P 0x66 2m 4k");
        return img;
    }

    /** QEMU reads {@code pattern} at 2 MiB (premise: exactly when {@code qemuReads}); we read the same or refuse as QEMU does. */
    private static void sameAsQemu(Path img, int pattern, boolean qemuReads) {
        boolean qemuOpens = QemuTools.exec("qemu-io", "-r", "-f", "vhdx", "-c", "read -P " + pattern + " 2m 4k", img.toString()).exit() == 0;
        assertThat(qemuOpens).as("premise: QEMU %s this image", qemuReads ? "reads" : "refuses").isEqualTo(qemuReads);
        if (!qemuOpens) {
            assertThatThrownBy(() -> Images.open(img, VHDX).close()).isInstanceOf(ImageFormatException.class);
            return;
        }
        try (BlockDevice d = Images.open(img, VHDX)) {
            byte[] got = new byte[4096];
            d.read(2 * MIB, MemorySegment.ofArray(got));
            assertThat(got).containsOnly(pattern);
        }
    }

    /** The region table holds at most 2047 entries: a count of 2047 (the extra entries all zero: empty, unknown, optional) opens, 2048 does not. */
    @ParameterizedTest
    @ValueSource(ints = {2047, 2048})
    void regionCountAtTheLimit(int count) throws IOException {
        Path img = image(true);
        VhdxTables.writeRegions(img, VhdxTables.regions(img), count);
        sameAsQemu(img, 0x66, count <= 2047);
    }

    /**
     * An unknown region that is not required is never read: it may lie anywhere, even past the end
     * of the file (the file is grown by 1 MiB first so that its last MiB holds no data block).
     */
    @ParameterizedTest
    @ValueSource(strings = {"empty-at-eof", "ending-at-eof", "crossing-eof", "past-eof"})
    void anUnknownOptionalRegionIsIgnoredWhereverItLies(String where) throws IOException {
        Path img = image(true);
        long grown = Files.size(img) + MIB;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(grown);
        }
        Region extra = switch (where) {
            case "empty-at-eof" -> new Region(UNKNOWN, grown, 0, false);
            case "ending-at-eof" -> new Region(UNKNOWN, grown - MIB, MIB, false);
            case "crossing-eof" -> new Region(UNKNOWN, grown - MIB, MIB + 4096, false);
            default -> new Region(UNKNOWN, grown + MIB, MIB, false);
        };
        List<Region> regions = new ArrayList<>(VhdxTables.regions(img));
        regions.add(extra);
        VhdxTables.writeRegions(img, regions);
        sameAsQemu(img, 0x66, true);
    }

    @Test
    void anUnknownRequiredRegionIsRefused() throws IOException {
        Path img = image(true);
        List<Region> regions = new ArrayList<>(VhdxTables.regions(img));
        regions.add(new Region(UNKNOWN, Files.size(img), 0, true));
        VhdxTables.writeRegions(img, regions);
        sameAsQemu(img, 0x66, false);
        assertThatThrownBy(() -> Images.open(img, VHDX).close()).hasMessageContaining("requires unknown region " + UNKNOWN);
    }

    /**
     * An image no write touched, cut right after its metadata region (qemu-img lays it out last;
     * no block is present): the region reaches exactly the end of the file.
     */
    @Test
    void aMetadataRegionEndingExactlyAtTheEndOfTheFileIsRead() throws IOException {
        Path img = image(false);
        Region meta = VhdxTables.region(img, VhdxImage.METADATA_REGION);
        assertThat(meta.offset() + meta.length()).as("premise: the metadata region is last").isLessThanOrEqualTo(Files.size(img));
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(meta.offset() + meta.length());
        }
        sameAsQemu(img, 0, true);
    }

    /** The metadata table holds at most 2047 entries (zero entries past the five real ones: empty items, skipped). */
    @ParameterizedTest
    @ValueSource(ints = {2047, 2048})
    void metadataItemCountAtTheLimit(int count) throws IOException {
        Path img = image(true);
        VhdxTables.writeItems(img, VhdxTables.items(img), count);
        sameAsQemu(img, 0x66, count <= 2047);
    }

    /** An item may be 64 KiB long and end exactly where the metadata region ends (the virtual disk ID is moved there). */
    @Test
    void aMetadataItemOf64KibEndingAtTheRegionEndIsRead() throws IOException {
        Path img = image(true);
        long metaLen = VhdxTables.region(img, VhdxImage.METADATA_REGION).length();
        List<Item> items = new ArrayList<>();
        for (Item it : VhdxTables.items(img)) {
            items.add(it.id().equals(VhdxImage.VIRTUAL_DISK_ID) ? new Item(it.id(), metaLen - (64 << 10), 64 << 10, it.flags()) : it);
        }
        VhdxTables.writeItems(img, items);
        sameAsQemu(img, 0x66, true);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void anUnknownMetadataItemIsRefusedOnlyWhenRequired(boolean required) throws IOException {
        Path img = image(true);
        List<Item> items = new ArrayList<>(VhdxTables.items(img));
        items.add(new Item(UNKNOWN, 128 << 10, 8, required ? REQUIRED_ITEM : 0));
        VhdxTables.writeItems(img, items);
        sameAsQemu(img, 0x66, !required);
        if (required) {
            assertThatThrownBy(() -> Images.open(img, VHDX).close()).hasMessageContaining("requires unknown metadata item " + UNKNOWN);
        }
    }

    /**
     * A valid 8 KiB log entry written at the last 4 KiB of the log, its second half wrapping to the
     * log's start (the log is circular): the image needs replaying, so QEMU refuses it read-only,
     * and so must we, which needs the wrapped entry read whole to check its CRC. With a CRC that is
     * off by one bit the entry is not valid and both read the image.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aLogEntryWrappingAroundTheEndOfTheLogIsReadWhole(boolean validCrc) throws IOException {
        Path img = image(true);
        UUID guid = UUID.fromString("12345678-1234-5678-9abc-def012345678");
        long logOffset, logLength;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            for (long header : new long[] {64 << 10, 128 << 10}) {
                byte[] h = VhdxTables.read(img, header, 4096);
                ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
                b.put(48, VhdxTables.guidBytes(guid)).putInt(4, 0);
                CRC32C crc = new CRC32C();
                crc.update(h);
                b.putInt(4, (int) crc.getValue());
                f.seek(header);
                f.write(h);
            }
            ByteBuffer h = ByteBuffer.wrap(VhdxTables.read(img, 64 << 10, 4096)).order(ByteOrder.LITTLE_ENDIAN);
            logLength = h.getInt(68) & 0xffffffffL;
            logOffset = h.getLong(72);
            ByteBuffer e = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN);
            e.put(0, "loge".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putInt(8, 8192).putLong(16, 1);
            e.put(32, VhdxTables.guidBytes(guid)).putLong(48, f.length()).putLong(56, f.length());
            e.putInt(8192 - 4, 0x5a5a5a5a);   // something in the wrapped half, covered by the CRC
            CRC32C crc = new CRC32C();
            crc.update(e.array());
            e.putInt(4, (int) crc.getValue() ^ (validCrc ? 0 : 1));
            f.seek(logOffset + logLength - 4096);
            f.write(e.array(), 0, 4096);
            f.seek(logOffset);
            f.write(e.array(), 4096, 4096);
        }
        sameAsQemu(img, 0x66, !validCrc);
        if (validCrc) assertThatThrownBy(() -> Images.open(img, VHDX).close()).hasMessageContaining("non-empty log");
    }
}
