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
 * passes at once rather than at a peak rate). {@code iops_size} and {@code group} are not
 * supported and are refused when non-default.
 */
public final class BlockCommands {
    private BlockCommands() {}

    private static final String[] BASE = {"bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr"};
    private static final Limit[] LIMITS = {Limit.TOTAL_BYTES, Limit.READ_BYTES, Limit.WRITE_BYTES, Limit.TOTAL_OPS,
            Limit.READ_OPS, Limit.WRITE_OPS};
    /** QEMU's THROTTLE_VALUE_MAX. */
    private static final long VALUE_MAX = 1_000_000_000_000_000L;

    /** @param devices the machine's devices (null: none yet) */
    public static void install(QmpServer qmp, Supplier<DeviceRegistry> devices) {
        qmp.register("query-block", java.util.Set.of(), a -> queryBlock(devices.get()));
        qmp.register("block_set_io_throttle", a -> {
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

    static void setIoThrottle(DeviceRegistry devices, JsonNode a) throws QmpServer.QmpException {
        String name = a.hasNonNull("id") ? a.get("id").asText() : a.hasNonNull("device") ? a.get("device").asText() : null;
        if (name == null) throw QmpServer.QmpException.generic("Need exactly one of 'device' and 'id'");
        BlockDrive drive = find(devices, name);
        long[] v = new long[BASE.length];
        for (int i = 0; i < BASE.length; i++) v[i] = number(a, BASE[i], true);
        long[] max = new long[BASE.length];
        long[] maxLen = new long[BASE.length];
        for (int i = 0; i < BASE.length; i++) {
            max[i] = number(a, BASE[i] + "_max", false);
            maxLen[i] = a.has(BASE[i] + "_max_length") ? number(a, BASE[i] + "_max_length", false) : 1;
            if (maxLen[i] < 1 || maxLen[i] > 3600) {
                throw QmpServer.QmpException.generic(BASE[i] + "_max_length must be between 1 and 3600");
            }
            if (max[i] != 0 && v[i] == 0) {
                throw QmpServer.QmpException.generic(BASE[i] + "_max requires " + BASE[i] + " to be set");
            }
            if (max[i] != 0 && max[i] < v[i]) {
                throw QmpServer.QmpException.generic(BASE[i] + "_max must be greater than or equal to " + BASE[i]);
            }
        }
        if ((v[0] != 0 && (v[1] != 0 || v[2] != 0)) || (v[3] != 0 && (v[4] != 0 || v[5] != 0))) {
            throw QmpServer.QmpException.generic("bps/iops/max total values and read/write values cannot be used at the same time");
        }
        if (a.has("iops_size") && number(a, "iops_size", false) != 0) {
            throw QmpServer.QmpException.generic("iops_size is not supported");
        }
        if (a.hasNonNull("group") && !a.get("group").asText().equals(drive.id())) {
            throw QmpServer.QmpException.generic("throttle groups shared between drives are not supported");
        }
        ThrottleGroup t = drive.throttle();
        for (int i = 0; i < BASE.length; i++) {
            double burst = max[i] == 0 ? 1.0 : Math.min(3600.0, Math.max(1.0, (double) max[i] * maxLen[i] / v[i]));
            t.setLimit(LIMITS[i], v[i], burst);
        }
    }

    private static BlockDrive find(DeviceRegistry devices, String name) throws QmpServer.QmpException {
        if (devices != null) {
            for (BlockDrive d : devices.drives()) if (d.id().equals(name)) return d;
        }
        throw new QmpServer.QmpException("DeviceNotFound", "Device '" + name + "' not found");
    }

    private static long number(JsonNode a, String key, boolean required) throws QmpServer.QmpException {
        JsonNode n = a.get(key);
        if (n == null || n.isNull()) {
            if (required) throw QmpServer.QmpException.generic("Parameter '" + key + "' is missing");
            return 0;
        }
        if (!n.isIntegralNumber()) throw QmpServer.QmpException.generic("Parameter '" + key + "' expects int64");
        long v = n.asLong();
        if (v < 0 || v > VALUE_MAX) {
            throw QmpServer.QmpException.generic(key + " must be between 0 and " + VALUE_MAX);
        }
        return v;
    }
}
