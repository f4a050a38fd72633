package dev.vmm.block.qcow2;

import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Creates empty qcow2 images: header, refcount table and blocks covering the metadata, a zeroed L1 table. */
public final class Qcow2Creator {

    /**
     * Creation options.
     *
     * @param version        2 (compat 0.10) or 3 (compat 1.1)
     * @param clusterSize    512 B .. 2 MiB, a power of two
     * @param lazyRefcounts  v3 only
     * @param refcountBits   1..64, a power of two (v2: 16 only)
     * @param backingFile    stored as given (relative names resolve against the image's directory), or null
     * @param backingFormat  stored in the backing format extension, or null
     */
    public record Options(int version, long clusterSize, boolean lazyRefcounts, int refcountBits, String backingFile, String backingFormat) {
        public static Options defaults() { return new Options(3, 65536, false, 16, null, null); }

        public Options withBacking(String file, String format) { return new Options(version, clusterSize, lazyRefcounts, refcountBits, file, format); }
    }

    private Qcow2Creator() {}

    public static void create(Path path, long size, Options o) {
        int bits = Long.numberOfTrailingZeros(o.clusterSize());
        if (Long.bitCount(o.clusterSize()) != 1 || bits < Qcow2Header.MIN_CLUSTER_BITS || bits > Qcow2Header.MAX_CLUSTER_BITS) {
            throw new BlockException("cluster size must be a power of two between 512 and 2097152, not " + o.clusterSize());
        }
        if (o.version() != 2 && o.version() != 3) throw new BlockException("qcow2 version must be 2 (compat=0.10) or 3 (compat=1.1)");
        if (size < 0 || size > Qcow2Header.MAX_VIRTUAL_SIZE) throw new BlockException("image size " + size + " is out of range");
        int rb = o.refcountBits();
        if (Integer.bitCount(rb) != 1 || rb > 64) throw new BlockException("refcount_bits must be a power of two between 1 and 64, not " + rb);
        if (o.version() == 2 && rb != 16) throw new BlockException("refcount_bits other than 16 need compat=1.1");
        if (o.version() == 2 && o.lazyRefcounts()) throw new BlockException("lazy_refcounts need compat=1.1");
        int order = Integer.numberOfTrailingZeros(rb);
        long cs = o.clusterSize();
        size = (size + 511) & ~511L; // whole sectors, as qemu-img create rounds it

        long l2Entries = cs / 8;
        long l1Entries = (size + cs * l2Entries - 1) / (cs * l2Entries);
        if (l1Entries * 8 > Qcow2Header.MAX_L1_BYTES) throw new BlockException("image size " + size + " needs too large an L1 table for cluster size " + cs);
        // An empty disk has no L1 table (offset 0), as qemu-img makes it.
        long l1Clusters = (l1Entries * 8 + cs - 1) / cs;
        long perBlock = (cs * 8) >> order;
        long rtClusters = 1, blocks = 1;
        while (true) {
            long n = 1 + rtClusters + blocks + l1Clusters;
            long nb = (n + perBlock - 1) / perBlock;
            long nrt = Math.max(1, (nb * 8 + cs - 1) / cs);
            if (nb == blocks && nrt == rtClusters) break;
            blocks = nb;
            rtClusters = nrt;
        }
        long rtOff = cs, rbOff = rtOff + rtClusters * cs, l1Off = rbOff + blocks * cs;
        long total = 1 + rtClusters + blocks + l1Clusters;

        ByteBuffer h = ByteBuffer.allocate((int) cs);
        h.putInt(0, Qcow2Header.MAGIC).putInt(4, o.version());
        h.putInt(20, bits).putLong(24, size).putInt(32, 0).putInt(36, (int) l1Entries).putLong(40, l1Clusters == 0 ? 0 : l1Off);
        h.putLong(48, rtOff).putInt(56, (int) rtClusters).putInt(60, 0).putLong(64, 0);
        int pos;
        if (o.version() == 3) {
            h.putLong(72, 0).putLong(80, o.lazyRefcounts() ? Qcow2Header.COMPAT_LAZY_REFCOUNTS : 0).putLong(88, 0);
            h.putInt(96, order).putInt(100, 112);
            pos = 112;
        } else {
            pos = Qcow2Header.V2_HEADER_LENGTH;
        }
        try {
            if (o.backingFormat() != null) pos = extension(h, pos, Qcow2Header.EXT_BACKING_FORMAT, o.backingFormat().getBytes(StandardCharsets.UTF_8));
            if (o.version() == 3) {
                ByteBuffer names = ByteBuffer.allocate(48 * Qcow2Header.knownFeatureNames().size());
                int i = 0;
                for (Object[] f : Qcow2Header.knownFeatureNames()) {
                    names.put(i * 48, (byte) (int) f[0]).put(i * 48 + 1, (byte) (int) f[1]);
                    byte[] nm = ((String) f[2]).getBytes(StandardCharsets.US_ASCII);
                    names.put(i * 48 + 2, nm);
                    i++;
                }
                // The feature name table is optional: like qemu-img, only clusters above 4 KiB get one,
                // so that small header clusters keep their room for the backing file name.
                if (cs > 4096) pos = extension(h, pos, Qcow2Header.EXT_FEATURE_NAMES, names.array());
            }
            pos += 8; // end-of-extensions marker (zeroes)
            if (o.backingFile() != null) {
                byte[] name = o.backingFile().getBytes(StandardCharsets.UTF_8);
                if (name.length > 1023) throw new BlockException("backing file name is too long");
                if (pos + name.length > cs) throw new BlockException("backing file name does not fit in the header cluster");
                h.put(pos, name);
                h.putLong(8, pos).putInt(16, name.length);
            }
        } catch (IndexOutOfBoundsException e) {
            throw new BlockException("qcow2 header does not fit in one " + cs + "-byte cluster");
        }

        ByteBuffer rt = ByteBuffer.allocate((int) (rtClusters * cs));
        for (int i = 0; i < blocks; i++) rt.putLong(i * 8, rbOff + i * cs);
        byte[] rbData = new byte[(int) (blocks * cs)];
        for (long c = 0; c < total; c++) setRefcount(rbData, order, c, 1);

        try (ImageFile f = ImageFile.create(path)) {
            f.write(0, h.array());
            f.write(rtOff, rt.array());
            f.write(rbOff, rbData);
            if (l1Clusters > 0) f.write(l1Off, new byte[(int) (l1Clusters * cs)]);
            f.truncate(total * cs);
            f.sync();
        }
    }

    private static int extension(ByteBuffer h, int pos, int type, byte[] data) {
        h.putInt(pos, type).putInt(pos + 4, data.length);
        h.put(pos + 8, data);
        return pos + 8 + ((data.length + 7) & ~7);
    }

    private static void setRefcount(byte[] d, int order, long i, long v) {
        int width = 1 << order;
        if (width < 8) {
            long bit = i * width;
            d[(int) (bit >>> 3)] |= (byte) (v << (bit & 7));
        } else {
            int bytes = width / 8;
            int at = (int) (i * bytes);
            for (int k = 0; k < bytes; k++) d[at + bytes - 1 - k] = (byte) (v >>> (8 * k));
        }
    }
}
