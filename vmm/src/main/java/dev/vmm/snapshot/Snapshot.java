package dev.vmm.snapshot;

import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.machine.Machine;
import dev.vmm.machine.MachineBuilder;
import dev.vmm.machine.MachineConfig;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.RecordCodec;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuState;
import dev.vmm.vcpu.VmState;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Saves a paused machine (RAM, vCPUs, in-kernel irqchip/PIT/clock, legacy devices) to a state
 * stream, and builds a new machine from one. Pages that are all zero are sent as a flag only.
 *
 * <p>Sections, in order: {@code machine} (memory size, vCPU count), {@code ram@<base>} per RAM
 * region, {@code vm}, {@code vcpu/<n>}, and one per device ({@code uart/com1}, {@code cmos},
 * {@code i8042}), then {@code pci} and {@code virtio/<n>} ({@link PciDeviceState}). Every virtio device saves its state today; one
 * that could not (not a {@code MigratableDevice}) would make save refuse. A restore builds the
 * machine with the devices of the restoring command line ({@code base}), which must match the saved ones.
 */
public final class Snapshot {
    private static final int PAGE = 4096;

    private Snapshot() {}

    /**
     * The MSRs each machine can save, probed once (one KVM_GET_MSRS per listed MSR: ~100 ms on a
     * loaded host, which would otherwise be paid again in every migration's downtime).
     */
    private static final java.util.Map<Machine, List<Integer>> SAVEABLE_MSRS =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** Writes the state of {@code m}, which must be paused. The file appears whole or not at all. */
    public static void save(Machine m, Path file) throws IOException {
        if (!m.paused()) throw new IllegalStateException("the machine must be paused to save a snapshot");
        if (!m.devices().unsaveable().isEmpty()) {
            throw new IOException("cannot save a snapshot: the state of " + String.join(", ", m.devices().unsaveable())
                    + " cannot be saved yet");
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20);
             StateWriter w = new StateWriter(os)) {
            write(m, w);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Writes the machine's state to {@code w} (shared with migration's final stage). */
    public static void write(Machine m, StateWriter w) throws IOException {
        // Devices first: finishing their requests in flight writes guest RAM, which is saved next.
        PciDeviceState devices = PciDeviceState.capture(m);
        MachineConfig c = m.config();
        // Version 2 adds the --cpu spec, so a restore builds the vCPUs with the same model.
        w.section("machine", 2, SectionBytes.of(o -> {
            o.writeLong(c.memoryBytes());
            o.writeInt(c.cpus());
            o.writeUTF(dev.vmm.cpu.CpuState.spec(m));
        }));
        for (GuestRegion r : m.memory().regions()) writeRam(w, r);
        writeDeviceState(m, w, devices);
    }

    /**
     * CPU, in-kernel irqchip/PIT/clock and device sections: a snapshot's tail, and migration's final
     * stage. Quiesces the virtio devices here: only right when guest RAM is saved after this call
     * (or re-checked, as migration's verification pass does); otherwise capture them first with
     * {@link PciDeviceState#capture} and use the three-argument form.
     */
    public static void writeDeviceState(Machine m, StateWriter w) throws IOException {
        writeDeviceState(m, w, PciDeviceState.capture(m));
    }

    /** As above with the PCI/virtio state captured before guest RAM was saved. */
    public static void writeDeviceState(Machine m, StateWriter w, PciDeviceState devices) throws IOException {
        // Issue 15: the --cpus topology and the hot-plugged vCPUs first (the destination creates them before their state).
        dev.vmm.snapshot.devices.HotplugState.writeCpus(hotplugParts(m), w);
        // First, so a destination whose CPU cannot carry the guest's refuses before loading anything.
        w.section(dev.vmm.cpu.CpuState.SECTION, dev.vmm.cpu.CpuState.VERSION, SectionBytes.of(o -> dev.vmm.cpu.CpuState.write(o, m)));
        VmState vm = VmState.capture(m.vm());
        w.section("vm", VmState.VERSION, SectionBytes.of(vm::write));
        List<Integer> msrs = SAVEABLE_MSRS.computeIfAbsent(m,
                k -> VcpuState.saveableMsrs(k.vcpus().get(0).fd(), k.vm().kvm().msrIndexList()));
        for (Vcpu v : m.vcpus()) {
            VcpuState s = VcpuState.capture(v.fd(), msrs);
            w.section("vcpu/" + v.id(), VcpuState.VERSION, SectionBytes.of(s::write));
        }
        w.section("uart/com1", 1, SectionBytes.of(o -> RecordCodec.write(o, m.com1().state())));
        w.section("cmos", CMOS_VERSION, SectionBytes.of(o -> RecordCodec.write(o, m.cmos().state())));
        w.section("i8042", 1, SectionBytes.of(o -> RecordCodec.write(o, m.i8042().state())));
        w.section("gpe0", 1, SectionBytes.of(o -> RecordCodec.write(o, m.gpe().state())));
        dev.vmm.snapshot.devices.HotplugState.writeControllers(hotplugParts(m), w); // CPU and PIIX4 PCI hot-plug blocks
        devices.write(w);
    }

