package dev.vmm.migration;

import java.util.List;
import java.util.Map;

/**
 * {@code migrate-set-capabilities} / {@code query-migrate-capabilities} with QEMU's names. Only
 * the capabilities this engine implements exist; QEMU refuses changes while a migration runs,
 * and so should the caller. A migration copies them when it starts.
 */
public final class MigrationCapabilities {
    private volatile boolean xbzrle;
    private volatile boolean autoConverge;
    /** QEMU's {@code events}: a destination reports its status changes as MIGRATION events (libvirt sets it). */
    private volatile boolean events;

    public boolean xbzrle() { return xbzrle; }

    public boolean autoConverge() { return autoConverge; }

    public boolean events() { return events; }

    public MigrationCapabilities xbzrle(boolean on) {
        xbzrle = on;
        return this;
    }

    public MigrationCapabilities autoConverge(boolean on) {
        autoConverge = on;
        return this;
    }

    /** @throws IllegalArgumentException for a capability this engine does not have */
    public MigrationCapabilities set(String capability, boolean state) {
        switch (capability) {
            case "xbzrle" -> xbzrle = state;
            case "auto-converge" -> autoConverge = state;
            case "events" -> events = state;
            default -> throw new IllegalArgumentException("Capability '" + capability + "' is not supported");
        }
        return this;
    }

    /** The {@code query-migrate-capabilities} reply: {@code [{"capability": name, "state": bool}]}. */
    public List<Map<String, Object>> toList() {
        return List.of(Map.of("capability", "xbzrle", "state", xbzrle),
                Map.of("capability", "auto-converge", "state", autoConverge),
                Map.of("capability", "events", "state", events));
    }

    MigrationCapabilities copy() {
        return new MigrationCapabilities().xbzrle(xbzrle).autoConverge(autoConverge);
    }
}
