package dev.vmm.snapshot;

import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.machine.Machine;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.snapshot.devices.DeviceManifest;
import dev.vmm.snapshot.devices.RootPortSlots;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.pci.VirtioPciState;

import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The PCI and virtio part of a machine's state: section {@code pci} (every function's config space
 * — BARs, command, capabilities, bridge windows — and the MSI-X table, PBA and masks of each
 * virtio function) and one {@code virtio/<n>} section per virtio device in attach order
 * ({@link VirtioPciState}: status, features, queues at their ring positions, device state).
 *
 * <p>{@link #capture} must run with the vCPUs paused and <em>before</em> guest RAM is saved: it
 * quiesces every device (requests in flight complete to the used ring, which writes guest RAM).
 * The devices stay stopped until the machine resumes ({@code Machine.resume()} restarts them).
 *
 * <p>On restore the destination is built from the same command line (same devices, same order);
 * {@link Loader} puts the config spaces back, re-maps BARs (ioeventfds follow the notify
 * registers), re-creates MSI routes/irqfds from the table, loads each transport and leaves the
 * devices to start with the machine at their saved ring indices.
 */
public final class PciDeviceState {
    public static final int PCI_VERSION = 1;
    public static final int VIRTIO_VERSION = VirtioPciState.VERSION;

    private final byte[] pci;
    /** The {@code devices} section (DeviceManifest, issue 15): what is where, hot-plugged devices included. */
    private final byte[] manifest;
    private final List<byte[]> virtio;
    /** The qemu-xhci section (UsbControllerState), or null. */
    private final byte[] usb;

    private PciDeviceState(byte[] pci, byte[] manifest, List<byte[]> virtio, byte[] usb) {
        this.pci = pci;
        this.manifest = manifest;
        this.virtio = virtio;
        this.usb = usb;
    }

    /** Whether {@code name} is one of these sections, and the newest version read. */
    static int sectionVersion(String name) {
        if (name.equals("pci")) return PCI_VERSION;
        if (name.equals(DeviceManifest.SECTION)) return DeviceManifest.VERSION;
        if (name.startsWith("virtio/")) return VIRTIO_VERSION;
        if (name.equals(UsbControllerState.SECTION)) return UsbControllerState.VERSION;
        return -1;
    }

    /**
     * Quiesces and saves every PCI function and virtio device of {@code m} (paused). Refuses,
     * before touching anything, when a device cannot save its state.
     */
    public static PciDeviceState capture(Machine m) throws IOException {
        return capture(m.devices());
    }

    /** As {@link #capture(Machine)} for the devices of {@code w} (a machine's registry; null: none). */
    public static PciDeviceState capture(DeviceRegistry w) throws IOException {
        if (w == null || (w.transports().isEmpty() && UsbControllerState.of(w) == null)) return new PciDeviceState(null, null, List.of(), null);
        List<String> unsupported = new ArrayList<>();
        for (VirtioPciDevice d : w.transports()) if (!d.canSaveState()) unsupported.add(d.toString());
        if (!unsupported.isEmpty()) {
            throw new IllegalStateException("cannot save the state of " + String.join(", ", unsupported)
                    + " yet (saveable: virtio-blk, virtio-rng, virtio-net, virtio-scsi, virtio-console)");
        }
        List<byte[]> virtio = new ArrayList<>();
        for (VirtioPciDevice d : w.transports()) {
            VirtioPciState s = d.saveState();
            virtio.add(SectionBytes.of(o -> s.write(o)));
        }
        byte[] usb = UsbControllerState.capture(w);
        byte[] manifest = SectionBytes.of(DeviceManifest.of(w)::write);
        // Config spaces after the quiesce: nothing changes them while the vCPUs are paused.
        List<PciFunction> functions = w.pci().root().allFunctions();
        byte[] pci = SectionBytes.of(o -> {
            o.writeInt(functions.size());
            for (PciFunction f : functions) {
                o.writeUTF(f.device().name());
                byte[] cfg = f.configSpace().saveBytes();
                o.writeInt(cfg.length);
                o.write(cfg);
                if (UsbControllerState.msixOf(f.device()) != null) {
                    byte[] msix = UsbControllerState.msixOf(f.device()).saveState();
                    o.writeInt(msix.length);
                    o.write(msix);
                } else {
                    o.writeInt(-1);
                }
            }
        });
        return new PciDeviceState(pci, manifest, virtio, usb);
    }

    /** Writes the sections (after the vCPU and legacy device sections). */
    public void write(StateWriter w) throws IOException {
        if (pci == null) return;
        w.section(DeviceManifest.SECTION, DeviceManifest.VERSION, manifest);
        w.section("pci", PCI_VERSION, pci);
        for (int i = 0; i < virtio.size(); i++) w.section("virtio/" + i, VIRTIO_VERSION, virtio.get(i));
        if (usb != null) w.section(UsbControllerState.SECTION, UsbControllerState.VERSION, usb);
    }

    /** Reads the sections into a freshly built machine with the same devices. */
    public static final class Loader {
        private final DeviceRegistry registry;
        private final List<VirtioPciDevice> transports;
        private final boolean[] loaded;
        private boolean pciLoaded;
        private boolean usbLoaded;
        /** Saved virtio section index → this machine's transport index (from the devices section; identity without it). */
        private int[] virtioTargets;

        public Loader(Machine m) {
            this(m.devices());
        }

        /** Loads into the devices of {@code registry} (null: a machine without PCI devices). */
        public Loader(DeviceRegistry registry) {
            this.registry = registry;
            this.transports = registry == null ? List.of() : registry.transports();
            this.loaded = new boolean[transports.size()];
        }

        public boolean read(String name, DataInputStream in) throws IOException {
            return read(name, sectionVersion(name), in);
        }

        /** One section of {@code version} (what the stream says: the {@code devices} section has two layouts). */
        public boolean read(String name, int version, DataInputStream in) throws IOException {
            if (name.equals(DeviceManifest.SECTION)) {
                readManifest(DeviceManifest.read(in, version));
                return true;
            }
            if (name.equals("pci")) {
                readPci(in);
                return true;
            }
            if (name.equals(UsbControllerState.SECTION)) {
                if (!pciLoaded) throw new StateFormatException("qemu-xhci state before the pci section");
                UsbControllerState.load(registry, in);
                usbLoaded = true;
                return true;
            }
            if (!name.startsWith("virtio/")) return false;
            int index;
            try {
                index = Integer.parseInt(name.substring("virtio/".length()));
            } catch (NumberFormatException e) {
                throw new StateFormatException("bad section name " + name);
            }
            if (virtioTargets != null) {
                if (index < 0 || index >= virtioTargets.length || virtioTargets[index] < 0) throw new StateFormatException("state has virtio device " + index + ", not in its devices section");
                index = virtioTargets[index];
            }
            if (index < 0 || index >= transports.size()) {
                throw new StateFormatException("state has virtio device " + index + " but this machine has " + transports.size()
                        + " virtio device(s): start it with the same device options (--disk, --net, --rng, ...) as the source");
            }
            if (!pciLoaded) throw new StateFormatException("virtio state before the pci section");
            VirtioPciState s = VirtioPciState.read(in);
            try {
                transports.get(index).loadState(s);
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new StateFormatException("virtio device " + index + ": " + e.getMessage());
            }
            loaded[index] = true;
            return true;
        }

        /** Issue 15: the saved device list against this machine's, before any state is loaded into it. */
        private void readManifest(DeviceManifest saved) throws IOException {
            if (registry == null) throw new StateFormatException("state has PCI devices, this machine has none: start it with the source's current devices");
            DeviceManifest here = DeviceManifest.of(registry);
            String difference = saved.difference(here);
            if (difference != null) throw new StateFormatException(difference);
            virtioTargets = saved.virtioTargets(here);
        }

        private void readPci(DataInputStream in) throws IOException {
            if (registry == null) throw new StateFormatException("state has PCI devices, this machine has none");
            List<PciFunction> functions = registry.pci().root().allFunctions();
            int n = in.readInt();
            if (n != functions.size()) {
                throw new StateFormatException("state has " + n + " PCI functions, this machine " + functions.size()
                        + ": start it with the same device options as the source");
            }
            List<byte[]> msix = new ArrayList<>();
            for (PciFunction f : functions) {
                String name = in.readUTF();
                if (!name.equals(f.device().name())) {
                    throw new StateFormatException("PCI function " + f.address() + " is " + f.device().name() + " here, " + name + " in the state");
                }
                byte[] cfg = readArray(in, 4096, "config space");
                try {
                    f.configSpace().restoreBytes(cfg);
                } catch (IllegalArgumentException e) {
                    throw new StateFormatException("PCI function " + f.address() + ": " + e.getMessage());
                }
                int len = in.readInt();
                if (len == -1) {
                    msix.add(null);
                } else {
                    if (len < 0 || len > (1 << 16)) throw new StateFormatException("implausible MSI-X state length " + len);
                    byte[] b = new byte[len];
                    in.readFully(b);
                    if (UsbControllerState.msixOf(f.device()) == null) throw new StateFormatException("MSI-X state for " + f.device().name());
                    msix.add(b);
                }
            }
            // Bridges first (windows and bus numbers decide what is reachable), then every BAR.
            for (PciFunction f : functions) f.refreshBars();
            RootPortSlots.configRestored(registry);
            for (int i = 0; i < functions.size(); i++) {
                if (msix.get(i) == null) continue;
                try {
                    UsbControllerState.msixOf(functions.get(i).device()).restoreState(msix.get(i));
                } catch (IllegalArgumentException e) {
                    throw new StateFormatException("PCI function " + functions.get(i).address() + ": " + e.getMessage());
                }
            }
            pciLoaded = true;
        }

        /** Checks every device got its state. */
        public void apply() throws StateFormatException {
            boolean usb = UsbControllerState.of(registry) != null;
            if (transports.isEmpty() && !usb) return;
            if (usb && !usbLoaded) throw new StateFormatException("state has no section for qemu-xhci (saved without --usb? start it with the source's device options)");
            if (!pciLoaded) throw new StateFormatException("state has no PCI section but this machine has virtio devices "
                    + "(saved without them? start it with the source's device options)");
            for (int i = 0; i < loaded.length; i++) {
                if (!loaded[i]) throw new StateFormatException("state has no section for virtio device " + i + " (" + transports.get(i) + ")");
            }
        }
    }

    private static byte[] readArray(DataInputStream in, int max, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > max) throw new StateFormatException("implausible " + what + " length " + n);
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

}