    /** The hot-plug controllers of {@code m} and the topology it was started with (issue 15). */
    private static dev.vmm.snapshot.devices.HotplugState.Parts hotplugParts(Machine m) {
        dev.vmm.smp.SmpTopology smp = m.config() != null ? m.config().smp() : dev.vmm.smp.SmpTopology.of(m.vcpus().size());
        return new dev.vmm.snapshot.devices.HotplugState.Parts(smp, m.cpuHotplug(), m.devices());
    }

    /**
     * Migration source's rehearsal ({@link dev.vmm.migration.VmControl#rehearse}): pauses, captures
     * every device section into nothing and resumes (unless the machine was paused already), so the
     * switch-over runs warm code. No STOP/RESUME events: to QMP clients the VM never stopped.
     */
    public static void rehearseSave(Machine m) throws Exception {
        m.briefly(() -> {
            try (StateWriter w = new StateWriter(OutputStream.nullOutputStream())) {
                writeDeviceState(m, w);
            }
        });
    }

    /**
     * Migration destination's rehearsal: saves the state of {@code m} — a freshly built target whose
     * vCPUs have not run — and loads it back into {@code m}, which changes nothing but leaves the
     * load path loaded, linked and warm for the switch-over.
     */
    public static void rehearseLoad(Machine m) throws IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream(64 * 1024);
        try (StateWriter w = new StateWriter(bytes)) {
            writeDeviceState(m, w);
        }
        try (StateReader r = new StateReader(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
            readDeviceState(m, r);
        }
    }

    private static void writeRam(StateWriter w, GuestRegion r) throws IOException {
        MemorySegment host = r.host();
        long pages = host.byteSize() / PAGE;
        long nonZero = 0;
        for (long p = 0; p < pages; p++) if (!isZero(host, p * PAGE)) nonZero++;
        long length = 16 + pages + nonZero * PAGE;
        w.section("ram@" + Long.toHexString(r.base()), 1, length, o -> {
            o.writeLong(r.base());
            o.writeLong(host.byteSize());
            byte[] buf = new byte[PAGE];
            for (long p = 0; p < pages; p++) {
                // A page can change between the two passes only if a vCPU runs; the machine is paused.
                if (isZero(host, p * PAGE)) {
                    o.writeByte(0);
                } else {
                    o.writeByte(1);
                    MemorySegment.copy(host, ValueLayout.JAVA_BYTE, p * PAGE, buf, 0, PAGE);
                    o.write(buf);
                }
            }
        });
    }

