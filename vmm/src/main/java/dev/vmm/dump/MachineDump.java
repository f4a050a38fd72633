package dev.vmm.dump;

import dev.vmm.machine.Machine;
import dev.vmm.vcpu.Vcpu;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Writes a stopped machine's ELF core ({@code --on-panic dump=PATH}). */
public final class MachineDump {
    private MachineDump() {}

    /** QMP dump-guest-memory over {@code m}: the vCPUs are paused (no STOP/RESUME) while the core is written. */
    public static void installQmp(dev.vmm.control.QmpServer qmp, Machine m) {
        DumpCommands.install(qmp, new DumpCommands.Source() {
            @Override
            public dev.vmm.memory.GuestMemory memory() { return m.memory(); }

            @Override
            public void withStoppedVcpus(DumpCommands.Work work) throws Exception {
                m.briefly(() -> work.run(registers(m)));
            }
        });
    }

    static List<X86Registers> registers(Machine m) {
        List<X86Registers> cpus = new ArrayList<>();
        for (Vcpu v : m.vcpus()) cpus.add(X86Registers.of(v.fd().getRegs(), v.fd().getSregs()));
        return cpus;
    }

    /**
     * Writes the core of {@code m}, whose vCPUs no longer run; reports the outcome on {@code err}
     * (one line) and returns whether it worked: a failed dump must not hide the panic itself.
     */
    public static boolean write(Machine m, Path file, PrintStream err) {
        try {
            ElfCoreWriter.write(file, m.memory(), registers(m));
            err.println("vmm: guest core written to " + file);
            return true;
        } catch (IOException | RuntimeException e) {
            err.println("vmm: cannot write the guest core to " + file + ": " + e.getMessage());
            return false;
        }
    }
}
