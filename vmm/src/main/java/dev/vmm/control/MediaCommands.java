package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.ConfigException;
import dev.vmm.devices.AhciDriveSlot;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * QMP for the AHCI drives, with QEMU 7.2's names, arguments, errors and events (compared by
 * {@code MediaCommandsQemuOracleTest}): the {@code query-block} entries of the AHCI disks and
 * CD-ROMs, {@code eject} and {@code blockdev-change-medium} of a CD-ROM, and DEVICE_TRAY_MOVED for
 * every tray movement. A drive is named by {@code device} (the drive name, {@code ide2-cd0}) or
 * {@code id} (its qdev path), exactly one of them.
 */
public final class MediaCommands {
    private MediaCommands() {}

    public static void install(QmpServer qmp, Supplier<List<AhciDriveSlot>> drives) {
        qmp.register("eject", Set.of("device", "id", "force"), a -> {
            AhciDriveSlot d = find(drives.get(), a);
            boolean force = bool(a, "force");
            switch (d.eject(force)) {
                case NOT_REMOVABLE -> throw QmpServer.QmpException.generic("Device '" + d.id() + "' is not removable");
                case LOCKED -> throw QmpServer.QmpException.generic(d.lockedMessage());
                case OPENED -> trayMoved(qmp, d, true);
                case ALREADY_OPEN -> { }
            }
            return Map.of();
        });
        qmp.register("blockdev-change-medium", Set.of("device", "id", "filename", "format", "read-only-mode", "force"), a -> {
            AhciDriveSlot d = find(drives.get(), a);
            String file = string(a, "filename", true);
            String format = string(a, "format", false);
            String mode = string(a, "read-only-mode", false);
            if (mode != null && !Set.of("retain", "read-only", "read-write").contains(mode)) {
                throw QmpServer.QmpException.generic("Parameter 'read-only-mode' does not accept value '" + mode + "'");
            }
            if ("read-write".equals(mode)) throw QmpServer.QmpException.generic("Block node is read-only");
            List<Boolean> moves;
            try {
                moves = d.change(Path.of(file), format, bool(a, "force"));
            } catch (ConfigException e) {
                throw QmpServer.QmpException.generic(e.getMessage());
            }
            for (boolean open : moves) trayMoved(qmp, d, open);
            return Map.of();
        });
    }

    /** The {@code query-block} entries of the AHCI drives (QEMU's BlockInfo shape). */
    public static List<Map<String, Object>> queryBlock(List<AhciDriveSlot> drives) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (AhciDriveSlot d : drives) {
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("io-status", "ok");
            info.put("device", d.id());
            info.put("locked", d.locked());
            info.put("removable", d.removable());
            Path p = d.path();
            if (p != null) {
                Map<String, Object> image = new LinkedHashMap<>();
                image.put("virtual-size", d.size());
                image.put("filename", p.toString());
                image.put("format", d.format());
                Map<String, Object> inserted = new LinkedHashMap<>();
                inserted.put("file", p.toString());
                inserted.put("ro", d.readOnly());
                inserted.put("drv", d.format());
                inserted.put("encrypted", false);
                inserted.put("detect_zeroes", "off");
                for (String k : List.of("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")) inserted.put(k, 0);
                inserted.put("cache", Map.of("writeback", true, "direct", false, "no-flush", false));
                inserted.put("image", image);
                info.put("inserted", inserted);
            }
            info.put("qdev", d.qdev());
            if (d.removable()) info.put("tray_open", d.trayOpen());
            info.put("type", "unknown");
            out.add(info);
        }
        return out;
    }

    private static void trayMoved(QmpServer qmp, AhciDriveSlot d, boolean open) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("device", d.id());
        data.put("tray-open", open);
        data.put("id", d.qdev());
        qmp.event("DEVICE_TRAY_MOVED", data);
    }

    private static AhciDriveSlot find(List<AhciDriveSlot> drives, JsonNode a) throws QmpServer.QmpException {
        String device = string(a, "device", false), id = string(a, "id", false);
        if ((device == null) == (id == null)) throw QmpServer.QmpException.generic("Need exactly one of 'device' and 'id'");
        for (AhciDriveSlot d : drives) {
            if (device != null ? d.id().equals(device) : d.qdev().equals(id)) return d;
        }
        throw new QmpServer.QmpException("DeviceNotFound", "Device '" + (device != null ? device : id) + "' not found");
    }

    private static boolean bool(JsonNode a, String key) throws QmpServer.QmpException {
        JsonNode n = a.get(key);
        if (n == null || n.isNull()) return false;
        if (!n.isBoolean()) throw QmpServer.QmpException.generic("Invalid parameter type for '" + key + "', expected: boolean");
        return n.booleanValue();
    }

    private static String string(JsonNode a, String key, boolean required) throws QmpServer.QmpException {
        JsonNode n = a.get(key);
        if (n == null || n.isNull()) {
            if (required) throw QmpServer.QmpException.generic("Parameter '" + key + "' is missing");
            return null;
        }
        if (!n.isTextual()) throw QmpServer.QmpException.generic("Invalid parameter type for '" + key + "', expected: string");
        return n.textValue();
    }
}
