package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Recomputes every cluster's reference count from the metadata (header, L1/L2 tables of the active
 * image and of every snapshot, refcount structures, snapshot table) and compares it with the stored
 * refcounts, like {@code qemu-img check}: a stored refcount below the references is a corruption,
 * above them a leak. Also checks the OFLAG_COPIED bits of the active tables.
 *
 * <p>Memory is proportional to the file size (one int per host cluster), never to header fields.
 */
public final class Qcow2Checker {
    private static final int MAX_MESSAGES = 100;
    /** Bits a standard (not compressed) L2 entry must keep clear; bit 0 is the zero flag. */
    private static final long L2_RESERVED = 0x3f000000000001feL;

    /**
     * @param corruptions           errors that may lose data
     * @param leaks                 clusters with a refcount but no reference
     * @param referencesOutsideFile references to offsets past the end of the file (counted in corruptions)
     * @param allocatedClusters     guest clusters allocated in the active image
     * @param totalClusters         guest clusters of the virtual disk
     * @param fragmentedClusters    allocated clusters not contiguous with their predecessor
     * @param compressedClusters    compressed guest clusters
     * @param imageEndOffset        end of the last cluster in use
     */
    public record Result(long corruptions, long leaks, long referencesOutsideFile, long allocatedClusters, long totalClusters,
                         long fragmentedClusters, long compressedClusters, long imageEndOffset, List<String> messages) {}

    private final Qcow2Image image;
    private final ImageFile file;
    private final Qcow2Header h;
    private final long cs;
    private final int bits;
    private final long fileClusters;
    private final int[] refs;
    private final List<String> messages = new ArrayList<>();
    private long corruptions, outside, allocated, fragmented, compressed;

    Qcow2Checker(Qcow2Image image) {
        this.image = image;
        this.file = image.file();
        this.h = image.header();
        this.cs = h.clusterSize();
        this.bits = h.clusterBits;
        long fileSize = file.size();
        this.fileClusters = (fileSize + cs - 1) >>> bits;
        if (fileClusters > Integer.MAX_VALUE - 8) throw new dev.vmm.block.ImageFormatException("qcow2 image file too large to check");
        this.refs = new int[(int) fileClusters];
    }

    private void message(String m) {
        if (messages.size() < MAX_MESSAGES) messages.add(m);
    }

    private void corruption(String m) {
        corruptions++;
        message("ERROR " + m);
    }

    /** Adds one reference to every cluster overlapping {@code [offset, offset+len)}. */
    private void reference(String what, long offset, long len) {
        if (len <= 0) return;
        long first = offset >>> bits, last = (offset + len - 1) >>> bits;
        for (long c = first; c <= last; c++) {
            if (c >= fileClusters) {
                outside++;
                corruption(what + " at 0x" + Long.toHexString(c << bits) + " is outside the image file");
                return;
            }
            refs[(int) c]++;
        }
    }

    private void countReferences() {
        reference("header", 0, cs);
        if (h.l1Size != 0) reference("L1 table", h.l1TableOffset, h.l1Size * 8L);
        reference("refcount table", h.refcountTableOffset, Integer.toUnsignedLong(h.refcountTableClusters) * cs);
        countBitmapReferences();
        walkL1("active", image.l1(), true);
        for (Qcow2Snapshots.Entry s : image.snapshots()) {
            if (s.tableBytes() > 0 && s == image.snapshots().get(0)) reference("snapshot table", h.snapshotsOffset, s.tableBytes());
            if (s.l1Size() == 0) continue;
            reference("snapshot L1 table", s.l1Offset(), s.l1Size() * 8L);
            ByteBuffer b = ByteBuffer.wrap(file.readBytes(s.l1Offset(), s.l1Size() * 8));
            long[] l1 = new long[s.l1Size()];
            for (int i = 0; i < l1.length; i++) l1[i] = b.getLong(i * 8);
            walkL1("snapshot " + s.info().id(), l1, false);
        }
        // Refcount blocks last, as qemu-img check counts them: a block that anything else also
        // references (a data cluster or an L2 table placed over it) is one more corruption.
        long[] rt = image.refcounts().table;
        for (int i = 0; i < rt.length; i++) {
            if (rt[i] == 0) continue;
            reference("refcount block", rt[i], cs);
            long c = rt[i] >>> bits;
            if (c < fileClusters && refs[(int) c] != 1) corruption("refcount block " + i + " refcount=" + refs[(int) c]);
        }
    }

