package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.machine.BlockDrive;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.virtio.blk.ThrottleGroup;
import dev.vmm.virtio.blk.ThrottleGroup.Limit;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Block QMP commands with QEMU's names and argument shapes: {@code query-block} (a subset of
 * QEMU's BlockInfo) and {@code block_set_io_throttle}.
 *
 * <p>{@code block_set_io_throttle} takes QEMU's six required limits ({@code bps}, {@code bps_rd},
 * {@code bps_wr}, {@code iops}, {@code iops_rd}, {@code iops_wr}; 0 = unlimited; a total and its
 * per-direction limits exclude each other) and the drive as {@code device} (QEMU's older form)
 * or {@code id}. The optional {@code *_max} / {@code *_max_length} burst pair becomes the
 * bucket's burst allowance: QEMU lets a burst run at {@code X_max} for {@code X_max_length}
 * seconds, here the bucket holds {@code X_max × X_max_length} units (so a burst of that size
 * passes at once rather than at a peak rate, at most 3600 s of the limit). {@code iops_size} and a
 * {@code group} other than the drive's own are not supported and are refused once QEMU's own checks pass.
 */
public final class BlockCommands {
    private BlockCommands() {}

    private static final String[] BASE = {"bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"};
    private static final Limit[] LIMITS = {Limit.TOTAL_BYTES, Limit.READ_BYTES, Limit.WRITE_BYTES, Limit.TOTAL_OPS,
            Limit.READ_OPS, Limit.WRITE_OPS};
    /** QEMU's BlockIOThrottle members: any other argument is refused as unexpected. */
    private static final java.util.Set<String> PARAMETERS = parameters();

    private static java.util.Set<String> parameters() {
        java.util.Set<String> p = new java.util.HashSet<>(List.of("device", "id", "iops_size", "group"));
        for (String b : BASE) p.addAll(List.of(b, b + "_max", b + "_max_length"));
        return p;
    }

    /** QEMU's THROTTLE_VALUE_MAX. */
    private static final long VALUE_MAX = 1_000_000_000_000_000L;

    /** @param devices the machine's devices (null: none yet) */
    public static void install(QmpServer qmp, Supplier<DeviceRegistry> devices) {
        qmp.register("query-block", java.util.Set.of(), a -> queryBlock(devices.get()));
        qmp.register("block_set_io_throttle", PARAMETERS, a -> {
            setIoThrottle(devices.get(), a);
            return null;
        });
    }

    static List<Map<String, Object>> queryBlock(DeviceRegistry devices) {
        List<Map<String, Object>> out = new ArrayList<>();
        if (devices == null) return out;
        for (BlockDrive d : devices.drives()) {
            Map<String, Object> image = new LinkedHashMap<>();
            image.put("filename", d.spec().path().toString());
            image.put("format", d.format());
            image.put("virtual-size", d.size());
            Map<String, Object> inserted = new LinkedHashMap<>();
            inserted.put("file", d.spec().path().toString());
            inserted.put("node-name", d.id());
            inserted.put("ro", d.spec().readOnly());
            inserted.put("drv", d.format());
            inserted.put("encrypted", false);
            inserted.put("detect_zeroes", "off");
            ThrottleGroup t = d.throttle();
            for (int i = 0; i < BASE.length; i++) inserted.put(BASE[i], t.limit(LIMITS[i]));
            inserted.put("cache", Map.of("writeback", !d.spec().cache().equals("writethrough"),
                    "direct", d.spec().direct(), "no-flush", false));
            inserted.put("image", image);
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("device", d.id());
            info.put("qdev", d.pci().toString());
            info.put("locked", false);
            info.put("removable", false);
            info.put("type", "unknown");
            info.put("inserted", inserted);
            out.add(info);
        }
        out.addAll(MediaCommands.queryBlock(devices.parts(dev.vmm.devices.AhciDriveSlot.class))); // AHCI disks and CD-ROMs
        return out;
    }

    /**
     * Checked as QEMU 7.2 checks it, in its order and with its messages: the arguments' presence and
     * types first (every member, in the schema's order), then the drive, then the limits as
     * QEMU's throttle validation sees them (values unsigned: a negative one is out of range).
     */
    static void setIoThrottle(DeviceRegistry devices, JsonNode a) throws QmpServer.QmpException {
        String device = string(a, "device");
        String id = string(a, "id");
        long[] v = new long[BASE.length];
        for (int i = 0; i < BASE.length; i++) v[i] = number(a, BASE[i], true, 0);
        long[] max = new long[BASE.length];
        long[] maxLen = new long[BASE.length];
        for (int i = 0; i < BASE.length; i++) max[i] = number(a, BASE[i] + "_max", false, 0);
        for (int i = 0; i < BASE.length; i++) maxLen[i] = number(a, BASE[i] + "_max_length", false, 1);
        long iopsSize = number(a, "iops_size", false, 0);
        String group = string(a, "group");
        if ((device == null) == (id == null)) throw QmpServer.QmpException.generic("Need exactly one of 'device' and 'id'");
        BlockDrive drive = find(devices, device != null ? device : id);
        if (totalWithDirections(v) || totalWithDirections(max)) {
            throw QmpServer.QmpException.generic("bps/iops/max total values and read/write values cannot be used at the same time");
        }
        if (iopsSize != 0 && v[3] == 0 && v[4] == 0 && v[5] == 0) {
            throw QmpServer.QmpException.generic("iops size requires an iops value to be set");
        }
        for (int i = 0; i < BASE.length; i++) checkBucket(v[i], max[i], maxLen[i]);
        if (iopsSize != 0) throw QmpServer.QmpException.generic("iops_size is not supported");
        if (group != null && !group.equals(drive.id())) {
            throw QmpServer.QmpException.generic("throttle groups shared between drives are not supported");
        }
        ThrottleGroup t = drive.throttle();
        for (int i = 0; i < BASE.length; i++) {
            double burst = max[i] == 0 ? 1.0 : Math.min(3600.0, Math.max(1.0, (double) max[i] * maxLen[i] / v[i]));
            t.setLimit(LIMITS[i], v[i], burst);
        }
    }

    /** A total limit given with a read or write one (bytes: slots 0-2, operations: 3-5). */
    private static boolean totalWithDirections(long[] x) {
        return (x[0] != 0 && (x[1] != 0 || x[2] != 0)) || (x[3] != 0 && (x[4] != 0 || x[5] != 0));
    }

    /** One limit, its burst rate and burst length, compared unsigned as QEMU's uint64 fields. */
    private static void checkBucket(long avg, long max, long length) throws QmpServer.QmpException {
        if (Long.compareUnsigned(avg, VALUE_MAX) > 0 || Long.compareUnsigned(max, VALUE_MAX) > 0) {
            throw QmpServer.QmpException.generic("bps/iops/max values must be within [0, " + VALUE_MAX + "]");
        }
        if (length == 0) throw QmpServer.QmpException.generic("the burst length cannot be 0");
        if (max == 0 && length != 1) throw QmpServer.QmpException.generic("burst length set without burst rate");
        if (max != 0 && Long.compareUnsigned(length, VALUE_MAX / max) > 0) {
            throw QmpServer.QmpException.generic("burst length too high for this burst rate");
        }
        if (max != 0 && avg == 0) throw QmpServer.QmpException.generic("bps_max/iops_max require corresponding bps/iops values");
        if (max != 0 && max < avg) throw QmpServer.QmpException.generic("bps_max/iops_max cannot be lower than bps/iops");
    }

    private static BlockDrive find(DeviceRegistry devices, String name) throws QmpServer.QmpException {
        if (devices != null) {
            for (BlockDrive d : devices.drives()) if (d.id().equals(name)) return d;
        }
        throw new QmpServer.QmpException("DeviceNotFound", "Device '" + name + "' not found");
    }

    private static String string(JsonNode a, String key) throws QmpServer.QmpException {
        return QapiArguments.string(a, "", key, false);
    }

    private static long number(JsonNode a, String key, boolean required, long absent) throws QmpServer.QmpException {
        return QapiArguments.integer(a, "", key, required, absent);
    }
}
