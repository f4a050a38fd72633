package dev.vmm.hotplug;

import dev.vmm.devices.DeviceRegistry;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.smp.SmpTopology;
import dev.vmm.snapshot.PciDeviceState;
import dev.vmm.snapshot.devices.HotplugState;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * The device part of a snapshot / migration stream between two rigs, with the production writers
 * and loaders Snapshot uses ({@link PciDeviceState}: devices, pci, virtio/<n>; {@link HotplugState}:
 * the hot-plug blocks), framed by the real {@link StateWriter}/{@link StateReader}. What needs KVM
 * (vCPU registers, irqchip) is not in it; guest RAM is copied by {@link #copyRam}.
 */
final class StateTransfer {
    private StateTransfer() {}

    static byte[] save(HotplugRig source) throws IOException {
        HotplugState.Parts parts = parts(source.registry);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (StateWriter w = new StateWriter(bytes)) {
            HotplugState.writeCpus(parts, w);
            HotplugState.writeControllers(parts, w);
            PciDeviceState.capture(source.registry).write(w);
        }
        return bytes.toByteArray();
    }

    /** Loads {@code stream} into {@code target}'s devices, then starts them as a resuming machine does. */
    static void load(byte[] stream, HotplugRig target) throws IOException {
        PciDeviceState.Loader pci = new PciDeviceState.Loader(target.registry);
        HotplugState.Loader hotplug = new HotplugState.Loader(parts(target.registry));
        try (StateReader r = new StateReader(new ByteArrayInputStream(stream))) {
            r.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) {
                    int v = HotplugState.sectionVersion(name);
                    return v >= 0 ? v : name.equals("devices") ? dev.vmm.snapshot.devices.DeviceManifest.VERSION
                            : name.equals("pci") || name.startsWith("virtio/") ? 1 : -1;
                }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    if (!hotplug.read(name, in) && !pci.read(name, version, in)) throw new AssertionError("unexpected section " + name);
                }
            });
        }
        pci.apply();
        target.registry.transports().forEach(t -> t.startAfterStateChange());
    }

    private static HotplugState.Parts parts(DeviceRegistry registry) {
        return new HotplugState.Parts(SmpTopology.of(1), null, registry);
    }

    /** Guest RAM below {@code bytes} from one rig to the other (the rings and buffers the guest driver uses). */
    static void copyRam(HotplugRig from, HotplugRig to, int bytes) {
        byte[] b = new byte[bytes];
        from.memory.read(0, b, 0, bytes);
        to.memory.write(0, b, 0, bytes);
    }
}
