package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The qcow2 header (versions 2 and 3) and its extensions, parsed from cluster 0 and validated field
 * by field before anything sized by a field is allocated. See QEMU's docs/interop/qcow2.txt.
 */
public final class Qcow2Header {
    public static final int MAGIC = 0x514649fb;
    public static final int V2_HEADER_LENGTH = 72, V3_HEADER_LENGTH = 104;
    public static final int MIN_CLUSTER_BITS = 9, MAX_CLUSTER_BITS = 21;
    /** Same caps as QEMU, so that a lying header cannot make us allocate gigabytes. */
    public static final long MAX_L1_BYTES = 32L << 20, MAX_REFTABLE_BYTES = 8L << 20;
    public static final int MAX_SNAPSHOTS = 65536;
    public static final long MAX_VIRTUAL_SIZE = 1L << 61;

    public static final long INCOMPAT_DIRTY = 1, INCOMPAT_CORRUPT = 2, INCOMPAT_DATA_FILE = 4,
            INCOMPAT_COMPRESSION = 8, INCOMPAT_EXTL2 = 16, INCOMPAT_KNOWN = 31;
    public static final long COMPAT_LAZY_REFCOUNTS = 1;
    private static final long MAX_BITMAPS = 65535;
    public static final long AUTOCLEAR_BITMAPS = 1, AUTOCLEAR_DATA_FILE_RAW = 2;

    static final int EXT_END = 0, EXT_BACKING_FORMAT = 0xe2792aca, EXT_FEATURE_NAMES = 0x6803f857,
            EXT_BITMAPS = 0x23852875, EXT_CRYPTO = 0x0537be77, EXT_DATA_FILE = 0x44415441;

    // Field offsets, used for the in-place header updates.
    static final int OFF_REFTABLE = 48, OFF_INCOMPAT = 72, OFF_AUTOCLEAR = 88;

    public int version;
    public long backingFileOffset;
    public int backingFileSize;
    public int clusterBits;
    public long size;
    public int cryptMethod;
    public int l1Size;
    public long l1TableOffset;
    public long refcountTableOffset;
    public int refcountTableClusters;
    public int nbSnapshots;
    public long snapshotsOffset;
    public long incompatible, compatible, autoclear;
    public int refcountOrder = 4;
    public int headerLength = V2_HEADER_LENGTH;
    public int compressionType;
    public String backingFile, backingFormat, dataFile;
    public boolean hasBitmaps;
    /**
     * The bitmap directory (offset, bytes) of a bitmaps extension that is valid (the autoclear bit
     * set and its fields plausible), else 0: its clusters are referenced, as qemu-img check counts them.
     */
    public long bitmapDirectoryOffset, bitmapDirectorySize;
    /** Feature names from the feature name table, keyed "type:bit" (type 0 incompatible, 1 compatible, 2 autoclear). */
    public final Map<String, String> featureNames = new LinkedHashMap<>();

    public long clusterSize() { return 1L << clusterBits; }

    public boolean extendedL2() { return (incompatible & INCOMPAT_EXTL2) != 0; }

    /** Bytes per L2 entry (16 with extended L2 entries: the standard entry plus a subcluster bitmap). */
    public int l2EntrySize() { return extendedL2() ? 16 : 8; }

    public long l2Entries() { return clusterSize() / l2EntrySize(); }

    /** Number of L1 entries needed to map {@link #size} bytes. */
    public long l1EntriesNeeded() {
        long perL2 = clusterSize() * l2Entries();
        return (size + perL2 - 1) / perL2;
    }

    public boolean lazyRefcounts() { return (compatible & COMPAT_LAZY_REFCOUNTS) != 0; }

    public boolean dirty() { return (incompatible & INCOMPAT_DIRTY) != 0; }

    public boolean corrupt() { return (incompatible & INCOMPAT_CORRUPT) != 0; }

