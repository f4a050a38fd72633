package dev.vmm.cpuhotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.DeviceDriver;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.smp.SmpTopology;

import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * {@code device_add} / {@code device_del} of vCPUs: every CPU driver name (QEMU's
 * {@code MODEL-x86_64-cpu}) comes here, so a driver of another model than {@code --cpu} is refused
 * as QEMU refuses it. Arguments are checked in QEMU 7.2's order and words: unknown property, the
 * integer props, the driver, then socket/die/core/thread each set and in range, then the slot free.
 */
public final class CpuDeviceDriver implements DeviceDriver {
    private static final Set<String> PROPS = Set.of("driver", "id", "socket-id", "die-id", "core-id", "thread-id");
    private final CpuHotplug cpus;
    private final Set<String> drivers = new LinkedHashSet<>();

    public CpuDeviceDriver(CpuHotplug cpus) {
        this.cpus = cpus;
        for (String model : dev.vmm.cpu.CpuModels.names()) drivers.add(CpuHotplug.typeName(model));
        drivers.add(cpus.typeName());
    }

    @Override
    public Set<String> drivers() { return drivers; }

    @Override
    public void add(String driver, String id, JsonNode args) throws QmpException {
        for (Iterator<String> it = args.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!PROPS.contains(name)) throw QmpException.generic("Property '" + driver + "." + name + "' not found");
        }
        long socket = prop(args, "socket-id"), die = prop(args, "die-id"), core = prop(args, "core-id"), thread = prop(args, "thread-id");
        if (!driver.equals(cpus.typeName())) throw QmpException.generic("Invalid CPU type, expected cpu type: '" + cpus.typeName() + "'");
        SmpTopology t = cpus.topology();
        if (die < 0 && t.dies() == 1) die = 0;   // optional with one die per socket, as in QEMU
        int maxSocket = (t.maxCpus() - 1) / t.threads() / t.cores() / t.dies();
        check("socket", socket, maxSocket);
        check("die", die, t.dies() - 1);
        check("core", core, t.cores() - 1);
        check("thread", thread, t.threads() - 1);
        int index = t.index((int) socket, (int) die, (int) core, (int) thread);
        if (cpus.isPresent(index)) {
            throw QmpException.generic("CPU[" + index + "] with APIC ID " + t.apicId(index) + " exists");
        }
        try {
            cpus.add(index, id);
        } catch (RuntimeException e) {
            throw QmpException.generic("cannot create vCPU " + index + ": " + e.getMessage());
        }
    }

    /** An integer property or -1 when absent (QEMU's "not set"); a string of digits counts, as in QEMU's device_add. */
    private static long prop(JsonNode args, String name) throws QmpException {
        JsonNode v = args.get(name);
        if (v == null || v.isNull()) return -1;
        if (v.isIntegralNumber()) return v.asLong();
        if (v.isTextual()) {
            try {
                return Long.parseLong(v.asText().trim());
            } catch (NumberFormatException e) {
                throw QmpException.generic("Parameter '" + name + "' expects integer");
            }
        }
        throw QmpException.generic("Parameter '" + name + "' expects integer");
    }

    private static void check(String what, long value, int max) throws QmpException {
        if (value < 0) throw QmpException.generic("CPU " + what + "-id is not set");
        if (value > max) throw QmpException.generic("Invalid CPU " + what + "-id: " + value + " must be in range 0:" + max);
    }

    @Override
    public boolean owns(String id) {
        return cpus.indexOf(id) >= 0;
    }

    @Override
    public CompletableFuture<Void> delete(String id) throws QmpException {
        int index = cpus.indexOf(id);
        if (index < 0) throw new QmpException("DeviceNotFound", "Device '" + id + "' not found");
        return cpus.remove(index);
    }
}
