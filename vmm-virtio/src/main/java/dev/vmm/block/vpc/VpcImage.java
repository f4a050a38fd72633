package dev.vmm.block.vpc;

import dev.vmm.block.Extent;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.ImageInfo;
import dev.vmm.block.ReadOnlyImage;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Virtual PC / VHD images (Microsoft's "Virtual Hard Disk Image Format Specification"), fixed and
 * dynamic, read-only. Differencing disks are refused. The virtual size follows the same rule as
 * QEMU: the CHS geometry, except for creators known to use the footer's current size.
 */
public final class VpcImage extends ReadOnlyImage {
    private static final int TYPE_FIXED = 2, TYPE_DYNAMIC = 3, TYPE_DIFFERENCING = 4;
    private static final long MAX_GEOMETRY_SECTORS = 65535L * 16 * 255;
    private static final long MAX_SIZE = 2040L << 30;
    private static final int MAX_BAT_ENTRIES = (int) (MAX_SIZE / (512 * 8)); // 512-byte blocks is the smallest sane block

    private final long size;
    private final int type;
    private final long blockSize;
    private final int[] bat;
    private final long fileSize;
    private final String creator;

    private VpcImage(ImageFile file, long size, int type, long blockSize, int[] bat, String creator) {
        super(file);
        this.size = size;
        this.type = type;
        this.blockSize = blockSize;
        this.bat = bat;
        this.fileSize = file.size();
        this.creator = creator;
    }

    public static VpcImage open(ImageFile file) {
        long fileSize = file.size();
        if (fileSize < 512) throw new ImageFormatException("vpc image is truncated (no footer)");
        ByteBuffer footer = ByteBuffer.wrap(file.readBytes(0, 512));
        if (!cookie(footer, "conectix")) {
            footer = ByteBuffer.wrap(file.readBytes(fileSize - 512, 512));
            if (!cookie(footer, "conectix")) throw new ImageFormatException("not a vpc image (no footer cookie)");
        }
        // The spec's checksum: one's complement of the byte sum of the footer, its own field counted as 0.
        // A mismatch means the size/geometry/type fields cannot be trusted: refused, as QEMU does.
        long stored = footer.getInt(64) & 0xffffffffL, computed = footerChecksum(footer);
        if (stored != computed) {
            throw new ImageFormatException("vpc footer checksum mismatch (stored 0x" + Long.toHexString(stored)
                    + ", computed 0x" + Long.toHexString(computed) + "): the image is corrupt");
        }
        String creator = new String(bytes(footer, 28, 4), StandardCharsets.ISO_8859_1);
        long currentSize = footer.getLong(48);
        int cyls = footer.getShort(56) & 0xffff, heads = footer.get(58) & 0xff, spt = footer.get(59) & 0xff;
        int type = footer.getInt(60);
        long chsSectors = (long) cyls * heads * spt;
        boolean useChs = !creator.equals("win ") && !creator.equals("qem2") && !creator.equals("d2v ")
                && !creator.equals("CTXS") && !creator.equals("tap\0");
        long size = (!useChs || chsSectors == MAX_GEOMETRY_SECTORS) ? currentSize : chsSectors * 512;
        if (size < 0 || size > MAX_SIZE) throw new ImageFormatException("vpc virtual size " + Long.toUnsignedString(size) + " is out of range");
        size &= ~511L;
        switch (type) {
            case TYPE_FIXED -> {
                if (size > fileSize - 512) throw new ImageFormatException("fixed vpc image is truncated (size " + size + ", file " + fileSize + ")");
                return new VpcImage(file, size, type, 0, null, creator);
            }
            case TYPE_DYNAMIC -> {
                long dynOff = footer.getLong(16);
                if (dynOff < 0 || dynOff > fileSize - 1024) throw new ImageFormatException("vpc dynamic header offset 0x" + Long.toHexString(dynOff) + " lies past the end of the file");
                ByteBuffer dyn = ByteBuffer.wrap(file.readBytes(dynOff, 1024));
                if (!cookie(dyn, "cxsparse")) throw new ImageFormatException("vpc dynamic header has a bad cookie");
                long batOff = dyn.getLong(16);
                long entries = dyn.getInt(28) & 0xffffffffL;
                long blockSize = dyn.getInt(32) & 0xffffffffL;
                if (blockSize < 512 || Long.bitCount(blockSize) != 1 || blockSize > (256L << 20)) {
                    throw new ImageFormatException("vpc block size " + blockSize + " is invalid");
                }
                if (entries > MAX_BAT_ENTRIES) throw new ImageFormatException("vpc block table is too large (" + entries + " entries)");
                if (entries * blockSize < size) throw new ImageFormatException("vpc block table is too small for the virtual size");
                if (batOff < 0 || batOff > fileSize || entries * 4 > fileSize - batOff) {
                    throw new ImageFormatException("vpc block table lies past the end of the file");
                }
                ByteBuffer b = ByteBuffer.wrap(file.readBytes(batOff, (int) (entries * 4)));
                int[] bat = new int[(int) entries];
                for (int i = 0; i < entries; i++) bat[i] = b.getInt(i * 4);
                return new VpcImage(file, size, type, blockSize, bat, creator);
            }
            case TYPE_DIFFERENCING -> throw new ImageFormatException("differencing vpc images are not supported");
            default -> throw new ImageFormatException("vpc disk type " + type + " is not supported");
        }
    }

    static long footerChecksum(ByteBuffer footer) {
        int sum = 0;
        for (int i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer.get(i) & 0xff;
        return ~sum & 0xffffffffL;
    }

    private static boolean cookie(ByteBuffer b, String c) {
        return new String(bytes(b, 0, 8), StandardCharsets.ISO_8859_1).equals(c);
    }

    private static byte[] bytes(ByteBuffer b, int off, int len) {
        byte[] r = new byte[len];
        b.get(off, r);
        return r;
    }

    /** Bytes of the per-block sector bitmap that precedes each block's data (padded to a sector). */
    private long bitmapSize() {
        return ((blockSize / 512 / 8) + 511) & ~511L;
    }

    @Override
    protected long blockOffset(long index) {
        if (type == TYPE_FIXED) return index * blockSizeForRead();
        if (index >= bat.length || bat[(int) index] == -1) return -1;
        long host = (bat[(int) index] & 0xffffffffL) * 512 + bitmapSize();
        if (host + blockSize > fileSize) throw new ImageFormatException("vpc block " + index + " lies past the end of the file");
        return host;
    }

    private long blockSizeForRead() {
        return type == TYPE_FIXED ? 1L << 20 : blockSize;
    }

    @Override public long size() { return size; }

    @Override public String format() { return "vpc"; }

    @Override
    public void read(long offset, MemorySegment dst) {
        readBlocks(offset, dst, blockSizeForRead());
    }

    @Override
    public Extent status(long offset, long maxLength) {
        return blockStatus(offset, maxLength, blockSizeForRead());
    }

    @Override
    public ImageInfo info() {
        Map<String, Object> fs = new LinkedHashMap<>();
        fs.put("subformat", type == TYPE_FIXED ? "fixed" : "dynamic");
        fs.put("creator", creator.trim());
        return new ImageInfo("vpc", size, type == TYPE_FIXED ? 0 : blockSize, null, null, false, fs, java.util.List.of());
    }
}