    public static Qcow2Header read(ImageFile file) {
        long fileSize = file.size();
        if (fileSize < V2_HEADER_LENGTH) {
            throw new ImageFormatException("qcow2 header is truncated (file is " + fileSize + " bytes, header needs 72)");
        }
        ByteBuffer b = ByteBuffer.wrap(file.readBytes(0, (int) Math.min(fileSize, V3_HEADER_LENGTH + 8)));
        Qcow2Header h = new Qcow2Header();
        if (b.getInt(0) != MAGIC) throw new ImageFormatException("not a qcow2 image (bad magic)");
        h.version = b.getInt(4);
        if (h.version != 2 && h.version != 3) throw new ImageFormatException("unsupported qcow2 version " + Integer.toUnsignedString(h.version));
        h.backingFileOffset = b.getLong(8);
        h.backingFileSize = b.getInt(16);
        h.clusterBits = b.getInt(20);
        h.size = b.getLong(24) & ~511L; // like QEMU, whole sectors only: a partial last sector is not part of the disk
        h.cryptMethod = b.getInt(32);
        h.l1Size = b.getInt(36);
        h.l1TableOffset = b.getLong(40);
        h.refcountTableOffset = b.getLong(48);
        h.refcountTableClusters = b.getInt(56);
        h.nbSnapshots = b.getInt(60);
        h.snapshotsOffset = b.getLong(64);
        if (h.clusterBits < MIN_CLUSTER_BITS || h.clusterBits > MAX_CLUSTER_BITS) {
            throw new ImageFormatException("qcow2 cluster_bits " + Integer.toUnsignedString(h.clusterBits) + " is out of range ["
                    + MIN_CLUSTER_BITS + ", " + MAX_CLUSTER_BITS + "]");
        }
        long cs = h.clusterSize();
        if (h.version == 3) {
            if (fileSize < V3_HEADER_LENGTH) throw new ImageFormatException("qcow2 v3 header is truncated (file is " + fileSize + " bytes)");
            h.incompatible = b.getLong(72);
            h.compatible = b.getLong(80);
            h.autoclear = b.getLong(88);
            h.refcountOrder = b.getInt(96);
            h.headerLength = b.getInt(100);
            if (h.headerLength < V3_HEADER_LENGTH || h.headerLength > cs) {
                throw new ImageFormatException("qcow2 header_length " + Integer.toUnsignedString(h.headerLength) + " is invalid");
            }
            if (h.headerLength > V3_HEADER_LENGTH && fileSize > V3_HEADER_LENGTH) h.compressionType = b.get(104) & 0xff;
            if (h.refcountOrder < 0 || h.refcountOrder > 6) {
                throw new ImageFormatException("qcow2 refcount_order " + Integer.toUnsignedString(h.refcountOrder) + " is out of range [0, 6]");
            }
        }
        if (fileSize < cs && h.headerLength > fileSize) throw new ImageFormatException("qcow2 header is truncated");

        // Cluster 0 holds the header, its extensions and the backing file name: read it once.
        ByteBuffer c0 = ByteBuffer.wrap(file.readBytes(0, (int) Math.min(cs, fileSize)));
        h.parseExtensions(c0, cs);
        h.parseFeatureChecks();
        if (h.backingFileOffset != 0) {
            if (Integer.toUnsignedLong(h.backingFileSize) > 1023) throw new ImageFormatException("qcow2 backing file name is too long (" + Integer.toUnsignedString(h.backingFileSize) + " bytes)");
            if (h.backingFileOffset < 0 || h.backingFileOffset + h.backingFileSize > Math.min(cs, fileSize)) {
                throw new ImageFormatException("qcow2 backing file name lies outside the header cluster");
            }
            byte[] name = new byte[h.backingFileSize];
            c0.get((int) h.backingFileOffset, name);
            h.backingFile = new String(name, StandardCharsets.UTF_8);
            if (h.backingFile.isEmpty()) h.backingFile = null;
        }
        h.validateLayout(fileSize);
        return h;
    }

