package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.ImageInfo;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Parser of the qcow2 internal snapshot table. Snapshots are listed and checked, never applied. */
final class Qcow2Snapshots {
    private static final int MAX_EXTRA = 1024;
    private static final long MAX_TABLE_BYTES = 64L << 20;

    /** One entry with what the checker needs (its L1 table) and what info shows. */
    record Entry(long l1Offset, int l1Size, long tableBytes, ImageInfo.Snapshot info) {}

    static List<Entry> read(ImageFile file, Qcow2Header h) {
        List<Entry> out = new ArrayList<>();
        long fileSize = file.size();
        long off = h.snapshotsOffset;
        for (int i = 0; i < h.nbSnapshots; i++) {
            if (off - h.snapshotsOffset + 40 > MAX_TABLE_BYTES || off + 40 > fileSize) {
                throw new ImageFormatException("qcow2 snapshot table entry " + i + " lies past the end of the file");
            }
            ByteBuffer b = ByteBuffer.wrap(file.readBytes(off, 40));
            long l1Offset = b.getLong(0);
            int l1Size = b.getInt(8);
            int idLen = b.getShort(12) & 0xffff, nameLen = b.getShort(14) & 0xffff;
            long dateSec = b.getInt(16) & 0xffffffffL, dateNsec = b.getInt(20) & 0xffffffffL;
            long vmClock = b.getLong(24);
            long vmState = b.getInt(32) & 0xffffffffL;
            long extraLen = b.getInt(36) & 0xffffffffL;
            if (extraLen > MAX_EXTRA) throw new ImageFormatException("qcow2 snapshot " + i + " has too much extra data (" + extraLen + " bytes)");
            long varLen = extraLen + idLen + nameLen;
            if (off + 40 + varLen > fileSize) throw new ImageFormatException("qcow2 snapshot table entry " + i + " lies past the end of the file");
            ByteBuffer v = ByteBuffer.wrap(file.readBytes(off + 40, (int) varLen));
            long diskSize = h.size;
            if (extraLen >= 8) vmState = v.getLong(0);
            if (extraLen >= 16) diskSize = v.getLong(8);
            byte[] id = new byte[idLen], name = new byte[nameLen];
            v.get((int) extraLen, id);
            v.get((int) extraLen + idLen, name);
            if (Integer.toUnsignedLong(l1Size) * 8 > Qcow2Header.MAX_L1_BYTES) throw new ImageFormatException("qcow2 snapshot " + i + " L1 table is too large");
            if (l1Size != 0) {
                Qcow2Header.checkTable("snapshot L1 table", l1Offset, Integer.toUnsignedLong(l1Size) * 8, fileSize);
            }
            out.add(new Entry(l1Offset, l1Size, 0, new ImageInfo.Snapshot(new String(id, StandardCharsets.UTF_8),
                    new String(name, StandardCharsets.UTF_8), vmState, dateSec, dateNsec, vmClock, diskSize)));
            off += (40 + varLen + 7) & ~7L;
        }
        long bytes = off - h.snapshotsOffset;
        if (!out.isEmpty()) {
            List<Entry> sized = new ArrayList<>();
            for (Entry e : out) sized.add(new Entry(e.l1Offset(), e.l1Size(), bytes, e.info()));
            return sized;
        }
        return out;
    }
}
