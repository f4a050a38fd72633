package dev.vmm.snapshot.devices;

import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.scsi.VirtioScsi;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A virtio-scsi controller's LUN set in the {@code devices} section (version 2, issue 15): per LUN
 * its target and LUN number, qdev id, and what identifies the disk to the guest — capacity in
 * blocks, block size, read-only, serial (the capacity and read-only flag are what a virtio-blk
 * device's state checks). A destination must have the same set: started with
 * {@code --scsi path=...,controller=ID,lun=N,id=X} for each disk (libvirt's {@code -device
 * scsi-hd,bus=ID.0,scsi-id=0,lun=N,id=X}).
 */
public final class ScsiLuns {
    /** SAM flat addressing: no more LUNs on a target. */
    static final int MAX_LUNS = ScsiTarget.MAX_LUN + 1;

    /** One LUN; {@code id} is "" without a qdev id. */
    public record Lun(int scsiId, int lun, String id, long blocks, int blockSize, boolean readOnly, String serial) {
        String describe() {
            return "LUN " + lun + (id.isEmpty() ? "" : " '" + id + "'");
        }

        String shape() {
            return blocks + " blocks of " + blockSize + " bytes, " + (readOnly ? "read-only" : "read-write") + ", serial " + serial;
        }
    }

    private ScsiLuns() {}

    /** The LUNs of {@code device} now when it is a virtio-scsi controller, else none. */
    static List<Lun> of(VirtioDevice device) {
        if (!(device instanceof VirtioScsi scsi)) return List.of();
        ScsiTarget target = scsi.target();
        List<Lun> out = new ArrayList<>();
        for (int n : target.lunNumbers()) {
            ScsiDisk d = target.lun(n);
            if (d == null) continue; // unplugged since the numbers were read
            String id = scsi.lunName(n);
            out.add(new Lun(0, n, id == null ? "" : id, d.capacity(), d.blockSize(), d.readOnly(), d.config().serial()));
        }
        return out;
    }

    static void write(DataOutputStream out, List<Lun> luns) throws IOException {
        out.writeInt(luns.size());
        for (Lun l : luns) {
            out.writeShort(l.scsiId());
            out.writeInt(l.lun());
            out.writeUTF(l.id());
            out.writeLong(l.blocks());
            out.writeInt(l.blockSize());
            out.writeBoolean(l.readOnly());
            out.writeUTF(l.serial());
        }
    }

    static List<Lun> read(DataInputStream in) throws IOException {
        int n = ManifestFields.count(in, MAX_LUNS, "LUN");
        List<Lun> out = new ArrayList<>(Math.min(n, 64));
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            int target = in.readUnsignedShort();
            int lun = in.readInt();
            String id = ManifestFields.text(in, "LUN id");
            long blocks = in.readLong();
            int bs = in.readInt();
            boolean ro = in.readBoolean();
            String serial = ManifestFields.text(in, "serial");
            if (target != 0 || lun < 0 || lun > ScsiTarget.MAX_LUN) throw new StateFormatException("devices: SCSI target " + target + " LUN " + lun);
            if (!seen.add(lun)) throw new StateFormatException("devices: LUN " + lun + " twice");
            if (blocks < 0 || (bs != 512 && bs != 4096)) throw new StateFormatException("devices: LUN " + lun + " of " + blocks + " blocks of " + bs + " bytes");
            out.add(new Lun(target, lun, id, blocks, bs, ro, serial));
        }
        return out;
    }

    /**
     * What differs between the saved LUNs and this machine's of the controller {@code controller}
     * (how messages name it): each missing, extra or different LUN named.
     */
    static List<String> differences(String controller, List<Lun> saved, List<Lun> here) {
        Map<Integer, Lun> mine = new LinkedHashMap<>();
        for (Lun l : here) mine.put(l.lun(), l);
        List<String> out = new ArrayList<>();
        for (Lun s : saved) {
            Lun h = mine.remove(s.lun());
            if (h == null) {
                out.add(controller + ": missing " + s.describe() + " (" + s.shape() + ")");
                continue;
            }
            String id = ManifestFields.idDifference(controller + ": " + s.describe(), s.id(), h.id());
            if (id != null) out.add(id);
            if (!s.shape().equals(h.shape())) out.add(controller + ": " + s.describe() + " is " + s.shape() + " in the state, " + h.shape() + " here");
        }
        for (Lun h : mine.values()) out.add(controller + ": extra " + h.describe() + " (" + h.shape() + ")");
        return out;
    }
}
