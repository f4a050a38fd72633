package dev.vmm.snapshot.devices;

import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.PciPlacement;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.virtio.net.VirtioNet;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The PCI devices a machine has now — started with it or plugged at run time — as a saved state
 * names them (section {@code devices}, issue 15): per function its bus (by the name {@code bus=}
 * uses: {@code pci.0}, {@code pcie.0}, a root port's or bridge's id), slot and function, kind,
 * qdev id, and for a virtio function its queue count, MAC (virtio-net) and the index of its
 * {@code virtio/<n>} section. A destination must have been started with the same devices, as
 * QEMU's: hot-plugged ones given as ordinary {@code --disk}/{@code --net} options with the
 * {@code bus=}/{@code addr=} they had. {@link #difference} names what differs.
 *
 * <p>Version 2 adds each virtio-scsi controller's LUN set ({@link ScsiLuns}): a controller with
 * {@code scsi-hd} disks plugged at run time travels too, the destination started with them as
 * {@code --scsi ...,controller=,lun=,id=} (libvirt's {@code -device scsi-hd,bus=,lun=}).
 *
 * <p>Bus numbers are not used: the guest may have renumbered bridges at the source, and the
 * destination's numbers only become the guest's when the {@code pci} section is loaded.
 */
public record DeviceManifest(List<Entry> entries) {
    public static final String SECTION = "devices";
    public static final int VERSION = 2;
    /** 256 buses × 32 slots × 8 functions: more cannot exist. */
    static final int MAX_ENTRIES = 256 * 32 * 8;

    /**
     * One PCI function. {@code id} is "" without a qdev id, {@code mac} "" when not a NIC,
     * {@code queues} and {@code virtio} -1 when not a virtio function.
     */
    public record Entry(String bus, int slot, int function, String kind, String id, int queues, String mac, int virtio,
                        List<ScsiLuns.Lun> luns) {
        public Entry {
            luns = List.copyOf(luns);
        }

        /** A function without LUNs (all but virtio-scsi). */
        public Entry(String bus, int slot, int function, String kind, String id, int queues, String mac, int virtio) {
            this(bus, slot, function, kind, id, queues, mac, virtio, List.of());
        }

        /** {@code virtio-blk 'vd1' at rp1 00.0}: how messages name it. */
        String describe() {
            return kind + (id.isEmpty() ? "" : " '" + id + "'") + " at " + where();
        }

        String where() {
            return String.format("%s %02x.%x", bus, slot, function);
        }
    }

    public DeviceManifest {
        entries = List.copyOf(entries);
    }

    /** What {@code registry}'s machine has now (vCPUs paused, or nothing plugs meanwhile). */
    public static DeviceManifest of(DeviceRegistry registry) {
        Map<PciBus, String> names = busNames(registry);
        List<VirtioPciDevice> transports = registry.transports();
        List<Entry> out = new ArrayList<>();
        int unnamed = 0;
        for (PciFunction f : registry.pci().root().allFunctions()) {
            String bus = names.get(f.bus());
            if (bus == null) {
                bus = "unnamed-bus-" + unnamed++;
                names.put(f.bus(), bus);
            }
            String id = registry.qdevId(f.device());
            int queues = -1, virtio = -1;
            String mac = "";
            List<ScsiLuns.Lun> luns = List.of();
            if (f.device() instanceof VirtioPciDevice v) {
                virtio = indexOf(transports, v);
                queues = v.device().queueCount();
                if (v.device() instanceof VirtioNet n) mac = n.mac().toString();
                luns = ScsiLuns.of(v.device());
            }
            out.add(new Entry(bus, f.slot(), f.function(), f.device().name(), id == null ? "" : id, queues, mac, virtio, luns));
        }
        return new DeviceManifest(out);
    }

    private static int indexOf(List<VirtioPciDevice> transports, VirtioPciDevice v) {
        for (int i = 0; i < transports.size(); i++) if (transports.get(i) == v) return i;
        return -1;
    }

    private static Map<PciBus, String> busNames(DeviceRegistry registry) {
        Map<PciBus, String> names = new IdentityHashMap<>();
        List<PciPlacement> placements = registry.parts(PciPlacement.class);
        if (!placements.isEmpty()) {
            for (Map.Entry<String, PciPlacement.Downstream> e : placements.getFirst().buses().entrySet()) {
                names.putIfAbsent(e.getValue().bus(), e.getKey());
            }
        }
        names.putIfAbsent(registry.pci().root(), "root");
        return names;
    }

    public void write(DataOutputStream out) throws IOException {
        out.writeInt(entries.size());
        for (Entry e : entries) {
            out.writeUTF(e.bus());
            out.writeByte(e.slot());
            out.writeByte(e.function());
            out.writeUTF(e.kind());
            out.writeUTF(e.id());
            out.writeInt(e.queues());
            out.writeUTF(e.mac());
            out.writeInt(e.virtio());
            ScsiLuns.write(out, e.luns());
        }
    }

    /** Reads a section of the current version. */
    public static DeviceManifest read(DataInputStream in) throws IOException {
        return read(in, VERSION);
    }

    /** Reads a section of {@code version} (1: no LUN sets); anything no machine can have is a StateFormatException. */
    public static DeviceManifest read(DataInputStream in, int version) throws IOException {
        int n = ManifestFields.count(in, MAX_ENTRIES, "function");
        List<Entry> out = new ArrayList<>(Math.min(n, 64));
        java.util.Set<Integer> virtioSeen = new java.util.HashSet<>();
        java.util.Set<String> places = new java.util.HashSet<>();
        for (int i = 0; i < n; i++) {
            String bus = ManifestFields.text(in, "bus");
            int slot = in.readUnsignedByte(), fn = in.readUnsignedByte();
            if (slot > 31 || fn > 7) throw new StateFormatException("devices: slot " + slot + " function " + fn);
            String kind = ManifestFields.text(in, "kind"), id = ManifestFields.text(in, "id");
            int queues = in.readInt();
            String mac = ManifestFields.text(in, "mac");
            int virtio = in.readInt();
            if (queues < -1 || queues > 1024) throw new StateFormatException("devices: implausible queue count " + queues);
            if (virtio < -1 || virtio >= n || (virtio >= 0 && !virtioSeen.add(virtio))) {
                throw new StateFormatException("devices: bad virtio section index " + virtio);
            }
            if (!places.add(bus + "/" + slot + "." + fn)) throw new StateFormatException("devices: two functions at " + bus + " " + slot + "." + fn);
            out.add(new Entry(bus, slot, fn, kind, id, queues, mac, virtio, version >= 2 ? ScsiLuns.read(in) : List.of()));
        }
        return new DeviceManifest(out);
    }

    /**
     * What differs between the saved machine ({@code this}) and {@code here}, one line naming every
     * difference (missing device, extra device, device at another address, other kind, queue count
     * or MAC, qdev id), or null when they agree. A device with an id in the state needs the same id
     * here ({@code --disk/--net ...,id=}: device_del must find it); one saved without an id may have
     * one here (streams of start-up devices written before ids existed).
     */
    public String difference(DeviceManifest here) {
        Map<String, Entry> saved = byPlace(this), mine = byPlace(here);
        List<String> problems = new ArrayList<>();
        List<Entry> missing = new ArrayList<>(), extra = new ArrayList<>();
        for (Map.Entry<String, Entry> e : saved.entrySet()) {
            Entry h = mine.get(e.getKey());
            Entry s = e.getValue();
            if (h == null) {
                missing.add(s);
            } else if (!h.kind().equals(s.kind())) {
                problems.add(s.where() + " is " + s.describe() + " in the state but " + h.kind() + " here");
            } else {
                if (h.queues() != s.queues()) problems.add(s.describe() + " has " + s.queues() + " queues in the state, " + h.queues() + " here");
                if (!h.mac().equals(s.mac())) problems.add(s.describe() + " has MAC " + s.mac() + " in the state, " + h.mac() + " here");
                String id = ManifestFields.idDifference(s.describe(), s.id(), h.id());
                if (id != null) problems.add(id);
                problems.addAll(ScsiLuns.differences(s.describe(), s.luns(), h.luns()));
            }
        }
        for (Map.Entry<String, Entry> e : mine.entrySet()) if (!saved.containsKey(e.getKey())) extra.add(e.getValue());
        // A device at another address is one difference, not a missing and an extra one.
        for (java.util.Iterator<Entry> it = missing.iterator(); it.hasNext(); ) {
            Entry s = it.next();
            Entry moved = extra.stream().filter(x -> x.kind().equals(s.kind()) && x.queues() == s.queues() && x.mac().equals(s.mac()))
                    .findFirst().orElse(null);
            if (moved != null) {
                problems.add(s.describe() + " is at " + moved.where() + " here");
                extra.remove(moved);
                it.remove();
            }
        }
        for (Entry s : missing) problems.add("missing device " + s.describe());
        for (Entry h : extra) problems.add("extra device " + h.describe());
        if (problems.isEmpty()) return null;
        return String.join("; ", problems) + ": start the destination with the source's current devices (hot-plugged ones as --disk/--net with their bus=/addr=/id=,"
                + " SCSI controllers as --scsi-controller id=,bus=,addr= and their disks as --scsi ...,controller=,lun=,id=)";
    }

    private static Map<String, Entry> byPlace(DeviceManifest m) {
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Entry e : m.entries()) out.put(e.bus() + "/" + e.slot() + "." + e.function(), e);
        return out;
    }

    /**
     * For each saved {@code virtio/<n>} section, the index of this machine's transport at the same
     * place (only meaningful once {@link #difference} found none).
     */
    public int[] virtioTargets(DeviceManifest here) {
        Map<String, Entry> mine = byPlace(here);
        int count = 0;
        for (Entry e : entries) if (e.virtio() >= 0) count = Math.max(count, e.virtio() + 1);
        int[] to = new int[count];
        java.util.Arrays.fill(to, -1);
        for (Map.Entry<String, Entry> e : byPlace(this).entrySet()) {
            Entry h = mine.get(e.getKey());
            if (e.getValue().virtio() >= 0 && h != null) to[e.getValue().virtio()] = h.virtio();
        }
        return to;
    }
}
