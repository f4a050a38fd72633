package dev.vmm.control;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.machine.RunControl;
import dev.vmm.vcpu.VcpuView;
import dev.vmm.vcpu.VmExit;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The run-state QMP commands (query-status, stop, cont, quit, system_reset, system_powerdown) and
 * events, over a {@link RunControl}; and the experimental per-vCPU commands and snapshot save.
 */
public final class MachineCommands {
    private MachineCommands() {}

    /** The run-state commands take no arguments: any is refused as QEMU refuses it ("Parameter 'x' is unexpected"). */
    private static final java.util.Set<String> NO_ARGUMENTS = java.util.Set.of();

    /** {@code query-status}'s answer in run state {@code s} (QEMU's run states; lifecycle). */
    public static Map<String, Object> status(dev.vmm.lifecycle.RunState s) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("status", s.qapiName());
        r.put("singlestep", false);
        r.put("running", s == dev.vmm.lifecycle.RunState.RUNNING);
        return r;
    }

    /** The run-state commands and events; {@code system_powerdown} presses the ACPI PM block found on {@code pio}. */
    public static void install(QmpServer qmp, RunControl m, Bus pio) {
        qmp.register("query-status", NO_ARGUMENTS, a -> status(m.lifecycle().state()));
        qmp.register("stop", NO_ARGUMENTS, a -> {
            if (m.lifecycle().state() == dev.vmm.lifecycle.RunState.INMIGRATE) { // --incoming defer: QEMU's autostart off
                m.autostart(false);
                return null;
            }
            try {
                m.pause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw QmpServer.QmpException.generic("interrupted while pausing");
            }
            return null;
        });
        qmp.register("cont", NO_ARGUMENTS, a -> {
            if (m.lifecycle().state().needsReset()) throw QmpServer.QmpException.generic("Resetting the Virtual Machine is required");
            if (m.lifecycle().state() == dev.vmm.lifecycle.RunState.SUSPENDED) return null; // as QEMU: only system_wakeup resumes S3
            if (m.lifecycle().state() == dev.vmm.lifecycle.RunState.INMIGRATE) { // --incoming defer: run once received
                m.autostart(true);
                return null;
            }
            m.resume();
            return null;
        });
        qmp.register("quit", NO_ARGUMENTS, a -> {
            // Answer first, then stop: QEMU replies before it exits.
            dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "qmp-quit", () -> {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ignored) {
                    // stop anyway
                }
                m.stop("quit requested over QMP");
            });
            return null;
        });
        qmp.register("system_reset", NO_ARGUMENTS, a -> {
            m.vmExit(new VmExit(VmExit.Kind.RESET, 0, "reset requested over QMP", null));
            return null;
        });
        // lifecycle: STOP, RESUME, SHUTDOWN, RESET, GUEST_PANICKED... with QEMU's members
        m.lifecycle().addSink(qmp::event);
        qmp.register("system_powerdown", NO_ARGUMENTS, a -> {
            dev.vmm.chipset.acpi.AcpiPm pm = null;
            for (Bus.Range r : pio.ranges()) {
                if (r.device() instanceof dev.vmm.chipset.acpi.AcpiPm p) pm = p;
            }
            if (pm == null) throw QmpServer.QmpException.generic("this machine has no ACPI power button");
            pm.pressPowerButton();
            m.lifecycle().emit(dev.vmm.lifecycle.LifecycleEvents.POWERDOWN, dev.vmm.lifecycle.LifecycleEvents.empty());
            return null;
        });
    }

    /** Saves the paused machine's snapshot to a file ({@code dev.vmm.snapshot.Snapshot.save} in {@code vmm run}). */
    @FunctionalInterface
    public interface SnapshotSave {
        void save(java.nio.file.Path file) throws java.io.IOException;
    }

    /**
     * The experimental (x- prefix, as QEMU names its unstable commands) per-vCPU commands and the
     * snapshot save, over the machine's run control, its vCPUs (as read at each command: CPU
     * hot-plug changes them) and its snapshot writer.
     */
    public static void installDiagnostics(QmpServer qmp, RunControl m, Supplier<List<? extends VcpuView>> vcpus, SnapshotSave snapshot) {
        // exits handled per vCPU
        qmp.register("x-vmm-exit-counts", a -> vcpus.get().stream().map(v -> {
            long[] c = v.exitCounts();
            long total = 0;
            for (long x : c) total += x;
            return Map.of("cpu-index", v.id(), "exits", total);
        }).toList());
        qmp.register("x-vmm-snapshot-save", a -> {
            String file = a.path("file").asText(null);
            if (file == null || file.isEmpty()) throw QmpServer.QmpException.generic("Parameter 'file' is missing");
            try {
                m.pause();
                snapshot.save(java.nio.file.Path.of(file));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw QmpServer.QmpException.generic("interrupted");
            } catch (java.io.IOException | RuntimeException e) {
                throw QmpServer.QmpException.generic("snapshot to " + file + " failed: " + e.getMessage());
            }
            return null; // the machine stays paused, as after Firecracker's snapshot: 'cont' or 'quit' next
        });
        // Like QEMU's HMP 'info registers': each vCPU's registers (the machine is paused briefly if running).
        qmp.register("x-vmm-query-registers", a -> {
            boolean wasRunning = !m.paused();
            try {
                m.pause();
                return vcpus.get().stream().map(v -> Map.of("cpu-index", v.id(), "registers", v.registerDump())).toList();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw QmpServer.QmpException.generic("interrupted");
            } finally {
                if (wasRunning) m.resume();
            }
        });
    }
}
