package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * QMP {@code device_add} and {@code device_del} for every device family that can be plugged at run
 * time. A family ({@link DeviceDriver}) registers here; these two commands find it by driver name
 * ({@code device_add}) or by id ({@code device_del}), so a new hot-pluggable device never touches them.
 */
public final class DeviceDrivers {
    private final List<DeviceDriver> families = new CopyOnWriteArrayList<>();
    /** Ids whose DEVICE_DELETED is already arranged (one event per device, however often device_del is sent). */
    private final java.util.Set<String> reporting = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final QmpServer qmp;

    private DeviceDrivers(QmpServer qmp) {
        this.qmp = qmp;
    }

    /** Registers {@code device_add} and {@code device_del} on the server; families are added after. */
    public static DeviceDrivers install(QmpServer qmp) {
        DeviceDrivers d = new DeviceDrivers(qmp);
        qmp.register("device_add", d::add);
        qmp.register("device_del", java.util.Set.of("id"), d::delete);
        return d;
    }

    public void register(DeviceDriver family) {
        families.add(family);
    }

    private Object add(JsonNode a) throws QmpServer.QmpException {
        JsonNode driverNode = a.get("driver");
        if (driverNode == null || driverNode.isNull()) throw QmpServer.QmpException.generic("Parameter 'driver' is missing");
        // device_add is not schema-typed in QEMU: a scalar of any type is read as its text.
        if (!driverNode.isValueNode()) throw QmpServer.QmpException.generic("Parameter 'driver' expects a string");
        String driver = driverNode.asText();
        String id = null;
        JsonNode idNode = a.get("id");
        if (idNode != null && !idNode.isNull()) {
            if (!idNode.isValueNode()) throw QmpServer.QmpException.generic("Parameter 'id' expects a string");
            id = idNode.asText();
            if (!validId(id)) {
                throw QmpServer.QmpException.generic("Parameter 'id' expects an identifier");
            }
            for (DeviceDriver f : families) {
                if (f.owns(id)) throw QmpServer.QmpException.generic("Duplicate device ID '" + id + "'");
            }
        }
        for (DeviceDriver f : families) {
            if (f.drivers().contains(driver)) {
                f.add(driver, id, a);
                return Map.of();
            }
        }
        TreeSet<String> known = new TreeSet<>();
        families.forEach(f -> known.addAll(f.drivers()));
        throw QmpServer.QmpException.generic("'" + driver + "' is not a valid device model name"
                + (known.isEmpty() ? "" : " (this machine can hot-plug: " + String.join(", ", known) + ")"));
    }

    /** QEMU's id rule: a letter first, then letters, digits, '-', '.', '_'. */
    public static boolean validId(String id) {
        if (id.isEmpty() || !Character.isLetter(id.charAt(0)) || id.charAt(0) > 127) return false;
        for (int i = 1; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = c < 128 && (Character.isLetterOrDigit(c) || c == '-' || c == '.' || c == '_');
            if (!ok) return false;
        }
        return true;
    }

    private Object delete(JsonNode a) throws QmpServer.QmpException {
        JsonNode idNode = a.get("id");
        if (idNode == null || idNode.isNull()) throw QmpServer.QmpException.generic("Parameter 'id' is missing");
        if (!idNode.isTextual()) throw QmpServer.QmpException.generic("Parameter 'id' expects a string");
        String id = idNode.asText();
        for (DeviceDriver f : families) {
            if (f.owns(id)) {
                CompletableFuture<Void> gone = f.delete(id);
                // A repeated device_del of a device still going is a new request to the guest, not a second device.
                if (!reporting.add(id)) return Map.of();
                gone.whenComplete((v, e) -> reporting.remove(id));
                gone.thenRun(() -> {
                    for (String child : f.childrenDeleted()) {
                        qmp.event("DEVICE_DELETED", Map.of("path", "/machine/peripheral/" + id + "/" + child));
                    }
                    qmp.event("DEVICE_DELETED", Map.of("device", id, "path", "/machine/peripheral/" + id));
                });
                return Map.of();
            }
        }
        throw new QmpServer.QmpException("DeviceNotFound", "Device '" + id + "' not found");
    }
}
