package dev.vmm.devices;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.DeviceDriver;
import dev.vmm.control.QmpServer;
import dev.vmm.usb.UsbDevice;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * QMP {@code device_add}/{@code device_del} of {@code usb-storage}, {@code usb-tablet} and
 * {@code usb-kbd} (registered with {@link dev.vmm.control.DeviceDrivers}). The device is plugged into
 * a free root hub port of the machine's {@link UsbBus} (the guest sees a port status change);
 * {@code device_del} completes when the controller has detached it.
 *
 * <p>Properties: {@code bus} and {@code port} are accepted and ignored (the controller picks a free
 * port); usb-storage takes {@code x-vmm-path} (the image), {@code x-vmm-format},
 * {@code x-vmm-readonly} and {@code serial} — QEMU's {@code drive} needs a {@code blockdev-add}
 * this VMM does not have and is refused with QEMU's words for an unknown drive. Any other property
 * is refused as QEMU refuses it ("Property 'usb-tablet.foo' not found").
 */
public final class UsbDeviceDriver implements DeviceDriver {
    private static final Set<String> COMMON = Set.of("driver", "id", "bus", "port");
    private static final Set<String> STORAGE = Set.of("drive", "x-vmm-path", "x-vmm-format", "x-vmm-readonly", "serial", "bootindex");

    private final UsbBus bus;

    public UsbDeviceDriver(UsbBus bus) {
        this.bus = bus;
    }

    @Override
    public Set<String> drivers() {
        return Set.of("usb-storage", "usb-tablet", "usb-kbd", "usb-mouse");
    }

    @Override
    public void add(String driver, String id, JsonNode args) throws QmpServer.QmpException {
        if (!bus.connected()) throw QmpServer.QmpException.generic("No 'usb-bus' bus found for device '" + driver + "'");
        boolean storage = driver.equals("usb-storage");
        for (Iterator<String> it = args.fieldNames(); it.hasNext(); ) {
            String p = it.next();
            if (!COMMON.contains(p) && !(storage && STORAGE.contains(p))) {
                throw QmpServer.QmpException.generic("Property '" + driver + "." + p + "' not found");
            }
        }
        UsbStorageImage image = null;
        UsbDevice device;
        if (storage) {
            JsonNode drive = args.get("drive");
            if (drive != null) {
                throw QmpServer.QmpException.generic("Property 'usb-storage.drive' can't find value '" + drive.asText() + "'");
            }
            JsonNode path = args.get("x-vmm-path");
            if (path == null || !path.isTextual() || path.asText().isEmpty()) throw QmpServer.QmpException.generic("drive property not set");
            JsonNode ro = args.get("x-vmm-readonly");
            if (ro != null && !ro.isBoolean()) throw QmpServer.QmpException.generic("Parameter 'x-vmm-readonly' expects a boolean");
            JsonNode format = args.get("x-vmm-format");
            JsonNode serial = args.get("serial");
            try {
                image = UsbBus.openImage(Path.of(path.asText()), format == null ? null : format.asText(),
                        ro != null && ro.asBoolean(), false, "usb-storage");
            } catch (IllegalArgumentException e) {
                throw QmpServer.QmpException.generic(e.getMessage());
            }
            device = bus.storage(image.image(), serial != null && serial.asText().length() >= 12 ? serial.asText() : bus.nextSerial());
        } else {
            device = UsbBus.hid(driver);
        }
        try {
            bus.plug(id, device, image);
        } catch (IllegalStateException e) {
            if (image != null) image.close();
            throw QmpServer.QmpException.generic(e.getMessage());
        }
    }

    @Override
    public boolean owns(String id) {
        return bus.has(id);
    }

    @Override
    public CompletableFuture<Void> delete(String id) {
        return bus.unplug(id);
    }
}
