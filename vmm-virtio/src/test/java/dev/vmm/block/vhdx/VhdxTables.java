package dev.vmm.block.vhdx;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * Rewrites the tables of a VHDX image (one qemu-img made) by hand, as the VHDX v1.0 specification
 * lays them out: the region table (both copies, at 192 and 256 KiB, with its CRC-32C) and the
 * metadata table at the start of the metadata region (no checksum). Used to build tables at and
 * just past the limits the reader checks, which qemu-img never writes.
 */
final class VhdxTables {
    static final long REGION1 = 192 << 10, REGION2 = 256 << 10;
    static final int REGION_TABLE_SIZE = 64 << 10;

    /** A region table entry: GUID, file offset, length, "required" bit. */
    record Region(UUID id, long offset, long length, boolean required) {}

    /** A metadata table entry: GUID, offset in the metadata region, length, flags word (bit 2: required). */
    record Item(UUID id, long offset, long length, int flags) {}

    private VhdxTables() {}

    static List<Region> regions(Path img) throws IOException {
        ByteBuffer rt = le(read(img, REGION1, REGION_TABLE_SIZE));
        List<Region> out = new ArrayList<>();
        for (int i = 0; i < rt.getInt(8); i++) {
            int e = 16 + i * 32;
            out.add(new Region(VhdxImage.guid(rt, e), rt.getLong(e + 16), rt.getInt(e + 24) & 0xffffffffL, (rt.getInt(e + 28) & 1) != 0));
        }
        return out;
    }

    /** Writes both region table copies with these entries and a count of {@code count} (may differ from the list). */
    static void writeRegions(Path img, List<Region> entries, long count) throws IOException {
        ByteBuffer rt = le(new byte[REGION_TABLE_SIZE]);
        rt.put(0, new byte[] {'r', 'e', 'g', 'i'}).putInt(8, (int) count);
        for (int i = 0; i < entries.size(); i++) {
            Region r = entries.get(i);
            int e = 16 + i * 32;
            rt.put(e, guidBytes(r.id())).putLong(e + 16, r.offset()).putInt(e + 24, (int) r.length()).putInt(e + 28, r.required() ? 1 : 0);
        }
        CRC32C crc = new CRC32C();
        crc.update(rt.array());
        rt.putInt(4, (int) crc.getValue());
        write(img, REGION1, rt.array());
        write(img, REGION2, rt.array());
    }

    static void writeRegions(Path img, List<Region> entries) throws IOException {
        writeRegions(img, entries, entries.size());
    }

    static Region region(Path img, UUID id) throws IOException {
        return regions(img).stream().filter(r -> r.id().equals(id)).findFirst().orElseThrow();
    }

    static List<Item> items(Path img) throws IOException {
        long meta = region(img, VhdxImage.METADATA_REGION).offset();
        ByteBuffer mt = le(read(img, meta, 64 << 10));
        List<Item> out = new ArrayList<>();
        for (int i = 0; i < (mt.getShort(10) & 0xffff); i++) {
            int e = 32 + i * 32;
            out.add(new Item(VhdxImage.guid(mt, e), mt.getInt(e + 16) & 0xffffffffL, mt.getInt(e + 20) & 0xffffffffL, mt.getInt(e + 24)));
        }
        return out;
    }

    /** Rewrites the metadata table (header and entries; the item values stay where they are). */
    static void writeItems(Path img, List<Item> entries, int count) throws IOException {
        long meta = region(img, VhdxImage.METADATA_REGION).offset();
        ByteBuffer mt = le(new byte[64 << 10]);
        mt.put(0, new byte[] {'m', 'e', 't', 'a', 'd', 'a', 't', 'a'}).putShort(10, (short) count);
        for (int i = 0; i < entries.size(); i++) {
            Item it = entries.get(i);
            int e = 32 + i * 32;
            mt.put(e, guidBytes(it.id())).putInt(e + 16, (int) it.offset()).putInt(e + 20, (int) it.length()).putInt(e + 24, it.flags());
        }
        write(img, meta, mt.array());
    }

    static void writeItems(Path img, List<Item> entries) throws IOException {
        writeItems(img, entries, entries.size());
    }

    /** A GUID as VHDX stores it: the first three fields little-endian, the last eight bytes as they are. */
    static byte[] guidBytes(UUID u) {
        ByteBuffer b = ByteBuffer.allocate(16);
        long msb = u.getMostSignificantBits();
        b.order(ByteOrder.LITTLE_ENDIAN).putInt((int) (msb >>> 32)).putShort((short) (msb >>> 16)).putShort((short) msb);
        b.order(ByteOrder.BIG_ENDIAN).putLong(u.getLeastSignificantBits());
        return b.array();
    }

    static byte[] read(Path img, long at, int len) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            byte[] b = new byte[len];
            f.seek(at);
            f.readFully(b);
            return b;
        }
    }

    static void write(Path img, long at, byte[] data) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(at);
            f.write(data);
        }
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
