package dev.vmm.snapshot.devices;

import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.cpuhotplug.CpuHotplug;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.hotplug.AcpiPciSlots;
import dev.vmm.hotplug.PciSlots;
import dev.vmm.migration.stream.RecordCodec;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.smp.SmpTopology;
import dev.vmm.snapshot.SectionBytes;

import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The hot-plug controllers' part of a machine's state (issue 15), shared by snapshots and
 * migration:
 *
 * <ul>
 * <li>{@code cpus}: the {@code --cpus} topology the machine was started with and the CPUs plugged
 *     at run time that are present now (index, QMP id, in plug order). The destination is started
 *     with the same {@code --cpus} as the source was (libvirt's {@code -smp}); it creates the
 *     hot-added vCPUs from this section before their {@code vcpu/<apic id>} state is loaded —
 *     the part libvirt's {@code -device ...-x86_64-cpu} options play for QEMU;</li>
 * <li>{@code acpi-cpuhp}: QEMU's CPU hot-plug register block (selector, command, per-CPU insert and
 *     remove events, eject requests, {@code _OST} codes);</li>
 * <li>{@code acpi-pcihp}: the PIIX4 PCI hot-plug block of {@code pc} (occupied slots, PCIU/PCID
 *     pending, bus selector).</li>
 * </ul>
 *
 * PCIe root port slots need no section: slot control and status are in the port's config space
 * ({@code pci} section), and the port re-derives its pending events and interrupt from them.
 */
public final class HotplugState {
    public static final String CPUS = "cpus", CPU_HOTPLUG = "acpi-cpuhp", PCI_HOTPLUG = "acpi-pcihp";
    public static final int VERSION = 1;

    /** What the sections are taken from and loaded into; {@code registry} and {@code cpus} may be null. */
    public record Parts(SmpTopology smp, CpuHotplug cpus, DeviceRegistry registry) {
        Piix4PciHotplug piix4() {
            if (registry == null) return null;
            for (PciSlots s : registry.parts(PciSlots.class)) if (s instanceof AcpiPciSlots a) return a.block();
            return null;
        }
    }

    private HotplugState() {}

    /** The newest version read of section {@code name}, or -1 when it is not one of these. */
    public static int sectionVersion(String name) {
        return switch (name) {
            case CPUS, CPU_HOTPLUG, PCI_HOTPLUG -> VERSION;
            default -> -1;
        };
    }

    /** The {@code cpus} section; written before the vCPU sections. */
    public static void writeCpus(Parts p, StateWriter w) throws IOException {
        w.section(CPUS, VERSION, SectionBytes.of(o -> {
            SmpTopology t = p.smp();
            for (int v : new int[] {t.cpus(), t.maxCpus(), t.sockets(), t.dies(), t.cores(), t.threads()}) o.writeInt(v);
            List<CpuHotplug.PresentCpu> hot = p.cpus() == null ? List.of() : p.cpus().hotPlugged();
            o.writeInt(hot.size());
            for (CpuHotplug.PresentCpu c : hot) {
                o.writeInt(c.index());
                o.writeBoolean(c.id() != null);
                o.writeUTF(c.id() == null ? "" : c.id());
            }
        }));
    }

    /** The register blocks' sections (after {@code gpe0}). */
    public static void writeControllers(Parts p, StateWriter w) throws IOException {
        if (p.cpus() != null) w.section(CPU_HOTPLUG, VERSION, SectionBytes.of(o -> RecordCodec.write(o, p.cpus().block().state())));
        Piix4PciHotplug piix4 = p.piix4();
        if (piix4 != null) w.section(PCI_HOTPLUG, VERSION, SectionBytes.of(o -> RecordCodec.write(o, piix4.state())));
    }

