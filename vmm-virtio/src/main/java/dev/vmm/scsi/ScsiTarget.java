package dev.vmm.scsi;

import java.util.List;

/**
 * A SCSI target with logical units 0..n-1 ({@link ScsiDisk}s), as SAM/SPC want a target to answer
 * for LUNs it does not have: REPORT LUNS is answered on any LUN with the full list; INQUIRY on an
 * absent LUN returns peripheral qualifier 011b / device type 1Fh ("no unit here", which is how
 * Linux's scan learns to skip it); REQUEST SENSE on an absent LUN returns LOGICAL UNIT NOT
 * SUPPORTED sense data; every other command is CHECK CONDITION / ILLEGAL REQUEST / LOGICAL UNIT
 * NOT SUPPORTED (25h/00h). Thread-safe: units may be plugged and unplugged while commands run
 * ({@link #plug}, {@link #unplug}); each command looks its unit up once.
 */
public final class ScsiTarget {
    /** Largest LUN this target can address (SAM flat space addressing: 14 bits). */
    public static final int MAX_LUN = 16383;

    /** The units, indexed by LUN (null = absent), and their numbers ascending; replaced whole on a change. */
    private record Table(ScsiDisk[] byLun, int[] numbers) {
        static final Table EMPTY = new Table(new ScsiDisk[0], new int[0]);
    }

    private volatile Table table;

    /** A target whose units are {@code luns}, LUN i = element i. */
    public ScsiTarget(List<ScsiDisk> luns) {
        if (luns.isEmpty()) throw new IllegalArgumentException("a SCSI target needs at least one logical unit");
        if (luns.size() > MAX_LUN + 1) throw new IllegalArgumentException("at most " + (MAX_LUN + 1) + " logical units");
        ScsiDisk[] byLun = luns.toArray(new ScsiDisk[0]);
        int[] numbers = new int[byLun.length];
        for (int i = 0; i < numbers.length; i++) numbers[i] = i;
        this.table = new Table(byLun, numbers);
    }

    private ScsiTarget() {
        this.table = Table.EMPTY;
    }

    /** A target with no unit yet: a controller whose disks are all plugged later ({@link #plug}). */
    public static ScsiTarget withoutUnits() {
        return new ScsiTarget();
    }

    /** How many units are present. */
    public int lunCount() { return table.numbers().length; }

    /** The LUNs present, ascending. */
    public int[] lunNumbers() { return table.numbers().clone(); }

    public boolean hasLun(int lun) {
        ScsiDisk[] t = table.byLun();
        return lun >= 0 && lun < t.length && t[lun] != null;
    }

    /** The unit at {@code lun}, or null when there is none. */
    public ScsiDisk lun(int lun) {
        ScsiDisk[] t = table.byLun();
        return lun >= 0 && lun < t.length ? t[lun] : null;
    }

    /**
     * Adds {@code disk} as {@code lun} (hot-plug). Commands that look the unit up from now on reach
     * it; REPORT LUNS lists it. False if the LUN is taken.
     */
    public synchronized boolean plug(int lun, ScsiDisk disk) {
        if (lun < 0 || lun > MAX_LUN) throw new IllegalArgumentException("LUN " + lun + " is outside 0.." + MAX_LUN);
        if (hasLun(lun)) return false;
        ScsiDisk[] t = java.util.Arrays.copyOf(table.byLun(), Math.max(table.byLun().length, lun + 1));
        t[lun] = disk;
        table = new Table(t, numbersOf(t));
        return true;
    }

    /**
     * Removes the unit at {@code lun} (hot-unplug) and returns it, or null if there was none. A
     * command that looks the LUN up afterwards is answered as for an absent unit; one that found the
     * unit before may still be running on it (the transport waits for those before the disk goes).
     */
    public synchronized ScsiDisk unplug(int lun) {
        ScsiDisk d = lun(lun);
        if (d == null) return null;
        ScsiDisk[] t = table.byLun().clone();
        t[lun] = null;
        table = new Table(t, numbersOf(t));
        return d;
    }

    private static int[] numbersOf(ScsiDisk[] byLun) {
        return java.util.stream.IntStream.range(0, byLun.length).filter(i -> byLun[i] != null).toArray();
    }

    /** Whether this command on {@code lun} may block on the disk (a transport runs it on a worker). */
    public boolean touchesDisk(int lun, byte[] cdb) {
        return hasLun(lun) && cdb.length > 0 && ScsiDisk.touchesDisk(cdb[0] & 0xFF);
    }

    /** {@link ScsiDisk#plainTransfer} on {@code lun}: null for an absent LUN and for anything but a valid READ/WRITE. */
    public ScsiDisk.Transfer plainTransfer(int lun, byte[] cdb, DataBuffer dataOut, DataBuffer dataIn) {
        ScsiDisk d = lun(lun);
        return d != null ? d.plainTransfer(cdb, dataOut, dataIn) : null;
    }

    /** Runs {@code cdb} on {@code lun} (any int; absent LUNs are answered as SPC says). Never throws. */
    public ScsiResult execute(int lun, byte[] cdb, DataBuffer dataOut, DataBuffer dataIn) {
        if (cdb.length > 0 && (cdb[0] & 0xFF) == ScsiDisk.REPORT_LUNS) {
            if (cdb.length < 12) return ScsiDisk.refuse(Sense.invalidFieldInCdb(cdb.length, -1), dataOut, dataIn);
            int[] numbers = table.numbers();
            return ScsiDisk.guarded(() -> ScsiDisk.reportLuns(cdb, numbers, dataIn), dataOut, dataIn);
        }
        ScsiDisk d = lun(lun); // looked up now: a unit unplugged meanwhile is answered as absent
        if (d != null) return d.execute(cdb, dataOut, dataIn);
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
