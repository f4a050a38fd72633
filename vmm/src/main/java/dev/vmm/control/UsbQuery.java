package dev.vmm.control;

import dev.vmm.devices.UsbBus;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbHub;
import dev.vmm.usb.UsbSpeed;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code x-vmm-query-usb}: the root hub's ports and what is plugged into each — QEMU has no QMP
 * command for this (only HMP's {@code info usb}), hence the {@code x-vmm-} prefix. One entry per port:
 * {@code {"port": 1, "protocol": "usb3", "device": {"product": "usb-storage", "speed": "super",
 * "speed-mbps": 5000, "id": "stick0"}}}; {@code device} is absent for an empty port and {@code id}
 * for a device given without one.
 */
public final class UsbQuery {
    private UsbQuery() {}

    static final String NO_CONTROLLER = "No USB host controller (start the machine with --usb)";

    public static List<Map<String, Object>> describe(UsbHub hub, List<UsbBus.Plugged> plugged) {
        Map<UsbDevice, String> ids = new IdentityHashMap<>();
        for (UsbBus.Plugged p : plugged) {
            if (p.id() != null) ids.put(p.device(), p.id());
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (UsbHub.Port port : hub.ports()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("port", port.number());
            entry.put("protocol", port.superSpeed() ? "usb3" : "usb2");
            UsbDevice d = port.device();
            if (d != null) {
                Map<String, Object> dev = new LinkedHashMap<>();
                dev.put("product", d.productName());
                dev.put("speed", d.speed().name().toLowerCase(java.util.Locale.ROOT));
                dev.put("speed-mbps", mbps(d.speed()));
                String id = ids.get(d);
                if (id != null) dev.put("id", id);
                entry.put("device", dev);
            }
            out.add(entry);
        }
        return out;
    }

    /** The signalling rate, as HMP's {@code info usb} prints it (1.5 Mb/s is reported as 1.5). */
    static Number mbps(UsbSpeed s) {
        return switch (s) {
            case LOW -> 1.5;
            case FULL -> 12;
            case HIGH -> 480;
            case SUPER -> 5000;
        };
    }
}
