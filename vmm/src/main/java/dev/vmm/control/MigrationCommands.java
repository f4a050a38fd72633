package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.machine.KvmDirtyLog;
import dev.vmm.machine.MigratableMachine;
import dev.vmm.migration.MigrationCapabilities;
import dev.vmm.migration.MigrationParameters;
import dev.vmm.migration.MigrationSource;
import dev.vmm.migration.MigrationStatus;
import dev.vmm.migration.MigrationUri;

import java.util.Iterator;
import java.util.Map;

/**
 * Live migration over QMP, with QEMU's command, argument and field names: {@code migrate},
 * {@code migrate_cancel}, {@code query-migrate}, {@code migrate-set-capabilities},
 * {@code migrate-set-parameters}, {@code query-migrate-capabilities},
 * {@code query-migrate-parameters}, and the {@code MIGRATION} event.
 */
public final class MigrationCommands {
    private final MigratableMachine machine;
    private final QmpServer qmp;
    private final MigrationParameters params = new MigrationParameters();
    private final MigrationCapabilities caps = new MigrationCapabilities();
    private volatile MigrationSource current;

    private MigrationCommands(MigratableMachine machine, QmpServer qmp) {
        this.machine = machine;
        this.qmp = qmp;
        // On a host whose dirty log misses writes, verify pages by hash at stop-and-copy.
        if (!KvmDirtyLog.trustworthy()) params.set("x-dirty-log-verify", "on");
    }

    /** @param m the machine migrated ({@link MigratableMachine#of} in {@code vmm run}) */
    public static MigrationCommands install(QmpServer qmp, MigratableMachine m) {
        MigrationCommands c = new MigrationCommands(m, qmp);
        c.register();
        return c;
    }

    // ---- the destination side (issue 15: --incoming defer, dev.vmm.control.incoming) ----
    private volatile dev.vmm.control.incoming.IncomingMigration incoming = dev.vmm.control.incoming.IncomingMigration.none();

    /** Installs {@code migrate-incoming}; {@code query-migrate} then answers for the destination and {@code migrate} waits for it. */
    public void incoming(dev.vmm.control.incoming.IncomingMigration in) {
        incoming = in;
        dev.vmm.control.incoming.IncomingCommands.install(qmp, in, caps);
    }

    private boolean running() {
        MigrationSource s = current;
        return s != null && !s.status().isFinal();
    }

    private void register() {
        qmp.register("migrate", a -> {
            String uri = a.path("uri").asText(null);
            if (uri == null) throw QmpServer.QmpException.generic("Parameter 'uri' is missing");
            if (running()) throw QmpServer.QmpException.generic("There's a migration process in progress");
            if (incoming.pending()) throw QmpServer.QmpException.generic("Guest is waiting for an incoming migration");
            if (machine.devices() != null) {
                java.util.List<String> unsupported = new java.util.ArrayList<>(machine.devices().unsaveable());
                machine.devices().transports().stream().filter(d -> !d.canSaveState()).map(Object::toString).forEach(unsupported::add);
                if (!unsupported.isEmpty()) {
                    throw QmpServer.QmpException.generic("cannot migrate: the state of " + String.join(", ", unsupported)
                            + " cannot be saved yet (saveable: virtio-blk, virtio-rng, virtio-net, virtio-scsi, virtio-console)");
                }
                // Device writes to guest RAM (DMA) are not in KVM's dirty log: the hash check at
                // stop-and-copy is what catches the pages they changed.
                if (!machine.devices().transports().isEmpty()
                        || !machine.devices().parts(dev.vmm.usb.xhci.XhciController.class).isEmpty()) params.set("x-dirty-log-verify", "on");
            }
            MigrationSource src = new MigrationSource(machine.memory(), machine.dirtyLog(),
                    machine.migrationControl(), params, caps)
                    .onStatusChange(st -> qmp.event("MIGRATION", Map.of("status", st.qmpName())));
            try {
                src.start(MigrationUri.parse(uri).connect());
            } catch (Exception e) {
                throw QmpServer.QmpException.generic("Failed to connect to '" + uri + "': " + e.getMessage());
            }
            current = src;
            JsonNode progress = a.path("x-progress");
            boolean show = progress.isBoolean() ? progress.asBoolean() : MigrationProgress.stderrIsTerminal();
            if (show) MigrationProgress.start(src, System.err, MigrationProgress.stderrIsTerminal());
            return null;
        });
        qmp.register("migrate_cancel", a -> {
            MigrationSource s = current;
            if (s != null) s.cancel();
            return null;
        });
        qmp.register("query-migrate", a -> {
            MigrationSource s = current;
            return s == null ? incoming.queryMigrate() : s.stats().toMap();
        });
        qmp.register("migrate-set-capabilities", a -> {
            if (running()) throw QmpServer.QmpException.generic("There's a migration process in progress");
            for (JsonNode c : a.path("capabilities")) {
                try {
                    caps.set(c.path("capability").asText(), c.path("state").asBoolean());
                } catch (IllegalArgumentException e) {
                    throw QmpServer.QmpException.generic(e.getMessage());
                }
            }
            return null;
        });
        qmp.register("migrate-set-parameters", a -> {
            // All or nothing, checked as a whole and typed as QEMU's: integers, booleans
            // (cpu-throttle-tailslow), strings (x-dirty-log-verify); anything else is refused by type.
            Map<String, Object> values = new java.util.LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                values.put(e.getKey(), v.isIntegralNumber() && v.canConvertToLong() ? (Object) v.asLong()
                        : v.isBoolean() ? (Object) v.asBoolean() : v.isTextual() ? v.asText() : v);
            }
            try {
                params.set(values);
            } catch (IllegalArgumentException ex) {
                throw QmpServer.QmpException.generic(ex.getMessage());
            }
            return null;
        });
        // Experimental: a 64-bit hash of all guest RAM (PageHash per page, folded in address order),
        // meaningful while the machine is paused: a migrated guest's RAM (destination started with -S)
        // must hash as the source's did at stop time.
        qmp.register("x-vmm-ram-hash", a -> {
            long h = 0x9E3779B97F4A7C15L, bytes = 0;
            for (dev.vmm.memory.GuestRegion r : machine.memory().regions()) {
                java.lang.foreign.MemorySegment host = r.host();
                for (long off = 0; off < host.byteSize(); off += 4096) {
                    h = Long.rotateLeft(h ^ dev.vmm.migration.PageHash.hash(host, off, 4096), 27) * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
                }
                bytes += host.byteSize();
            }
            return Map.of("hash", String.format("%016x", h), "bytes", bytes, "paused", machine.paused());
        });
        qmp.register("query-migrate-capabilities", java.util.Set.of(), a -> caps.toList());
        qmp.register("query-migrate-parameters", java.util.Set.of(), a -> params.toMap());
    }

    /** Whether a migration finished: the source then stays paused, as QEMU's does, until 'quit' or 'cont'. */
    public MigrationStatus status() {
        MigrationSource s = current;
        return s == null ? null : s.status();
    }
}