    /**
     * The persistent dirty bitmaps' clusters (qcow2 spec, "Bitmaps"): the directory, each bitmap's
     * table and the clusters its entries point at. Counted only while the header trusts the
     * extension (autoclear bit set, fields valid), as qemu-img check counts them; without this,
     * every bitmap cluster of a qemu-made image was a leak, and the dirty-image repair freed them.
     */
    private void countBitmapReferences() {
        long dirSize = h.bitmapDirectorySize;
        if (dirSize == 0) return;
        if (!referenceInFile("bitmap directory", h.bitmapDirectoryOffset, dirSize)) return;
        ByteBuffer dir = ByteBuffer.wrap(file.readBytes(h.bitmapDirectoryOffset, (int) dirSize));
        // entry: table offset (8), table entries (4), flags (4), type, granularity, name size (2),
        // extra data size (4), then the extra data and the name, padded to 8 bytes
        for (long e = 0; e + 24 <= dirSize; ) {
            int at = (int) e;
            long table = dir.getLong(at), entries = Integer.toUnsignedLong(dir.getInt(at + 8));
            if (referenceInFile("bitmap table", table, entries * 8)) {
                for (long done = 0; done < entries * 8; done += cs) {
                    int chunk = (int) Math.min(cs, entries * 8 - done);
                    ByteBuffer t = ByteBuffer.wrap(file.readBytes(table + done, chunk));
                    for (int j = 0; j < chunk; j += 8) {
                        long data = t.getLong(j) & Qcow2Image.OFFSET_MASK; // 0: all zeroes or all ones, no cluster
                        if (data != 0) reference("bitmap data cluster", data, cs);
                    }
                }
            }
            e += (24 + Integer.toUnsignedLong(dir.getInt(at + 20)) + (dir.getShort(at + 18) & 0xffff) + 7) & ~7L;
        }
    }

    /** References {@code [offset, offset+len)}; true when all of it lies inside the file (so it can be read). */
    private boolean referenceInFile(String what, long offset, long len) {
        if (len <= 0 || offset <= 0) return false;
        long fileSize = file.size();
        boolean inside = offset < fileSize && len <= fileSize - offset;
        reference(what, offset, len);
        return inside;
    }

    private void walkL1(String which, long[] l1, boolean active) {
        int entrySize = h.l2EntrySize();
        for (int i = 0; i < l1.length; i++) {
            if ((l1[i] & Qcow2Image.L1_RESERVED) != 0) {
                corruption("found " + which + " L1 entry " + i + " with reserved bits set: 0x" + Long.toHexString(l1[i]));
            }
            long l2off = l1[i] & Qcow2Image.OFFSET_MASK;
            if (l2off == 0) continue;
            // A misaligned table or data cluster is reported and then still counted where it
            // points (the clusters it overlaps, the entries read there), as qemu-img check does,
            // so that both report the same counts for the same damage.
            if ((l2off & (cs - 1)) != 0) {
                corruption(which + " L2 table offset 0x" + Long.toHexString(l2off) + " is not cluster aligned");
            }
            if ((l2off >>> bits) >= fileClusters) {
                outside++;
                corruption(which + " L2 table at 0x" + Long.toHexString(l2off) + " is outside the image file");
                continue;
            }
            reference(which + " L2 table", l2off, cs);
            // Fragmentation is counted within one L2 table, as qemu-img check counts it: the first
            // allocated cluster of each table has no predecessor.
            long lastHost = -1;
            ByteBuffer t = ByteBuffer.wrap(file.readBytes(l2off, (int) cs));
            for (int j = 0; j < cs / entrySize; j++) {
                long e = t.getLong(j * entrySize);
                long guestCluster = (long) i * (cs / entrySize) + j;
                if ((e & Qcow2Image.COMPRESSED) != 0) {
                    if ((e & Qcow2Image.COPIED) != 0) {
                        corruption("found " + which + " compressed L2 entry for guest cluster " + guestCluster + " with the COPIED flag set");
                    }
                    int x = 62 - (bits - 8);
                    long host = e & ((1L << x) - 1);
                    long sectors = (e >>> x) & ((1L << (62 - x)) - 1);
                    long len = (sectors + 1) * 512 - (host & 511);
                    reference(which + " compressed cluster", host, len);
                    if (active) {
                        // qemu-img check counts every compressed cluster as fragmented (reading it
                        // re-reads shared sectors) and does not make it the predecessor of the next
                        allocated++;
                        compressed++;
                        fragmented++;
                    }
                    continue;
                }
                if ((e & L2_RESERVED) != 0) {
                    corruption("found " + which + " L2 entry for guest cluster " + guestCluster + " with reserved bits set: 0x" + Long.toHexString(e));
                }
                long host = e & Qcow2Image.OFFSET_MASK;
                if (host == 0) continue; // unallocated or a zero cluster without a host cluster: not allocated
                if ((host & (cs - 1)) != 0) {
                    corruption(which + " data cluster for guest cluster " + guestCluster + " at 0x" + Long.toHexString(host) + " is not cluster aligned");
                }
                reference(which + " data cluster", host, cs);
                if (active) {
                    allocated++;
                    if (lastHost >= 0 && host != lastHost + cs) fragmented++;
                    lastHost = host;
                }
            }
        }
    }