    private void parseExtensions(ByteBuffer c0, long cs) {
        // The extensions end where the backing file name starts (as QEMU reads them): one that
        // runs into the name is refused, not read over it.
        int limit = backingFileOffset > 0 && backingFileOffset < c0.capacity() ? (int) backingFileOffset : c0.capacity();
        int off = version == 2 ? V2_HEADER_LENGTH : headerLength;
        while (off < limit && off + 8 <= c0.capacity()) {
            int type = c0.getInt(off);
            long len = Integer.toUnsignedLong(c0.getInt(off + 4));
            if (type == EXT_END) return;
            if (off + 8 + len > limit) {
                throw new ImageFormatException("qcow2 header extension 0x" + Integer.toHexString(type) + " overflows the header cluster or the backing file name");
            }
            int data = off + 8;
            switch (type) {
                case EXT_BACKING_FORMAT -> backingFormat = string(c0, data, (int) len);
                case EXT_DATA_FILE -> dataFile = string(c0, data, (int) len);
                case EXT_BITMAPS -> {
                    hasBitmaps = true;
                    // Only trusted while the autoclear bit says a bitmap-aware program wrote the file last
                    if ((autoclear & AUTOCLEAR_BITMAPS) != 0) {
                        validateBitmapsExtension(c0, data, len, cs);
                        bitmapDirectorySize = c0.getLong(data + 8);
                        bitmapDirectoryOffset = c0.getLong(data + 16);
                    }
                }
                case EXT_CRYPTO -> throw new ImageFormatException("encrypted qcow2 images are not supported");
                case EXT_FEATURE_NAMES -> {
                    for (int e = 0; e + 48 <= len; e += 48) {
                        int ftype = c0.get(data + e) & 0xff, bit = c0.get(data + e + 1) & 0xff;
                        featureNames.put(ftype + ":" + bit, string(c0, data + e + 2, 46));
                    }
                }
                default -> { /* unknown extensions are ignored, as the spec allows */ }
            }
            off = data + (int) ((len + 7) & ~7L);
        }
        // Running off the cluster without an end marker is tolerated (some writers leave zeroes).
    }

    /** Bitmaps extension fields are refused when implausible, as QEMU does, instead of ignored. */
    private static void validateBitmapsExtension(ByteBuffer c0, int data, long len, long cs) {
        if (len != 24) throw new ImageFormatException("qcow2 bitmaps extension has an invalid length (" + len + ")");
        long nb = Integer.toUnsignedLong(c0.getInt(data));
        int reserved = c0.getInt(data + 4);
        long dirSize = c0.getLong(data + 8), dirOffset = c0.getLong(data + 16);
        if (reserved != 0) throw new ImageFormatException("qcow2 bitmaps extension: reserved field is not zero");
        if (nb == 0 || nb > MAX_BITMAPS) throw new ImageFormatException("qcow2 bitmaps extension: invalid number of bitmaps (" + nb + ")");
        if (dirSize <= 0 || dirSize > MAX_BITMAPS * 1024L) {
            throw new ImageFormatException("qcow2 bitmaps extension: invalid bitmap directory size (" + Long.toUnsignedString(dirSize) + ")");
        }
        if (dirOffset <= 0 || (dirOffset & (cs - 1)) != 0) {
            throw new ImageFormatException("qcow2 bitmaps extension: invalid bitmap directory offset 0x" + Long.toHexString(dirOffset));
        }
    }

