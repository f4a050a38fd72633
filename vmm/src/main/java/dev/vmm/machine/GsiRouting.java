package dev.vmm.machine;

import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.ffm.libc.Libc;

import java.util.ArrayList;
import java.util.List;


/**
 * The VM's GSI routing table: the standard PIC/IOAPIC routes for GSIs 0-23, plus one MSI route per
 * MSI-X vector that devices register, each bound to an irqfd. Delivering such a vector is one
 * eventfd write from any thread (I/O threads included) with no VMM exit and no lock; rewriting a
 * vector's address/data (rare: driver start-up, IRQ affinity changes) rewrites the table.
 */
public final class GsiRouting {
    public static final int IOAPIC_PINS = 24;
    private final VmFd vm;
    private final java.util.Map<Integer, VmFd.Route> msiRoutes = new java.util.TreeMap<>(); // by GSI
    private final java.util.Map<DeviceMsi, MsiVector[]> devices = new java.util.IdentityHashMap<>();
    private final java.util.TreeSet<Integer> freeGsis = new java.util.TreeSet<>(); // released by hot-unplug
    private int nextGsi = IOAPIC_PINS;

    public GsiRouting(VmFd vm) {
        this.vm = vm;
    }

    /** One vector's route and its irqfd. */
    private final class MsiVector {
        final int gsi;
        final int eventfd;
        boolean bound;
        volatile boolean released;   // read by I/O threads without the lock

        MsiVector(int gsi) {
            this.gsi = gsi;
            this.eventfd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        }

        void signal() {
            Libc.eventfdSignal(eventfd);
        }
    }

    /** An MSI sink + listener for a device with {@code vectors} MSI-X vectors. */
    public record DeviceMsi(MsiSink sink, MsixListener listener) {}

    public synchronized DeviceMsi forDevice(int vectors) {
        MsiVector[] v = new MsiVector[vectors];
        for (int i = 0; i < vectors; i++) v[i] = new MsiVector(freeGsis.isEmpty() ? nextGsi++ : freeGsis.pollFirst());
        MsiSink sink = (vector, address, data) -> {
            if (vector >= 0 && vector < v.length && !v[vector].released) v[vector].signal();
        };
        MsixListener listener = (vector, address, data, masked) -> {
            if (vector < 0 || vector >= v.length) return;
            update(v[vector], address, data, masked);
        };
        DeviceMsi msi = new DeviceMsi(sink, listener);
        devices.put(msi, v);
        return msi;
    }

    /**
     * A hot-unplugged device's vectors go away: their routes leave the table, their irqfds are
     * unbound and closed, and their GSIs are free for the next device. A second call does nothing.
     */
    public synchronized void release(DeviceMsi msi) {
        MsiVector[] v = devices.remove(msi);
        if (v == null) return;
        boolean routed = false;
        for (MsiVector vector : v) routed |= msiRoutes.remove(vector.gsi) != null;
        if (routed) commit();
        for (MsiVector vector : v) {
            vector.released = true;
            if (vector.bound) vm.unregisterIrqfd(vector.eventfd, vector.gsi);
            Libc.close(vector.eventfd);
            freeGsis.add(vector.gsi);
        }
    }

    private synchronized void update(MsiVector v, long address, int data, boolean masked) {
        if (v.released) return;            // released: a late guest write changes nothing
        msiRoutes.put(v.gsi, new VmFd.MsiRoute(v.gsi, address, data));
        commit();
        if (!v.bound) {
            vm.registerIrqfd(v.eventfd, v.gsi, -1);
            v.bound = true;
        }
    }

    /** Installs the default routes (needed before anything else replaces the table). */
    public synchronized void commit() {
        List<VmFd.Route> all = new ArrayList<>(defaultRoutes());
        all.addAll(msiRoutes.values());
        vm.setGsiRouting(all);
    }

    /** What KVM sets up by default with an in-kernel irqchip: ISA IRQs on both PICs and the IOAPIC. */
    static List<VmFd.Route> defaultRoutes() {
        List<VmFd.Route> r = new ArrayList<>();
        for (int gsi = 0; gsi < IOAPIC_PINS; gsi++) {
            if (gsi < 16 && gsi != 2) {
                r.add(new VmFd.IrqchipRoute(gsi, gsi < 8 ? 0 : 1, gsi % 8));
            }
            // ISA IRQ0 (the PIT) is wired to IOAPIC input 2, as on a PC and as the MP table says.
            if (gsi != 2) r.add(new VmFd.IrqchipRoute(gsi, 2, gsi == 0 ? 2 : gsi));
        }
        return r;
    }
}