    /** Checks the OFLAG_COPIED bits of the active L1/L2 tables against the refcounts (after counting). */
    private void checkCopiedFlags() {
        Refcounts rc = image.refcounts();
        long[] l1 = image.l1();
        int entrySize = h.l2EntrySize();
        for (int i = 0; i < l1.length; i++) {
            long l2off = l1[i] & Qcow2Image.OFFSET_MASK;
            if (l2off == 0) continue;
            // the refcount of the cluster the table starts in (0 past the refcounted area), as qemu-img check takes it
            long r = rc.get(l2off >>> bits);
            if ((r == 1) != ((l1[i] & Qcow2Image.COPIED) != 0)) {
                corruption("OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry=0x" + Long.toHexString(l1[i]) + " refcount=" + r);
            }
            ByteBuffer t = ByteBuffer.wrap(file.readBytes(l2off, (int) cs));
            for (int j = 0; j < cs / entrySize; j++) {
                long e = t.getLong(j * entrySize);
                long host = e & Qcow2Image.OFFSET_MASK;
                if ((e & Qcow2Image.COMPRESSED) != 0 || host == 0) continue;
                long hr = rc.get(host >>> bits);
                if ((hr == 1) != ((e & Qcow2Image.COPIED) != 0)) {
                    corruption("OFLAG_COPIED data cluster: l2_entry=0x" + Long.toHexString(e) + " refcount=" + hr);
                }
            }
        }
    }

    Result run() {
        countReferences();
        Refcounts rc = image.refcounts();
        long leaks = 0, end = 0;
        for (long c = 0; c < fileClusters; c++) {
            long stored = rc.get(c);
            int want = refs[(int) c];
            if (stored != 0 || want != 0) end = (c + 1) << bits;
            if (stored < want) {
                corruption("cluster " + c + " refcount=" + stored + " reference=" + want);
            } else if (stored > want) {
                leaks++;
                message("Leaked cluster " + c + " refcount=" + stored + " reference=" + want);
            }
        }
        checkCopiedFlags();
        long total = (h.size + cs - 1) >>> bits;
        return new Result(corruptions, leaks, outside, allocated, total, fragmented, compressed, end, List.copyOf(messages));
    }

    /** Rewrites every refcount to match the references (repair after an unclean lazy-refcounts shutdown). */
    void rebuildRefcounts() {
        countReferences();
        Refcounts rc = image.refcounts();
        for (long c = 0; c < fileClusters; c++) {
            long stored = rc.get(c);
            if (stored != refs[(int) c]) rc.setCreating(c, refs[(int) c]);
        }
    }
}