    private static boolean isZero(MemorySegment s, long off) {
        for (long i = 0; i < PAGE; i += 8) {
            if (s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + i) != 0) return false;
        }
        return true;
    }


    /**
     * Builds a machine from a snapshot. {@code base} supplies what the snapshot does not hold (serial
     * target, options); its memory size and vCPU count are replaced by the snapshot's.
     */
    public static Machine restore(Path file, MachineConfig base) throws IOException {
        try (InputStream is = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
            return restore(is, base);
        }
    }

    /** Version 2: the RTC's interrupt state (CmosRtc.State); version 1 (CmosRtc.StateV1) is upgraded on load. */
    static final int CMOS_VERSION = 2;

    /** The {@code cmos} section of {@code version}: version 1 (before RTC interrupts) is upgraded. */
    static CmosRtc.State readCmos(DataInputStream in, int version) throws IOException {
        return version >= 2 ? RecordCodec.read(in, CmosRtc.State.class) : RecordCodec.read(in, CmosRtc.StateV1.class).upgrade();
    }

    /** Section versions this VMM reads for device state (shared by snapshots and incoming migration). */
    static int deviceSectionVersion(String name) {
        if (name.startsWith("vcpu/")) return VcpuState.VERSION;
        return switch (name) {
            case "uart/com1", "i8042", "gpe0" -> 1;
            case "cmos" -> CMOS_VERSION;
            case "vm" -> VmState.VERSION;
            case dev.vmm.cpu.CpuState.SECTION -> dev.vmm.cpu.CpuState.VERSION;
            default -> Math.max(PciDeviceState.sectionVersion(name), dev.vmm.snapshot.devices.HotplugState.sectionVersion(name));
        };
    }

    /** Collects device-state sections for an existing machine; {@link #apply} puts them in place. */
    public static final class DeviceState {
        private final Machine m;
        private final List<VcpuState> vcpus = new ArrayList<>();
        private VmState vm;
        private final PciDeviceState.Loader pci;
        private final dev.vmm.snapshot.devices.HotplugState.Loader hotplug;

        public DeviceState(Machine m) {
            this.m = m;
            this.pci = new PciDeviceState.Loader(m);
            this.hotplug = new dev.vmm.snapshot.devices.HotplugState.Loader(hotplugParts(m));
        }

        public boolean read(String name, DataInputStream in) throws IOException {
            return read(name, deviceSectionVersion(name), in);
        }

        /** One section of {@code version} (what the stream says; older layouts are upgraded). */
        public boolean read(String name, int version, DataInputStream in) throws IOException {
            if (name.equals(dev.vmm.cpu.CpuState.SECTION)) dev.vmm.cpu.CpuState.check(in, m);
            else if (name.startsWith("vcpu/")) vcpus.add(VcpuState.read(in));
            else if (name.equals("vm")) vm = VmState.read(in);
            else if (name.equals("uart/com1")) m.com1().restore(RecordCodec.read(in, Uart16550.State.class));
            else if (name.equals("cmos")) m.cmos().restore(readCmos(in, version));
            else if (name.equals("i8042")) m.i8042().restore(RecordCodec.read(in, I8042.State.class));
            else if (name.equals("gpe0")) m.gpe().restore(RecordCodec.read(in, dev.vmm.chipset.acpi.Gpe0Block.State.class));
            else return hotplug.read(name, in) || pci.read(name, version, in);
            return true;
        }

        public void apply() throws StateFormatException {
            if (vm == null || vcpus.size() != m.vcpus().size()) {
                throw new StateFormatException("state is incomplete (missing vm or vcpu sections)");
            }
            vm.restore(m.vm());
            // By KVM vCPU id (= APIC id): with a --cpus topology the ids are sparse and hot-plugged ones follow the boot ones.
            for (VcpuState s : vcpus) {
                Vcpu target = m.vcpus().stream().filter(v -> v.id() == s.id()).findFirst()
                        .orElseThrow(() -> new StateFormatException("state has vcpu " + s.id() + ", this machine has none with that APIC id"));
                s.restore(target.fd());
            }
            pci.apply();
        }
    }

    /** Reads a device-state stream (migration's final stage) into {@code m}. */
    public static void readDeviceState(Machine m, StateReader r) throws IOException {
        DeviceState ds = new DeviceState(m);
        r.readAll(new StateReader.Handler() {
            @Override
            public int maxVersion(String name) {
                return deviceSectionVersion(name);
            }

            @Override
            public void read(String name, int version, long length, DataInputStream in) throws IOException {
                ds.read(name, version, in);
            }
        });
        ds.apply();
    }

    public static Machine restore(InputStream is, MachineConfig base) throws IOException {
        Machine[] machine = new Machine[1];
        DeviceState[] ds = new DeviceState[1];
        try (StateReader r = new StateReader(is)) {
            r.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) {
                    if (name.startsWith("ram@")) return 1;
                    if (name.equals("machine")) return 2;
                    return deviceSectionVersion(name);
                }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    if (name.equals("machine")) {
                        long mem = in.readLong();
                        int cpus = in.readInt();
                        String cpu = version >= 2 ? in.readUTF() : dev.vmm.cpu.CpuSpec.DEFAULT;
                        MachineConfig cfg;
                        try {
                            // The restoring command line's --cpus topology when it has the saved count (issue 15: the
                            // cpus section then checks it is the source's start-up topology).
                            dev.vmm.smp.SmpTopology smp = base.smp() != null && base.smp().cpus() == cpus ? base.smp() : null;
                            cfg = new MachineConfig(base.machine(), mem, cpus, null, base.kernelName(), null, "", base.serial(), base.ram(),
                                    base.reboot(), base.stats(), base.devices(), MachineConfig.SleepStates.BOTH,
                                    dev.vmm.firmware.PlatformOptions.DEFAULT, smp);
                        } catch (IllegalArgumentException e) {
                            throw new StateFormatException("snapshot describes an impossible machine: " + e.getMessage());
                        }
                        try {
                            machine[0] = new MachineBuilder().cpu(cpu).build(cfg);
                        } catch (dev.vmm.cli.UsageException e) {
                            throw new StateFormatException("snapshot's CPU: " + e.getMessage());
                        }
                        ds[0] = new DeviceState(machine[0]);
                        return;
                    }
                    if (machine[0] == null) throw new StateFormatException("snapshot does not start with its machine section");
                    if (name.startsWith("ram@")) readRam(machine[0], in);
                    else ds[0].read(name, version, in);
                }
            });
            if (machine[0] == null) throw new StateFormatException("snapshot is incomplete (no machine section)");
            ds[0].apply();
        } catch (IOException | RuntimeException e) {
            if (machine[0] != null) machine[0].close();
            throw e;
        }
        return machine[0];
    }

    private static void readRam(Machine m, DataInputStream in) throws IOException {
        long base = in.readLong();
        long size = in.readLong();
        GuestRegion region = m.memory().regions().stream().filter(r -> r.base() == base && r.size() == size).findFirst()
                .orElseThrow(() -> new StateFormatException(String.format("snapshot RAM region 0x%x+0x%x does not match this machine", base, size)));
        MemorySegment host = region.host();
        byte[] buf = new byte[PAGE];
        for (long off = 0; off < size; off += PAGE) {
            int flag = in.readUnsignedByte();
            if (flag == 1) {
                in.readFully(buf);
                MemorySegment.copy(buf, 0, host, ValueLayout.JAVA_BYTE, off, PAGE);
            } else if (flag != 0) {
                throw new StateFormatException("corrupt RAM page flag " + flag);
            } else {
                host.asSlice(off, PAGE).fill((byte) 0);
            }
        }
    }
}
