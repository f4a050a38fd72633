package dev.vmm.control.pci;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.control.QmpServer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * QMP {@code query-pci} in QEMU 7.2's shape ({@code PciInfo}): one entry for the root bus with its
 * devices; a bridge or root port carries {@code pci_bridge} with its bus numbers, windows and the
 * devices behind it. What is reported is what the guest sees in config space now: bus numbers and
 * BAR addresses as firmware (or the VMM, for direct boot) programmed them; a BAR that does not
 * decode reads as QEMU's "unmapped" address (all ones).
 */
public final class QueryPci {
    private QueryPci() {}

    /** QEMU's {@code PCI_BAR_UNMAPPED}, as the unsigned 64-bit number QMP prints. */
    static final java.math.BigInteger UNMAPPED = new java.math.BigInteger("18446744073709551615");

    /**
     * Registers {@code query-pci}.
     *
     * @param root   the machine's root bus (null: no PCI)
     * @param qdevId the id a device was created with ({@code --pcie-root-port id=}, {@code device_add id=}), or null
     */
    public static void install(QmpServer qmp, Supplier<PciBus> root, Function<PciDevice, String> qdevId) {
        qmp.register("query-pci", java.util.Set.of(), a -> {
            PciBus bus = root.get();
            return bus == null ? List.of() : List.of(busInfo(bus, qdevId));
        });
    }

    static Map<String, Object> busInfo(PciBus bus, Function<PciDevice, String> qdevId) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bus", bus.number());
        m.put("devices", devices(bus, qdevId));
        return m;
    }

    private static List<Map<String, Object>> devices(PciBus bus, Function<PciDevice, String> qdevId) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (PciFunction f : bus.functions()) out.add(device(f, qdevId));
        return out;
    }

    static Map<String, Object> device(PciFunction f, Function<PciDevice, String> qdevId) {
        PciConfigSpace c = f.configSpace();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("bus", f.bus().number());
        d.put("slot", f.slot());
        d.put("function", f.function());
        Map<String, Object> cls = new LinkedHashMap<>();
        int classWord = c.classCode() >>> 8;
        String desc = PciClassNames.of(classWord);
        if (desc != null) cls.put("desc", desc);
        cls.put("class", classWord);
        d.put("class_info", cls);
        Map<String, Object> id = new LinkedHashMap<>();
        id.put("device", c.deviceId());
        id.put("vendor", c.vendorId());
        // Only a type 0 header has subsystem ids (a bridge has its windows there): optional in QEMU's PciDeviceId.
        if (c.headerType() == PciConfigSpace.HEADER_TYPE_ENDPOINT) {
            id.put("subsystem", c.read(PciConfigSpace.SUBSYSTEM_ID, 2));
            id.put("subsystem-vendor", c.read(PciConfigSpace.SUBSYSTEM_VENDOR_ID, 2));
        }
        d.put("id", id);
        int pin = c.interruptPin();
        if (pin != 0) d.put("irq", c.interruptLine());
        d.put("irq_pin", pin);
        String q = qdevId.apply(f.device());
        d.put("qdev_id", q == null ? "" : q);
        if (f.device() instanceof PciBridge b) d.put("pci_bridge", bridgeInfo(b, qdevId));
        d.put("regions", regions(f));
        return d;
    }

    private static Map<String, Object> bridgeInfo(PciBridge b, Function<PciDevice, String> qdevId) {
        Map<String, Object> bus = new LinkedHashMap<>();
        bus.put("number", b.primaryBusNumber());
        bus.put("secondary", b.secondaryBusNumber());
        bus.put("subordinate", b.subordinateBusNumber());
        bus.put("io_range", range(b.ioBase(), b.ioLimit()));
        bus.put("memory_range", range(b.memoryBase(), b.memoryLimit()));
        bus.put("prefetchable_range", range(b.prefetchableBase(), b.prefetchableLimit()));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bus", bus);
        m.put("devices", devices(b.secondaryBus(), qdevId));
        return m;
    }

    private static Map<String, Object> range(long base, long limit) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("base", base);
        r.put("limit", limit);
        return r;
    }

    private static List<Map<String, Object>> regions(PciFunction f) {
        PciConfigSpace c = f.configSpace();
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < c.barCount(); i++) {
            PciBar bar = c.bar(i);
            if (bar == null) continue;
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("bar", i);
            boolean io = bar.kind() == PciBar.Kind.IO;
            r.put("type", io ? "io" : "memory");
            long at = f.barAddress(i);
            r.put("address", at == PciBar.UNMAPPED ? UNMAPPED : at);
            r.put("size", bar.size());
            if (!io) {
                r.put("prefetch", bar.prefetchable());
                r.put("mem_type_64", bar.kind() == PciBar.Kind.MEMORY64);
            }
            out.add(r);
        }
        return out;
    }
}
