package dev.vmm.hotplug;

import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.devices.KvmWiring;
import dev.vmm.machine.GsiRouting;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/** The test double of KVM: which ioeventfds and MSI vectors exist, and which messages were sent. */
final class RecordingKvm implements KvmWiring {
    record Ioeventfd(int eventfd, long gpa, int len) {}

    record Message(int vector, long address, int data) {}

    final Set<Ioeventfd> ioeventfds = new LinkedHashSet<>();
    final List<GsiRouting.DeviceMsi> live = new ArrayList<>();
    final List<GsiRouting.DeviceMsi> released = new ArrayList<>();
    final List<Message> signalled = new CopyOnWriteArrayList<>();
    final List<Message> routed = new CopyOnWriteArrayList<>();

    @Override
    public synchronized void registerIoeventfd(int eventfd, long gpa, int len) {
        if (!ioeventfds.add(new Ioeventfd(eventfd, gpa, len))) throw new IllegalStateException("ioeventfd registered twice at " + gpa);
    }

    @Override
    public synchronized void unregisterIoeventfd(int eventfd, long gpa, int len) {
        if (!ioeventfds.remove(new Ioeventfd(eventfd, gpa, len))) throw new IllegalStateException("no ioeventfd at " + gpa);
    }

    @Override
    public synchronized GsiRouting.DeviceMsi msiVectors(int vectors) {
        MsiSink sink = (vector, address, data) -> signalled.add(new Message(vector, address, data));
        MsixListener listener = (vector, address, data, masked) -> routed.add(new Message(vector, address, data));
        GsiRouting.DeviceMsi msi = new GsiRouting.DeviceMsi(sink, listener);
        live.add(msi);
        return msi;
    }

    @Override
    public synchronized void releaseMsi(GsiRouting.DeviceMsi msi) {
        if (!live.remove(msi)) throw new IllegalStateException("MSI vectors released twice or never made");
        released.add(msi);
    }

    synchronized Set<Ioeventfd> ioeventfds() { return Set.copyOf(ioeventfds); }

    synchronized int liveMsi() { return live.size(); }
}
