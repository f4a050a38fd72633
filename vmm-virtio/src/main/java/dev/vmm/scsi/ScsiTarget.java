package dev.vmm.scsi;

import java.util.List;

/**
 * A SCSI target with logical units 0..n-1 ({@link ScsiDisk}s), as SAM/SPC want a target to answer
 * for LUNs it does not have: REPORT LUNS is answered on any LUN with the full list; INQUIRY on an
 * absent LUN returns peripheral qualifier 011b / device type 1Fh ("no unit here", which is how
 * Linux's scan learns to skip it); REQUEST SENSE on an absent LUN returns LOGICAL UNIT NOT
 * SUPPORTED sense data; every other command is CHECK CONDITION / ILLEGAL REQUEST / LOGICAL UNIT
 * NOT SUPPORTED (25h/00h). Thread-safe (stateless).
 */
public final class ScsiTarget {
    /** Largest LUN this target can address (SAM flat space addressing: 14 bits). */
    public static final int MAX_LUN = 16383;

    private final List<ScsiDisk> luns;
    private final int[] lunNumbers;

    public ScsiTarget(List<ScsiDisk> luns) {
        if (luns.isEmpty()) throw new IllegalArgumentException("a SCSI target needs at least one logical unit");
        if (luns.size() > MAX_LUN + 1) throw new IllegalArgumentException("at most " + (MAX_LUN + 1) + " logical units");
        this.luns = List.copyOf(luns);
        this.lunNumbers = new int[luns.size()];
        for (int i = 0; i < lunNumbers.length; i++) lunNumbers[i] = i;
    }

    public int lunCount() { return luns.size(); }

    public boolean hasLun(int lun) { return lun >= 0 && lun < luns.size(); }

    public ScsiDisk lun(int lun) { return luns.get(lun); }

    /** Whether this command on {@code lun} may block on the disk (a transport runs it on a worker). */
    public boolean touchesDisk(int lun, byte[] cdb) {
        return hasLun(lun) && cdb.length > 0 && ScsiDisk.touchesDisk(cdb[0] & 0xFF);
    }

    /** {@link ScsiDisk#plainTransfer} on {@code lun}: null for an absent LUN and for anything but a valid READ/WRITE. */
    public ScsiDisk.Transfer plainTransfer(int lun, byte[] cdb, DataBuffer dataOut, DataBuffer dataIn) {
        return hasLun(lun) ? luns.get(lun).plainTransfer(cdb, dataOut, dataIn) : null;
    }

    /** Runs {@code cdb} on {@code lun} (any int; absent LUNs are answered as SPC says). Never throws. */
    public ScsiResult execute(int lun, byte[] cdb, DataBuffer dataOut, DataBuffer dataIn) {
        if (cdb.length > 0 && (cdb[0] & 0xFF) == ScsiDisk.REPORT_LUNS) {
            if (cdb.length < 12) return ScsiDisk.refuse(Sense.invalidFieldInCdb(cdb.length, -1), dataOut, dataIn);
            return ScsiDisk.guarded(() -> ScsiDisk.reportLuns(cdb, lunNumbers, dataIn), dataOut, dataIn);
        }
        if (hasLun(lun)) return luns.get(lun).execute(cdb, dataOut, dataIn);
        int op = cdb.length > 0 ? cdb[0] & 0xFF : -1;
        if (op == ScsiDisk.INQUIRY && cdb.length >= 6 && (cdb[1] & 0x01) == 0 && cdb[2] == 0) {
            return ScsiDisk.reply(ScsiDisk.standardInquiry(0x7F), ScsiDisk.u16(cdb, 3), dataIn);
        }
        if (op == ScsiDisk.REQUEST_SENSE && cdb.length >= 6) {
            byte[] s = (cdb[1] & 1) != 0 ? Sense.LUN_NOT_SUPPORTED.descriptor() : Sense.LUN_NOT_SUPPORTED.fixed();
            return ScsiDisk.reply(s, ScsiDisk.u8(cdb, 4), dataIn);
        }
        return ScsiDisk.refuse(Sense.LUN_NOT_SUPPORTED, dataOut, dataIn);
    }
}