    /** The {@code cpus} section as read: the source's start topology and its hot-plugged CPUs. */
    public record Cpus(SmpTopology topology, List<CpuHotplug.PresentCpu> hotPlugged) {
        public static Cpus read(DataInputStream in) throws IOException {
            int[] v = new int[6];
            for (int i = 0; i < v.length; i++) v[i] = in.readInt();
            if (v[1] > SmpTopology.MAX_CPUS) throw new StateFormatException("cpus: maxcpus " + v[1]);
            SmpTopology t;
            try {
                t = new SmpTopology(v[0], v[1], v[2], v[3], v[4], v[5]);
            } catch (IllegalArgumentException e) {
                throw new StateFormatException("cpus: impossible topology: " + e.getMessage());
            }
            int n = in.readInt();
            if (n < 0 || n > t.maxCpus() - t.cpus()) throw new StateFormatException("cpus: " + n + " hot-plugged CPUs with " + t.describe());
            List<CpuHotplug.PresentCpu> hot = new ArrayList<>();
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int i = 0; i < n; i++) {
                int index = in.readInt();
                boolean hasId = in.readBoolean();
                String id = in.readUTF();
                if (index < t.cpus() || index >= t.maxCpus() || !seen.add(index)) throw new StateFormatException("cpus: hot-plugged CPU index " + index);
                if (id.length() > 128 || hasId == id.isEmpty()) throw new StateFormatException("cpus: bad id of CPU " + index);
                hot.add(new CpuHotplug.PresentCpu(index, hasId ? id : null));
            }
            return new Cpus(t, hot);
        }
    }

    /** Reads the sections into a machine built from the destination's command line. */
    public static final class Loader {
        private final Parts parts;
        private boolean cpusLoaded;

        public Loader(Parts parts) {
            this.parts = parts;
        }

        /** Loads {@code name} if it is one of these sections; false otherwise. */
        public boolean read(String name, DataInputStream in) throws IOException {
            switch (name) {
                case CPUS -> loadCpus(Cpus.read(in));
                case CPU_HOTPLUG -> loadCpuBlock(RecordCodec.read(in, AcpiCpuHotplug.State.class));
                case PCI_HOTPLUG -> loadPiix4(RecordCodec.read(in, Piix4PciHotplug.State.class));
                default -> { return false; }
            }
            return true;
        }

        private void loadCpus(Cpus saved) throws StateFormatException {
            SmpTopology here = parts.smp();
            if (!saved.topology().equals(here)) {
                throw new StateFormatException("the source was started with --cpus " + spec(saved.topology()) + ", this machine with --cpus "
                        + spec(here) + ": start it with the source's start-up --cpus (hot-plugged CPUs are created from the state)");
            }
            if (!saved.hotPlugged().isEmpty()) {
                if (parts.cpus() == null) throw new StateFormatException("cpus: hot-plugged CPUs in the state, no CPU hot-plug here");
                try {
                    parts.cpus().restorePlugged(saved.hotPlugged());
                } catch (IllegalArgumentException e) {
                    throw new StateFormatException("cpus: " + e.getMessage());
                }
            }
            cpusLoaded = true;
        }

        private void loadCpuBlock(AcpiCpuHotplug.State s) throws StateFormatException {
            CpuHotplug cpus = parts.cpus();
            if (cpus == null) throw new StateFormatException("state has the CPU hot-plug block, this machine has none: start it with the source's --cpus");
            if (!cpusLoaded) throw new StateFormatException("acpi-cpuhp state before the cpus section");
            AcpiCpuHotplug block = cpus.block();
            // The present set must be the vCPUs that exist now (boot ones and those the cpus section created).
            for (int i = 0; i < Math.min(s.flags().length, block.possibleCpus()); i++) {
                if (((s.flags()[i] & 1) != 0) != block.isPresent(i)) {
                    throw new StateFormatException("acpi-cpuhp: CPU " + i + " is " + (block.isPresent(i) ? "present" : "absent")
                            + " here but not in the state");
                }
            }
            try {
                block.restore(s);
            } catch (IllegalArgumentException e) {
                throw new StateFormatException("acpi-cpuhp: " + e.getMessage());
            }
        }

        private void loadPiix4(Piix4PciHotplug.State s) throws StateFormatException {
            Piix4PciHotplug block = parts.piix4();
            if (block == null) throw new StateFormatException("state has the PIIX4 PCI hot-plug block (machine pc), this machine has none");
            try {
                block.restore(s);
            } catch (IllegalArgumentException e) {
                throw new StateFormatException("acpi-pcihp: " + e.getMessage());
            }
        }
    }

    /** {@code 1,maxcpus=3,sockets=1,cores=3,threads=1}: the option text a user compares. */
    static String spec(SmpTopology t) {
        return t.cpus() + ",maxcpus=" + t.maxCpus() + ",sockets=" + t.sockets() + ",cores=" + t.cores() + ",threads=" + t.threads()
                + (t.dies() > 1 ? ",dies=" + t.dies() : "");
    }
}
