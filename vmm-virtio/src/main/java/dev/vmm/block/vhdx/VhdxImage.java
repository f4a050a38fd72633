package dev.vmm.block.vhdx;

import dev.vmm.block.Extent;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.ImageInfo;
import dev.vmm.block.ReadOnlyImage;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * VHDX images (Microsoft's VHDX format specification v1.0), fixed and dynamic, read-only.
 * Every structure's signature and CRC-32C is checked. An image whose log holds entries (not closed
 * cleanly) is refused rather than read with stale metadata; differencing images are refused.
 */
public final class VhdxImage extends ReadOnlyImage {
    private static final long HEADER1 = 64 << 10, HEADER2 = 128 << 10, REGION1 = 192 << 10, REGION2 = 256 << 10;
    private static final int HEADER_SIZE = 4096, REGION_TABLE_SIZE = 64 << 10;
    private static final long MAX_SIZE = 64L << 40;
    static final UUID BAT_REGION = UUID.fromString("2DC27766-F623-4200-9D64-115E9BFD4A08");
    static final UUID METADATA_REGION = UUID.fromString("8B7CA206-4790-4B9A-B8FE-575F050F886E");
    static final UUID FILE_PARAMETERS = UUID.fromString("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
    static final UUID VIRTUAL_DISK_SIZE = UUID.fromString("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
    static final UUID VIRTUAL_DISK_ID = UUID.fromString("BECA12AB-B2E6-4523-93EF-C309E000C746");
    static final UUID LOGICAL_SECTOR_SIZE = UUID.fromString("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
    static final UUID PHYSICAL_SECTOR_SIZE = UUID.fromString("CDA348C7-445D-4471-9CC9-E9885251C556");
    static final UUID PARENT_LOCATOR = UUID.fromString("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");
    private static final int BLOCK_NOT_PRESENT = 0, BLOCK_UNDEFINED = 1, BLOCK_ZERO = 2, BLOCK_UNMAPPED = 3,
            BLOCK_FULLY_PRESENT = 6, BLOCK_PARTIALLY_PRESENT = 7;

    private final long size;
    private final long blockSize;
    private final int logicalSectorSize;
    private final long[] bat;
    private final long chunkRatio;
    private final long fileSize;
    private final boolean fixed;

    private VhdxImage(ImageFile file, long size, long blockSize, int logicalSectorSize, long[] bat, long chunkRatio, boolean fixed) {
        super(file);
        this.size = size;
        this.blockSize = blockSize;
        this.logicalSectorSize = logicalSectorSize;
        this.bat = bat;
        this.chunkRatio = chunkRatio;
        this.fileSize = file.size();
        this.fixed = fixed;
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Microsoft GUIDs store their first three fields little-endian. */
    static UUID guid(ByteBuffer b, int off) {
        ByteBuffer l = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long msb = ((l.getInt(off) & 0xffffffffL) << 32) | ((l.getShort(off + 4) & 0xffffL) << 16) | (l.getShort(off + 6) & 0xffffL);
        long lsb = b.duplicate().order(ByteOrder.BIG_ENDIAN).getLong(off + 8);
        return new UUID(msb, lsb);
    }

    private static boolean crcOk(byte[] data, int checksumOffset) {
        int stored = le(data).getInt(checksumOffset);
        byte[] copy = data.clone();
        le(copy).putInt(checksumOffset, 0);
        CRC32C crc = new CRC32C();
        crc.update(copy);
        return (int) crc.getValue() == stored;
    }

    private static boolean signature(byte[] b, int off, String sig) {
        for (int i = 0; i < sig.length(); i++) if (b[off + i] != sig.charAt(i)) return false;
        return true;
    }

    public static VhdxImage open(ImageFile file) {
        long fileSize = file.size();
        if (fileSize < REGION2 + REGION_TABLE_SIZE) throw new ImageFormatException("vhdx image is truncated (" + fileSize + " bytes)");
        if (!signature(file.readBytes(0, 8), 0, "vhdxfile")) throw new ImageFormatException("not a vhdx image (bad file identifier)");

        // The current header is the valid one with the higher sequence number. A copy of another
        // version than 1 is not valid (as QEMU counts it): the other copy is used then.
        ByteBuffer header = null;
        long bestSeq = -1;
        int otherVersion = -1;
        for (long at : new long[] {HEADER1, HEADER2}) {
            byte[] h = file.readBytes(at, HEADER_SIZE);
            if (!signature(h, 0, "head") || !crcOk(h, 4)) continue;
            int version = le(h).getShort(66) & 0xffff;
            if (version != 1) {
                otherVersion = version;
                continue;
            }
            long seq = le(h).getLong(8);
            if (header == null || Long.compareUnsigned(seq, bestSeq) > 0) {
                header = le(h);
                bestSeq = seq;
            }
        }
        if (header == null && otherVersion >= 0) throw new ImageFormatException("vhdx version " + otherVersion + " is not supported");
        if (header == null) throw new ImageFormatException("vhdx image has no valid header (bad signature or checksum in both copies)");
        UUID logGuid = guid(header, 48);
        long logLength = header.getInt(68) & 0xffffffffL, logOffset = header.getLong(72);
        if (logGuid.getMostSignificantBits() != 0 || logGuid.getLeastSignificantBits() != 0) {
            checkLogEmpty(file, logGuid, logOffset, logLength, fileSize);
        }

        byte[] regions = null;
        for (long at : new long[] {REGION1, REGION2}) {
            byte[] r = file.readBytes(at, REGION_TABLE_SIZE);
            if (signature(r, 0, "regi") && crcOk(r, 4)) { regions = r; break; }
        }
        if (regions == null) throw new ImageFormatException("vhdx image has no valid region table");
        ByteBuffer rt = le(regions);
        long count = rt.getInt(8) & 0xffffffffL;
        if (count > 2047) throw new ImageFormatException("vhdx region table has too many entries (" + count + ")");
        long batOff = -1, batLen = 0, metaOff = -1, metaLen = 0;
        for (int i = 0; i < count; i++) {
            int e = 16 + i * 32;
            UUID id = guid(rt, e);
            long off = rt.getLong(e + 16), len = rt.getInt(e + 24) & 0xffffffffL;
            boolean required = (rt.getInt(e + 28) & 1) != 0;
            boolean known = id.equals(BAT_REGION) || id.equals(METADATA_REGION);
            if (!known) {
                // never read: an optional one is ignored wherever it lies, as QEMU 7.2 does
                if (required) throw new ImageFormatException("vhdx image requires unknown region " + id);
                continue;
            }
            if (off < 0 || (off & 0xfffff) != 0 || off > fileSize || len > fileSize - off) {
                throw new ImageFormatException("vhdx region " + id + " (offset 0x" + Long.toHexString(off) + ", " + len + " bytes) lies outside the file");
            }
            if (id.equals(BAT_REGION)) { batOff = off; batLen = len; }
            else { metaOff = off; metaLen = len; }
        }
        if (batOff < 0 || metaOff < 0) throw new ImageFormatException("vhdx image lacks its " + (batOff < 0 ? "BAT" : "metadata") + " region");

        // Metadata: table of items, each an (offset, length) inside the metadata region.
        if (metaLen < 64 << 10) throw new ImageFormatException("vhdx metadata region is too small");
        ByteBuffer mt = le(file.readBytes(metaOff, 64 << 10));
        if (!signature(mt.array(), 0, "metadata")) throw new ImageFormatException("vhdx metadata table has a bad signature");
        int items = mt.getShort(10) & 0xffff;
        if (items > 2047) throw new ImageFormatException("vhdx metadata table has too many entries (" + items + ")");
        Map<UUID, byte[]> meta = new LinkedHashMap<>();
        for (int i = 0; i < items; i++) {
            int e = 32 + i * 32;
            UUID id = guid(mt, e);
            long off = mt.getInt(e + 16) & 0xffffffffL, len = mt.getInt(e + 20) & 0xffffffffL;
            boolean required = (mt.getInt(e + 24) & 4) != 0;
            if (len == 0) continue;
            if (off < 64 << 10 || off > metaLen || len > metaLen - off || len > 64 << 10) {
                throw new ImageFormatException("vhdx metadata item " + id + " lies outside the metadata region");
            }
            if (id.equals(PARENT_LOCATOR)) throw new ImageFormatException("differencing vhdx images are not supported");
            boolean known = id.equals(FILE_PARAMETERS) || id.equals(VIRTUAL_DISK_SIZE) || id.equals(VIRTUAL_DISK_ID)
                    || id.equals(LOGICAL_SECTOR_SIZE) || id.equals(PHYSICAL_SECTOR_SIZE);
            if (!known && required) throw new ImageFormatException("vhdx image requires unknown metadata item " + id);
            meta.put(id, file.readBytes(metaOff + off, (int) len));
        }
        byte[] fp = meta.get(FILE_PARAMETERS), vs = meta.get(VIRTUAL_DISK_SIZE), ls = meta.get(LOGICAL_SECTOR_SIZE);
        if (fp == null || fp.length < 8 || vs == null || vs.length < 8 || ls == null || ls.length < 4) {
            throw new ImageFormatException("vhdx image lacks required metadata (file parameters, virtual disk size, logical sector size)");
        }
        long blockSize = le(fp).getInt(0) & 0xffffffffL;
        int flags = le(fp).getInt(4);
        boolean fixed = (flags & 1) != 0;
        if ((flags & 2) != 0) throw new ImageFormatException("differencing vhdx images are not supported");
        if (blockSize < 1 << 20 || blockSize > 256 << 20 || Long.bitCount(blockSize) != 1) throw new ImageFormatException("vhdx block size " + blockSize + " is invalid");
        long size = le(vs).getLong(0);
        int sector = le(ls).getInt(0);
        if (sector != 512 && sector != 4096) throw new ImageFormatException("vhdx logical sector size " + sector + " is invalid");
        // 0 is refused, as QEMU does: blocks could hold data that nobody can read
        if (size <= 0 || size > MAX_SIZE || size % sector != 0) throw new ImageFormatException("vhdx virtual size " + Long.toUnsignedString(size) + " is invalid");

        long chunkRatio = ((1L << 23) * sector) / blockSize;
        long dataBlocks = (size + blockSize - 1) / blockSize;
        long entries = dataBlocks == 0 ? 0 : dataBlocks + (dataBlocks - 1) / chunkRatio;
        if (entries * 8 > batLen) throw new ImageFormatException("vhdx BAT region is too small (" + batLen + " bytes for " + entries + " entries)");
        ByteBuffer b = le(file.readBytes(batOff, (int) (entries * 8)));
        long[] bat = new long[(int) entries];
        for (int i = 0; i < entries; i++) bat[i] = b.getLong(i * 8);
        return new VhdxImage(file, size, blockSize, sector, bat, chunkRatio, fixed);
    }

    /**
     * A non-zero log GUID means the log may hold entries that were not yet applied. Any valid entry
     * with that GUID means the metadata on disk may be stale: refuse instead of reading it.
     */
    private static void checkLogEmpty(ImageFile file, UUID logGuid, long logOffset, long logLength, long fileSize) {
        if (logOffset < 0 || (logOffset & 0xfffff) != 0 || logLength > fileSize || logOffset > fileSize - logLength || (logLength & 0xfffff) != 0) {
            throw new ImageFormatException("vhdx log (offset 0x" + Long.toHexString(logOffset) + ", " + logLength + " bytes) lies outside the file");
        }
        for (long at = 0; at < logLength; at += 4096) {
            byte[] e = file.readBytes(logOffset + at, 4096);
            if (!signature(e, 0, "loge")) continue;
            ByteBuffer eb = le(e);
            long entryLength = eb.getInt(8) & 0xffffffffL;
            if (entryLength < 4096 || entryLength > logLength || (entryLength & 4095) != 0) continue;
            if (!guid(eb, 32).equals(logGuid)) continue;
            byte[] whole = entryLength == 4096 ? e : readWrapped(file, logOffset, logLength, at, (int) entryLength);
            if (crcOk(whole, 4)) {
                throw new ImageFormatException("vhdx image has a non-empty log (it was not closed cleanly); "
                        + "replay it first (e.g. open it read-write once with qemu-img check -r all)");
            }
        }
    }

    private static byte[] readWrapped(ImageFile file, long logOffset, long logLength, long at, int len) {
        byte[] out = new byte[len];
        for (int done = 0; done < len; ) {
            long pos = (at + done) % logLength;
            int n = (int) Math.min(len - done, logLength - pos);
            System.arraycopy(file.readBytes(logOffset + pos, n), 0, out, done, n);
            done += n;
        }
        return out;
    }

    @Override
    protected long blockOffset(long index) {
        long e = bat[(int) (index + index / chunkRatio)];
        int state = (int) (e & 7);
        switch (state) {
            case BLOCK_NOT_PRESENT, BLOCK_UNDEFINED, BLOCK_ZERO, BLOCK_UNMAPPED -> { return -1; }
            case BLOCK_FULLY_PRESENT -> {
                long off = (e >>> 20) << 20;
                if (off < (1 << 20)) {
                    throw new ImageFormatException("vhdx block " + index + " at 0x" + Long.toHexString(off) + " overlaps the headers (first MiB of the file)");
                }
                if (off > fileSize - Math.min(blockSize, size - index * blockSize)) {
                    throw new ImageFormatException("vhdx block " + index + " at 0x" + Long.toHexString(off) + " lies outside the file");
                }
                return off;
            }
            case BLOCK_PARTIALLY_PRESENT -> throw new ImageFormatException("vhdx block " + index + " is partially present (differencing images are not supported)");
            default -> throw new ImageFormatException("vhdx block " + index + " has invalid state " + state);
        }
    }

    @Override public long size() { return size; }

    @Override public String format() { return "vhdx"; }

    @Override
    public void read(long offset, MemorySegment dst) {
        readBlocks(offset, dst, blockSize);
    }

    @Override
    public Extent status(long offset, long maxLength) {
        return blockStatus(offset, maxLength, blockSize);
    }

    @Override
    public ImageInfo info() {
        Map<String, Object> fs = new LinkedHashMap<>();
        fs.put("subformat", fixed ? "fixed" : "dynamic");
        fs.put("logical-sector-size", logicalSectorSize);
        return new ImageInfo("vhdx", size, blockSize, null, null, false, fs, List.of());
    }
}
