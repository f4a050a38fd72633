package dev.vmm.usb.device;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The standard requests of USB 2.0 ch. 9 and the descriptors, through a host-side driver. */
@Timeout(30)
class StandardRequestsTest {
    private static final int DEV_IN = 0x80, EP_OUT = 0x02, EP_IN = 0x82, IF_IN = 0x81;

    @Test
    void tabletEnumeratesWithConsistentDescriptors() {
        UsbTestHost host = new UsbTestHost(new UsbTablet());
        UsbTestHost.Enumerated e = host.enumerate(5);
        assertThat(e.bcdUsb()).isEqualTo(0x0200);
        assertThat(e.device()[7]).isEqualTo((byte) 64);
        assertThat(e.device()[17]).isEqualTo((byte) 1);
        assertThat(e.configuration().interfaces()).hasSize(1);
        DescriptorParser.Interface i = e.configuration().interfaces().get(0);
        assertThat(i.interfaceClass()).isEqualTo(3);
        assertThat(i.endpoints()).singleElement().satisfies(ep -> {
            assertThat(ep.address()).isEqualTo(0x81);
            assertThat(ep.type()).isEqualTo(Descriptors.EP_INTERRUPT);
            assertThat(ep.companion()).isNull();
        });
        // The HID descriptor's report descriptor length is what GET_DESCRIPTOR(report) returns.
        byte[] hid = i.classDescriptors().get(0);
        assertThat(hid[1]).isEqualTo((byte) 0x21);
        int reportLength = (hid[7] & 0xff) | (hid[8] & 0xff) << 8;
        UsbTestHost.Result report = host.controlIn(UsbSetup.RECIPIENT_INTERFACE, UsbSetup.GET_DESCRIPTOR, 0x2200, 0, 1024);
        assertThat(report.ok()).isTrue();
        assertThat(report.data()).hasSize(reportLength);
        assertThat(e.strings()).containsExactly("VMM", "VMM USB Tablet", "42");
        assertThat(host.device()).isInstanceOfSatisfying(StandardUsbDevice.class,
                d -> assertThat(d.state()).isEqualTo(UsbDeviceState.CONFIGURED));
        assertThat(((StandardUsbDevice) host.device()).address()).isEqualTo(5);
    }

    @Test
    void keyboardIsABootKeyboard() {
        UsbTestHost host = new UsbTestHost(new UsbKeyboard());
        DescriptorParser.Interface i = host.enumerate(1).configuration().interfaces().get(0);
        assertThat(List.of(i.interfaceClass(), i.subClass(), i.protocol())).containsExactly(3, 1, 1);
    }

    @Test
    void wLengthTruncatesEveryAnswer() {
        UsbTestHost host = new UsbTestHost(new UsbTablet());
        for (int len : new int[] {0, 1, 8, 17, 18, 19, 255}) {
            UsbTestHost.Result r = host.getDescriptor(Descriptors.DEVICE, 0, 0, len);
            assertThat(r.ok()).isTrue();
            assertThat(r.data()).hasSize(Math.min(len, 18));
        }
        UsbTestHost.Result s = host.getDescriptor(Descriptors.STRING, 2, Descriptors.LANGID_EN_US, 3);
        assertThat(s.data()).hasSize(3);
        assertThat(s.data()[0] & 0xff).isEqualTo(2 + 2 * "VMM USB Tablet".length());
    }