    private void parseFeatureChecks() {
        if (cryptMethod != 0) throw new ImageFormatException("encrypted qcow2 images are not supported (crypt_method " + cryptMethod + ")");
        long unknown = incompatible & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            List<String> names = new ArrayList<>();
            for (int bit = 0; bit < 64; bit++) {
                if ((unknown & (1L << bit)) != 0) names.add(featureNames.getOrDefault("0:" + bit, "bit " + bit));
            }
            throw new ImageFormatException("qcow2 image uses unsupported incompatible feature(s): " + String.join(", ", names));
        }
        if ((incompatible & INCOMPAT_DATA_FILE) != 0) {
            throw new ImageFormatException("qcow2 images with an external data file" + (dataFile != null ? " (" + dataFile + ")" : "") + " are not supported");
        }
        if ((incompatible & INCOMPAT_COMPRESSION) != 0 && compressionType != 0) {
            throw new ImageFormatException("qcow2 compression type " + compressionType + (compressionType == 1 ? " (zstd)" : "") + " is not supported (only zlib)");
        }
        // the bit says "not zlib": with zlib in the field the header contradicts itself (QEMU refuses it too)
        if ((incompatible & INCOMPAT_COMPRESSION) != 0) throw new ImageFormatException("qcow2 compression type bit set for zlib compression");
        if (compressionType != 0) throw new ImageFormatException("qcow2 compression_type " + compressionType + " set without its incompatible bit");
    }

    private void validateLayout(long fileSize) {
        long cs = clusterSize();
        if (size < 0 || size > MAX_VIRTUAL_SIZE) throw new ImageFormatException("qcow2 virtual size " + Long.toUnsignedString(size) + " is too large");
        long l1 = Integer.toUnsignedLong(l1Size);
        if (l1 * 8 > MAX_L1_BYTES) throw new ImageFormatException("qcow2 L1 table is too large (" + l1 + " entries)");
        if (l1 < l1EntriesNeeded()) throw new ImageFormatException("qcow2 L1 table is too small for the virtual size (" + l1 + " < " + l1EntriesNeeded() + " entries)");
        if (l1 > 0) {
            checkTable("L1 table", l1TableOffset, l1 * 8, fileSize);
            checkClusterAligned("L1 table", l1TableOffset);
        }
        long rtBytes = Integer.toUnsignedLong(refcountTableClusters) * cs;
        if (refcountTableClusters == 0) throw new ImageFormatException("qcow2 refcount table is empty");
        if (rtBytes > MAX_REFTABLE_BYTES) throw new ImageFormatException("qcow2 refcount table is too large (" + Integer.toUnsignedString(refcountTableClusters) + " clusters)");
        checkTable("refcount table", refcountTableOffset, rtBytes, fileSize);
        checkClusterAligned("refcount table", refcountTableOffset);
        if (Integer.toUnsignedLong(nbSnapshots) > MAX_SNAPSHOTS) throw new ImageFormatException("qcow2 image has too many snapshots (" + Integer.toUnsignedString(nbSnapshots) + ")");
        if (nbSnapshots != 0) {
            checkTable("snapshot table", snapshotsOffset, Integer.toUnsignedLong(nbSnapshots) * 40, fileSize);
            checkClusterAligned("snapshot table", snapshotsOffset);
        }
    }

    /** A table must be cluster aligned and lie entirely inside the file. */
    static void checkTable(String what, long offset, long bytes, long fileSize) {
        if (offset <= 0 || (offset & 511) != 0) throw new ImageFormatException("qcow2 " + what + " offset 0x" + Long.toHexString(offset) + " is invalid");
        if (offset > fileSize || bytes > fileSize - offset) {
            throw new ImageFormatException("qcow2 " + what + " (offset 0x" + Long.toHexString(offset) + ", " + bytes + " bytes) lies past the end of the file (" + fileSize + " bytes)");
        }
    }

    void checkClusterAligned(String what, long offset) {
        if ((offset & (clusterSize() - 1)) != 0) throw new ImageFormatException("qcow2 " + what + " offset 0x" + Long.toHexString(offset) + " is not cluster aligned");
    }

    private static String string(ByteBuffer b, int off, int len) {
        byte[] s = new byte[len];
        b.get(off, s);
        int end = 0;
        while (end < len && s[end] != 0) end++;
        return new String(s, 0, end, StandardCharsets.UTF_8);
    }

    /** Feature names known to this implementation, for the feature name table of images we create. */
    static List<Object[]> knownFeatureNames() {
        return List.of(new Object[] {0, 0, "dirty bit"}, new Object[] {0, 1, "corrupt bit"}, new Object[] {0, 2, "external data file"},
                new Object[] {0, 3, "compression type"}, new Object[] {0, 4, "extended L2 entries"},
                new Object[] {1, 0, "lazy refcounts"}, new Object[] {2, 0, "bitmaps"}, new Object[] {2, 1, "raw external data"});
    }
}
