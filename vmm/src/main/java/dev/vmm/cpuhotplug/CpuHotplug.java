package dev.vmm.cpuhotplug;

import dev.vmm.chipset.acpi.AcpiCpuHotplug;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.smp.SmpTopology;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * vCPU hot-plug of one machine (issue 15): which of the {@code maxcpus} possible CPUs are present,
 * their QMP names, and the host side of QEMU's ACPI CPU hot-plug block. {@link #add} creates the
 * vCPU (through the {@link VcpuFactory}), marks the CPU present with an insert event and raises
 * GPE0 bit 2, so the guest's {@code \_GPE._E02} runs {@code CSCN} and onlines it; {@link #remove}
 * asks the guest to eject it the same way, and when the guest's {@code _EJ0} writes the eject bit
 * the vCPU is stopped and parked, then the future completes (QMP sends DEVICE_DELETED then).
 *
 * <p>Locks: this object's monitor around the slot table; {@link AcpiCpuHotplug} calls its listener
 * with its own lock held (on the guest's vCPU thread), so the listener only reads volatile slots and
 * hands the eject to a thread of its own — never this monitor inside that lock.
 */
public final class CpuHotplug {
    /** One hot-plugged CPU; boot CPUs have none. */
    private record Plugged(String id, String qomPath, VcpuFactory.Plugged vcpu, long order) {}

    private final SmpTopology topology;
    private final String typeName;
    private final VcpuFactory factory;
    private final Gpe0Block gpe;
    private final AcpiCpuHotplug block;
    private final java.util.concurrent.atomic.AtomicReferenceArray<Plugged> plugged;
    private final java.util.concurrent.atomic.AtomicReferenceArray<CompletableFuture<Void>> removals;
    private volatile BiConsumer<String, Object> events = (name, data) -> { };
    private long plugCount;
    private int anonymous;

    public CpuHotplug(SmpTopology topology, String typeName, VcpuFactory factory, Gpe0Block gpe) {
        this(topology, typeName, factory, gpe,
                eject -> dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "cpu-unplug", eject));
    }

    /** {@code ejects} runs the work after a guest's {@code _EJ0} (a thread of its own; a test may run it in place). */
    CpuHotplug(SmpTopology topology, String typeName, VcpuFactory factory, Gpe0Block gpe, java.util.concurrent.Executor ejects) {
        this.topology = topology;
        this.typeName = typeName;
        this.factory = factory;
        this.gpe = gpe;
        long[] archIds = new long[topology.maxCpus()];
        for (int i = 0; i < archIds.length; i++) archIds[i] = topology.apicId(i);
        this.plugged = new java.util.concurrent.atomic.AtomicReferenceArray<>(topology.maxCpus());
        this.removals = new java.util.concurrent.atomic.AtomicReferenceArray<>(topology.maxCpus());
        this.block = new AcpiCpuHotplug(archIds, topology.cpus(), new AcpiCpuHotplug.Listener() {
            @Override
            public void ejected(int index) {
                ejects.execute(() -> finishEject(index));
            }

            @Override
            public void ost(int index, int event, int status) {
                events.accept("ACPI_DEVICE_OST", Map.of("info", ostInfo(index, event, status)));
            }
        });
    }

    /** Builds the controller and registers its register block on the machine's I/O bus at {@code base}. */
    public static CpuHotplug install(Bus pio, int base, Gpe0Block gpe, SmpTopology topology, String typeName, VcpuFactory factory) {
        CpuHotplug h = new CpuHotplug(topology, typeName, factory, gpe);
        pio.register(base, AcpiCpuHotplug.SIZE, h.block);
        return h;
    }

    /** QEMU's CPU driver name of a {@code --cpu} model: {@code qemu64-x86_64-cpu}, {@code host-x86_64-cpu}. */
    public static String typeName(String model) {
        return model + "-x86_64-cpu";
    }

    /** Where QMP events go (ACPI_DEVICE_OST); set by {@link CpuHotplugQmp#install}. */
    void events(BiConsumer<String, Object> sink) { this.events = sink; }

    public AcpiCpuHotplug block() { return block; }

    public SmpTopology topology() { return topology; }

    public String typeName() { return typeName; }

    /** Closes what the factory parked (machine shutdown). */
    public void closeParked() { factory.closeParked(); }

    /** {@code device_add}'s work once the arguments are checked: index is free and in range. */
    synchronized String add(int index, String id) {
        if (block.isPresent(index)) throw new IllegalStateException("CPU " + index + " is present");
        VcpuFactory.Plugged vcpu = factory.plug(index);
        String path = id != null ? "/machine/peripheral/" + id : "/machine/peripheral-anon/device[" + anonymous++ + "]";
        plugged.set(index, new Plugged(id, path, vcpu, plugCount++));
        block.plug(index);
        gpe.raise(AcpiCpuHotplug.GPE_BIT);
        return path;
    }

    // --- saved state (issue 15: snapshots and migration carry the hot-plugged vCPUs) ---

    /** A CPU plugged at run time and still present: its index among the possible CPUs and its QMP id (null: anonymous). */
    public record PresentCpu(int index, String id) {}

    /** The hot-plugged CPUs present now, in the order they were plugged (QMP order). */
    public synchronized List<PresentCpu> hotPlugged() {
        List<Integer> hot = new ArrayList<>();
        for (int i = topology.cpus(); i < topology.maxCpus(); i++) if (plugged.get(i) != null && block.isPresent(i)) hot.add(i);
        hot.sort(java.util.Comparator.comparingLong(i -> plugged.get(i).order()));
        List<PresentCpu> out = new ArrayList<>();
        for (int i : hot) out.add(new PresentCpu(i, plugged.get(i).id()));
        return out;
    }

    /**
     * Restore (snapshot, incoming migration): creates the vCPUs of CPUs the source had plugged, in
     * its order, before their saved registers are loaded; no guest event (the register block's
     * saved state follows, with whatever events the source's guest had not acknowledged yet).
     * Refused (IllegalArgumentException) for a boot CPU, an index out of range or a CPU present here.
     */
    public synchronized void restorePlugged(List<PresentCpu> cpus) {
        for (PresentCpu c : cpus) {
            if (c.index() < topology.cpus() || c.index() >= topology.maxCpus()) {
                throw new IllegalArgumentException("hot-plugged CPU " + c.index() + " outside " + topology.cpus() + ".." + (topology.maxCpus() - 1));
            }
            if (plugged.get(c.index()) != null || block.isPresent(c.index())) throw new IllegalArgumentException("CPU " + c.index() + " is present here already");
        }
        for (PresentCpu c : cpus) {
            VcpuFactory.Plugged vcpu = factory.plug(c.index());
            String path = c.id() != null ? "/machine/peripheral/" + c.id() : "/machine/peripheral-anon/device[" + anonymous++ + "]";
            plugged.set(c.index(), new Plugged(c.id(), path, vcpu, plugCount++));
            block.plug(c.index()); // present; the events are those of the saved block state loaded next
        }
    }

    /** The present CPU with this QMP id, or -1. */
    synchronized int indexOf(String id) {
        for (int i = 0; i < topology.maxCpus(); i++) {
            Plugged p = plugged.get(i);
            if (p != null && id.equals(p.id())) return i;
        }
        return -1;
    }

    /** {@code device_del}: asks the guest to eject CPU {@code index} (again, if it was asked before). */
    synchronized CompletableFuture<Void> remove(int index) {
        CompletableFuture<Void> f = removals.get(index);
        if (f == null) {
            f = new CompletableFuture<>();
            removals.set(index, f);
        }
        block.requestUnplug(index);
        gpe.raise(AcpiCpuHotplug.GPE_BIT);
        return f;
    }

    private void finishEject(int index) {
        Plugged p;
        CompletableFuture<Void> f;
        synchronized (this) {
            p = plugged.getAndSet(index, null);
            f = removals.getAndSet(index, null);
        }
        if (p != null) p.vcpu().unplug();
        if (f != null) f.complete(null);
    }

    /** Whether CPU {@code index} is present (boot or plugged, not ejected). */
    public boolean isPresent(int index) { return block.isPresent(index); }

    /** QMP {@code query-hotpluggable-cpus}: every possible CPU, the last first (QEMU's order). */
    public synchronized List<Map<String, Object>> hotpluggableCpus() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = topology.maxCpus() - 1; i >= 0; i--) {
            Map<String, Object> e = new java.util.LinkedHashMap<>();
            e.put("props", props(i));
            e.put("vcpus-count", 1);
            String path = qomPath(i);
            if (path != null) e.put("qom-path", path);
            e.put("type", typeName);
            out.add(e);
        }
        return out;
    }

    /** QMP {@code query-cpus-fast}: the present CPUs in the order they were created (boot CPUs first). */
    public List<Map<String, Object>> cpusFast() {
        List<Integer> order = new ArrayList<>();
        synchronized (this) {
            for (int i = 0; i < topology.cpus(); i++) order.add(i);
            List<Integer> hot = new ArrayList<>();
            for (int i = topology.cpus(); i < topology.maxCpus(); i++) if (plugged.get(i) != null && block.isPresent(i)) hot.add(i);
            hot.sort(java.util.Comparator.comparingLong(i -> plugged.get(i).order()));
            order.addAll(hot);
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i : order) {
            Plugged p = plugged.get(i);
            Map<String, Object> e = new java.util.LinkedHashMap<>();
            e.put("thread-id", i < topology.cpus() ? factory.bootThreadId(i) : p == null ? -1 : p.vcpu().threadId());
            e.put("props", props(i));
            e.put("qom-path", qomPath(i));
            e.put("cpu-index", i);
            e.put("target", "x86_64");
            out.add(e);
        }
        return out;
    }

    /** socket-id, core-id, thread-id of CPU {@code index} (die-id only with several dies, as QEMU). */
    Map<String, Object> props(int index) {
        SmpTopology.Slot s = topology.slot(index);
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("core-id", s.core());
        m.put("thread-id", s.thread());
        if (topology.dies() > 1) m.put("die-id", s.die());
        m.put("socket-id", s.socket());
        return m;
    }

    /**
     * QEMU's QOM path: a boot CPU is {@code /machine/unattached/device[N]} — N = 0 for the first,
     * index + 1 for the others (QEMU's first CPU brings one more unattached device along); a
     * plugged one is {@code /machine/peripheral/ID} (or {@code peripheral-anon}); an absent one has none.
     */
    private String qomPath(int index) {
        if (index < topology.cpus()) return "/machine/unattached/device[" + (index == 0 ? 0 : index + 1) + "]";
        Plugged p = plugged.get(index);
        return p != null && block.isPresent(index) ? p.qomPath() : null;
    }

    private Map<String, Object> ostInfo(int index, int event, int status) {
        Map<String, Object> info = new java.util.LinkedHashMap<>();
        Plugged p = plugged.get(index);
        if (p != null && p.id() != null) info.put("device", p.id());
        info.put("slot", String.valueOf(index));
        info.put("slot-type", "CPU");
        info.put("source", event);
        info.put("status", status);
        return info;
    }
}