    @Test
    void highSpeedDeviceDescribesItsFullSpeedSelf() {
        UsbTestHost host = new UsbTestHost(new UsbTablet());
        UsbTestHost.Result q = host.getDescriptor(Descriptors.DEVICE_QUALIFIER, 0, 0, 10);
        assertThat(q.ok()).isTrue();
        assertThat(q.data()[0]).isEqualTo((byte) 10);
        UsbTestHost.Result o = host.getDescriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 255);
        assertThat(o.ok()).isTrue();
        DescriptorParser.Parsed fs = DescriptorParser.configuration(o.data(), false);
        assertThat(fs.interfaces().get(0).endpoints().get(0).interval()).isEqualTo(10); // 10 frames = 10 ms
        // A USB 2.0 (bcdUSB 0200h) device has no BOS.
        assertThat(host.getDescriptor(Descriptors.BOS, 0, 0, 5).status()).isEqualTo(UsbPacket.Status.STALL);
    }

    @Test
    void invalidRequestsStall() {
        UsbTestHost host = new UsbTestHost(new UsbTablet());
        List<int[]> bad = List.of(
                new int[] {DEV_IN, 0x7f, 0, 0, 8},                                  // unknown request
                new int[] {DEV_IN, UsbSetup.GET_DESCRIPTOR, 0x0900, 0, 9},          // unknown type
                new int[] {DEV_IN, UsbSetup.GET_DESCRIPTOR, 0x0101, 0, 18},         // device descriptor index 1
                new int[] {DEV_IN, UsbSetup.GET_DESCRIPTOR, 0x0204, 0, 9},          // configuration 4
                new int[] {DEV_IN, UsbSetup.GET_DESCRIPTOR, 0x0309, 0x0409, 255},   // string 9
                new int[] {DEV_IN, UsbSetup.GET_DESCRIPTOR, 0x0301, 0x0407, 255},   // other language
                new int[] {0, UsbSetup.SET_ADDRESS, 128, 0, 0},                     // address > 127
                new int[] {0, UsbSetup.SET_CONFIGURATION, 1, 0, 0},                 // configuring in Default state
                new int[] {0, UsbSetup.SET_DESCRIPTOR, 0x0100, 0, 0},
                new int[] {DEV_IN, UsbSetup.GET_CONFIGURATION, 0, 0, 1},            // in Default state
                new int[] {0x40, 1, 0, 0, 0},                                        // vendor request
                new int[] {0, UsbSetup.SET_SEL, 0, 0, 6});                           // SuperSpeed only
        for (int[] b : bad) {
            UsbTestHost.Result r = host.control(b[0], b[1], b[2], b[3], b[4], (b[0] & 0x80) != 0 ? null : new byte[b[4]]);
            assertThat(r.status()).as("request %s", java.util.Arrays.toString(b)).isEqualTo(UsbPacket.Status.STALL);
        }
        // The device still answers afterwards.
        assertThat(host.enumerate(3).strings()).hasSize(3);
    }

    @Test
    void configurationStatusAndHalt() {
        UsbTestHost host = new UsbTestHost(new UsbTablet());
        host.enumerate(2);
        assertThat(host.controlIn(0, UsbSetup.GET_CONFIGURATION, 0, 0, 1).data()).containsExactly(1);
        assertThat(host.control(0, UsbSetup.SET_CONFIGURATION, 2, 0, 0, null).status()).isEqualTo(UsbPacket.Status.STALL);
        // Bus-powered, remote wake-up off until the host enables it.
        assertThat(host.controlIn(0, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(0, 0);
        assertThat(host.control(0, UsbSetup.SET_FEATURE, 1, 0, 0, null).ok()).isTrue();
        assertThat(host.controlIn(0, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(2, 0);
        // Halting the interrupt endpoint makes it stall until cleared.
        assertThat(host.control(2, UsbSetup.SET_FEATURE, 0, IF_IN, 0, null).ok()).isTrue();
        assertThat(host.controlIn(2, UsbSetup.GET_STATUS, 0, IF_IN, 2).data()).containsExactly(1, 0);
        assertThat(host.transfer(1, true, new byte[8]).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(2, UsbSetup.CLEAR_FEATURE, 0, IF_IN, 0, null).ok()).isTrue();
        assertThat(host.controlIn(2, UsbSetup.GET_STATUS, 0, IF_IN, 2).data()).containsExactly(0, 0);
        // Endpoints that do not exist.
        assertThat(host.control(2, UsbSetup.SET_FEATURE, 0, EP_IN, 0, null).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.controlIn(2, UsbSetup.GET_STATUS, 0, EP_OUT, 2).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.transfer(2, false, new byte[8]).status()).isEqualTo(UsbPacket.Status.STALL);
        // Interfaces: alternate setting 0 only.
        assertThat(host.controlIn(1, UsbSetup.GET_INTERFACE, 0, 0, 1).data()).containsExactly(0);
        assertThat(host.control(1, UsbSetup.SET_INTERFACE, 0, 0, 0, null).ok()).isTrue();
        assertThat(host.control(1, UsbSetup.SET_INTERFACE, 1, 0, 0, null).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.controlIn(1, UsbSetup.GET_INTERFACE, 0, 1, 1).status()).isEqualTo(UsbPacket.Status.STALL);
        // SET_ADDRESS is refused once configured; SET_CONFIGURATION(0) goes back to Address.
        assertThat(host.control(0, UsbSetup.SET_ADDRESS, 9, 0, 0, null).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(0, UsbSetup.SET_CONFIGURATION, 0, 0, 0, null).ok()).isTrue();
        assertThat(((StandardUsbDevice) host.device()).state()).isEqualTo(UsbDeviceState.ADDRESS);
        assertThat(host.transfer(1, true, new byte[8]).status()).isEqualTo(UsbPacket.Status.STALL);
    }

    @Test
    void resetReturnsToDefault() {
        UsbTestHost host = new UsbTestHost(new UsbKeyboard());
        host.enumerate(7);
        UsbTestHost.Pending waiting = host.start(1, true, new byte[8]);
        assertThat(waiting.done).isNotDone(); // NAK: nothing to report
        host.device().reset();
        assertThat(waiting.await().status()).isEqualTo(UsbPacket.Status.CANCELLED);
        StandardUsbDevice d = (StandardUsbDevice) host.device();
        assertThat(d.state()).isEqualTo(UsbDeviceState.DEFAULT);
        assertThat(d.address()).isZero();
        assertThat(host.enumerate(8).strings()).contains("VMM USB Keyboard");
        assertThat(waiting.completions()).isEqualTo(1);
    }

    @Test
    void descriptorBuilderComputesLengths() {
        Descriptors.Endpoint ep = new Descriptors.Endpoint(0x81, Descriptors.EP_BULK, 1024, 0, new Descriptors.Companion(15, 0, 0));
        Descriptors.Configuration c = new Descriptors.Configuration(1, 0, 0x40, 12,
                List.of(new Descriptors.Interface(0, 8, 6, 0x50, 0, new byte[0], List.of(ep))));
        byte[] b = Descriptors.configuration(c, Descriptors.CONFIGURATION);
        assertThat(b).hasSize(9 + 9 + 7 + 6);
        DescriptorParser.Parsed p = DescriptorParser.configuration(b, true);
        assertThat(p.interfaces().get(0).endpoints().get(0).companion().maxBurst()).isEqualTo(15);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> DescriptorParser.configuration(b, false))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(DescriptorParser.bos(Descriptors.bos(true, true, 1, 10, 0x7ff))).containsExactly(2, 3);
        assertThat(DescriptorParser.string(Descriptors.string("héllo"))).isEqualTo("héllo");
        assertThat(Descriptors.string("x".repeat(300))).hasSize(254);
    }
}
