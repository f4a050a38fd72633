package dev.vmm.control;

import dev.vmm.devices.UsbBus;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbHub;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** x-vmm-query-usb: every root hub port, its protocol, and the device in it with its speed and id. */
class UsbQueryTest {
    @Test
    void listsPortsAndTheirDevices() {
        UsbDevice tablet = new UsbTablet(), keyboard = new UsbKeyboard();
        UsbHub hub = new UsbHub() {
            @Override public int plug(UsbDevice device, int portOrZero) { throw new UnsupportedOperationException(); }
            @Override public void unplug(UsbDevice device) { }
            @Override public List<Port> ports() {
                return List.of(new Port(1, true, null), new Port(5, false, tablet), new Port(6, false, keyboard));
            }
        };
        List<Map<String, Object>> out = UsbQuery.describe(hub, List.of(
                new UsbBus.Plugged("tab0", tablet, 5, () -> { }), new UsbBus.Plugged(null, keyboard, 6, () -> { })));
        assertThat(out).hasSize(3);
        assertThat(out.get(0)).containsEntry("port", 1).containsEntry("protocol", "usb3").doesNotContainKey("device");
        assertThat(out.get(1)).containsEntry("port", 5).containsEntry("protocol", "usb2");
        @SuppressWarnings("unchecked") Map<String, Object> t = (Map<String, Object>) out.get(1).get("device");
        assertThat(t).containsEntry("product", tablet.productName()).containsEntry("speed", tablet.speed().name().toLowerCase())
                .containsEntry("id", "tab0");
        assertThat(t.get("speed-mbps")).isEqualTo(UsbQuery.mbps(tablet.speed()));
        @SuppressWarnings("unchecked") Map<String, Object> k = (Map<String, Object>) out.get(2).get("device");
        assertThat(k).containsEntry("product", keyboard.productName()).doesNotContainKey("id");
    }
}
