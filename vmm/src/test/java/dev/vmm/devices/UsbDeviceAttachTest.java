package dev.vmm.devices;

import dev.vmm.config.ConfigException;
import dev.vmm.config.UsbDeviceSpec;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbDeviceSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The command-line path: images opened (and locked) before KVM, devices plugged into the bus at attach. */
@Timeout(30)
class UsbDeviceAttachTest {
    @TempDir
    Path dir;

    private static final class Hub implements UsbDeviceSink {
        final List<UsbDevice> plugged = new ArrayList<>();
        public int plug(UsbDevice d) { plugged.add(d); return plugged.size(); }
        public CompletableFuture<Void> unplug(UsbDevice d) { plugged.remove(d); return CompletableFuture.completedFuture(null); }
    }

    private static AttachContext context(DeviceRegistry registry) {
        return new AttachContext(null, null, registry, null, List.of(), 1, null, null);
    }

    @Test
    void opensBeforeKvmAndPlugsAtAttach() throws Exception {
        Path img = dir.resolve("stick.img");
        Files.write(img, new byte[1 << 20]);
        DeviceRegistry registry = new DeviceRegistry(null, List.of());
        Hub hub = new Hub();
        registry.usb().connect(hub);
        UsbDeviceAttach storage = UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + img + ",readonly=on,id=s1"), new OpenContext(1, false));
        assertThat(storage.describe()).isEqualTo("usb-storage " + img + " (raw, read-only, SuperSpeed)");
        UsbDeviceAttach tablet = UsbDeviceAttach.open(UsbDeviceSpec.Hid.parse("usb-tablet", ""), new OpenContext(1, false));
        assertThat(tablet.describe()).isEqualTo("usb-tablet");
        storage.place(null, null); // not a PCI function: nothing placed (the dry run lists it under usb:)
        storage.attach(context(registry));
        tablet.attach(context(registry));
        assertThat(hub.plugged).extracting(UsbDevice::productName).containsExactly("usb-storage", "usb-tablet");
        assertThat(registry.usb().has("s1")).isTrue();
        assertThat(registry.usb().inputs().handlerFor(dev.vmm.input.InputEvent.Kind.ABS)).isSameAs(hub.plugged.get(1));
        assertThat(registry.unsaveable()).as("the controller saves USB devices with its own state").isEmpty();
        registry.close();
    }

    @Test
    void userMistakesAreOneLine() throws Exception {
        assertThatThrownBy(() -> UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + dir.resolve("none.img")), new OpenContext(1, false)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("no such file");
        Path img = dir.resolve("locked.img");
        Files.write(img, new byte[65536]);
        UsbDeviceAttach first = UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + img), new OpenContext(1, false));
        try {
            assertThatThrownBy(() -> UsbDeviceAttach.open(UsbDeviceSpec.Storage.parse("path=" + img), new OpenContext(1, false)))
                    .isInstanceOf(ConfigException.class).hasMessageStartingWith("--usb-storage " + img);
        } finally {
            first.close();
        }
        UsbDeviceAttach kbd = UsbDeviceAttach.open(UsbDeviceSpec.Hid.parse("usb-kbd", ""), new OpenContext(1, false));
        DeviceRegistry registry = new DeviceRegistry(null, List.of());
        assertThatThrownBy(() -> kbd.attach(context(registry))).isInstanceOf(ConfigException.class)
                .hasMessage("--usb-kbd: usb-kbd needs --usb (the xHCI controller it plugs into)");
    }
}
