package dev.vmm.usb.device;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.UsbStateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.usb.UsbPacket.Status.STALL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every standard request of USB 2.0 §9.4 (and the SuperSpeed ones of USB 3.2 §9.4) on a device
 * with nothing but the standard part ({@link ProbeDevice}), in each device state of §9.1.1: the
 * answer a request gets, the state it leaves, and a STALL (§9.2.7, "Request Error") for every
 * request whose fields are wrong for that state — each field varied alone, so each check is met.
 */
@Timeout(30)
class StandardUsbDeviceTest {
    private static final int OUT_DEV = 0x00, IN_DEV = 0x80, OUT_IF = 0x01, IN_IF = 0x81, OUT_EP = 0x02, IN_EP = 0x82;

    private final ProbeDevice dev = ProbeDevice.highSpeed();
    private final UsbTestHost host = new UsbTestHost(dev);

    private UsbTestHost.Result out(int requestType, int request, int value, int index) {
        return host.control(requestType, request, value, index, 0, null);
    }

    private UsbTestHost.Result in(int requestType, int request, int value, int index, int length) {
        return host.controlIn(requestType, request, value, index, length);
    }

    private void addressed() {
        assertThat(out(OUT_DEV, UsbSetup.SET_ADDRESS, 9, 0).ok()).isTrue();
    }

    private void configured() {
        addressed();
        assertThat(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, ProbeDevice.CONFIG_VALUE, 0).ok()).isTrue();
    }

    private static void stalls(UsbTestHost.Result r, String what) {
        assertThat(r.status()).as(what).isEqualTo(STALL);
        assertThat(r.data()).as(what).isEmpty();
    }

    @Test
    void setAddressMovesBetweenDefaultAndAddress() {
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        // SET_ADDRESS(0) in Default: stays Default (§9.4.6)
        assertThat(out(OUT_DEV, UsbSetup.SET_ADDRESS, 0, 0).ok()).isTrue();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        assertThat(out(OUT_DEV, UsbSetup.SET_ADDRESS, 127, 0).ok()).isTrue();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.ADDRESS);
        assertThat(dev.address()).isEqualTo(127);
        // another address in Address state, then 0: back to Default
        assertThat(out(OUT_DEV, UsbSetup.SET_ADDRESS, 1, 0).ok()).isTrue();
        assertThat(dev.address()).isEqualTo(1);
        assertThat(out(OUT_DEV, UsbSetup.SET_ADDRESS, 0, 0).ok()).isTrue();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        assertThat(dev.address()).isZero();
        // each field wrong alone; the address stays 0
        stalls(out(OUT_DEV, UsbSetup.SET_ADDRESS, 128, 0), "address 128");
        stalls(out(OUT_DEV, UsbSetup.SET_ADDRESS, 0xffff, 0), "address ffff");
        stalls(out(OUT_DEV, UsbSetup.SET_ADDRESS, 5, 1), "wIndex 1");
        stalls(host.control(OUT_DEV, UsbSetup.SET_ADDRESS, 5, 0, 1, new byte[1]), "wLength 1");
        stalls(in(IN_DEV, UsbSetup.SET_ADDRESS, 5, 0, 0), "device-to-host");
        stalls(out(OUT_IF, UsbSetup.SET_ADDRESS, 5, 0), "to an interface");
        assertThat(dev.address()).isZero();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        // Configured: SET_ADDRESS is refused and changes nothing
        configured();
        stalls(out(OUT_DEV, UsbSetup.SET_ADDRESS, 4, 0), "in Configured state");
        assertThat(dev.address()).isEqualTo(9);
        assertThat(dev.state()).isEqualTo(UsbDeviceState.CONFIGURED);
    }

    @Test
    void setAndGetConfiguration() {
        stalls(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, ProbeDevice.CONFIG_VALUE, 0), "in Default state");
        stalls(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1), "GET_CONFIGURATION in Default state");
        addressed();
        assertThat(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1).data()).containsExactly(0);
        int before = dev.functionResets();
        for (int bad : new int[] {1, 2, 4, 0xff}) {
            stalls(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, bad, 0), "configuration value " + bad);
        }
        stalls(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, 3, 1), "wIndex 1");
        stalls(host.control(OUT_DEV, UsbSetup.SET_CONFIGURATION, 3, 0, 1, new byte[1]), "wLength 1");
        stalls(in(IN_DEV, UsbSetup.SET_CONFIGURATION, 3, 0, 0), "device-to-host");
        stalls(out(OUT_IF, UsbSetup.SET_CONFIGURATION, 3, 0), "to an interface");
        assertThat(dev.state()).isEqualTo(UsbDeviceState.ADDRESS);
        assertThat(dev.functionResets()).isEqualTo(before);
        assertThat(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, 3, 0).ok()).isTrue();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.CONFIGURED);
        assertThat(dev.functionResets()).as("the function forgets the old configuration").isEqualTo(before + 1);
        assertThat(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1).data()).containsExactly(3);
        // GET_CONFIGURATION with a wrong field
        stalls(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 1, 0, 1), "wValue 1");
        stalls(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 1, 1), "wIndex 1");
        stalls(in(IN_IF, UsbSetup.GET_CONFIGURATION, 0, 0, 1), "to an interface");
        stalls(host.control(OUT_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1, new byte[1]), "host-to-device");
        // SET_CONFIGURATION(0): back to Address, function endpoints stall
        assertThat(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, 0, 0).ok()).isTrue();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.ADDRESS);
        assertThat(dev.functionResets()).isEqualTo(before + 2);
        assertThat(in(IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1).data()).containsExactly(0);
        stalls(host.transfer(1, true, new byte[4]), "bulk IN when not configured");
        assertThat(dev.transfers).isEmpty();
    }

    @Test
    void deviceStatusAndRemoteWakeup() {
        stalls(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2), "in Default state");
        addressed();
        // self-powered (bit 0), remote wake-up off until the host sets it (§9.4.5)
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(1, 0);
        stalls(in(IN_DEV, UsbSetup.GET_STATUS, 1, 0, 2), "wValue 1");
        stalls(in(IN_DEV, UsbSetup.GET_STATUS, 0, 1, 2), "wIndex 1 to the device");
        stalls(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 1), "wLength 1");
        stalls(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 3), "wLength 3");
        stalls(host.control(OUT_DEV, UsbSetup.GET_STATUS, 0, 0, 2, new byte[2]), "host-to-device");
        stalls(in(0x83, UsbSetup.GET_STATUS, 0, 0, 2), "recipient 'other'");
        assertThat(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(3, 0);
        assertThat(out(OUT_DEV, UsbSetup.CLEAR_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(1, 0);
        // TEST_MODE and unknown selectors; a feature request with a data stage or in the wrong direction
        stalls(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.TEST_MODE, 0), "TEST_MODE");
        stalls(out(OUT_DEV, UsbSetup.SET_FEATURE, 7, 0), "selector 7");
        stalls(host.control(OUT_DEV, UsbSetup.SET_FEATURE, 1, 0, 2, new byte[2]), "wLength 2");
        stalls(in(IN_DEV, UsbSetup.SET_FEATURE, 1, 0, 0), "device-to-host");
        // a reset forgets the wake-up enable
        assertThat(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        dev.reset();
        stalls(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0), "in Default state after reset");
        addressed();
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(1, 0);
    }

    @Test
    void remoteWakeupIsRefusedWhenTheConfigurationDoesNotOfferIt() {
        UsbTestHost h = new UsbTestHost(new ProbeDevice(UsbSpeed.FULL, null, 0x0110, 0x00));
        assertThat(h.control(OUT_DEV, UsbSetup.SET_ADDRESS, 2, 0, 0, null).ok()).isTrue();
        assertThat(h.control(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0, 0, null).status()).isEqualTo(STALL);
        // bus-powered, no wake-up
        assertThat(h.controlIn(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(0, 0);
        // a full-speed device without an other speed has no qualifier (§9.6.2)
        assertThat(h.getDescriptor(Descriptors.DEVICE_QUALIFIER, 0, 0, 10).status()).isEqualTo(STALL);
        assertThat(h.getDescriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 255).status()).isEqualTo(STALL);
        assertThat(h.getDescriptor(Descriptors.DEVICE, 0, 0, 18).data()[7]).isEqualTo((byte) 64);
    }

    @Test
    void interfaceStatusAndAlternateSettings() {
        addressed();
        stalls(in(IN_IF, UsbSetup.GET_STATUS, 0, 0, 2), "interface status in Address state");
        stalls(in(IN_IF, UsbSetup.GET_INTERFACE, 0, 0, 1), "GET_INTERFACE in Address state");
        stalls(out(OUT_IF, UsbSetup.SET_INTERFACE, 0, 0), "SET_INTERFACE in Address state");
        configured();
        for (int i : new int[] {0, 1}) {
            assertThat(in(IN_IF, UsbSetup.GET_STATUS, 0, i, 2).data()).as("interface %d status", i).containsExactly(0, 0);
            assertThat(in(IN_IF, UsbSetup.GET_INTERFACE, 0, i, 1).data()).as("interface %d setting", i).containsExactly(0);
        }
        stalls(in(IN_IF, UsbSetup.GET_STATUS, 0, 2, 2), "interface 2 status");
        stalls(in(IN_IF, UsbSetup.GET_INTERFACE, 0, 2, 1), "interface 2 setting");
        stalls(in(IN_IF, UsbSetup.GET_INTERFACE, 1, 0, 1), "GET_INTERFACE wValue 1");
        stalls(in(IN_DEV, UsbSetup.GET_INTERFACE, 0, 0, 1), "GET_INTERFACE to the device");
        stalls(host.control(OUT_IF, UsbSetup.GET_INTERFACE, 0, 0, 1, new byte[1]), "GET_INTERFACE host-to-device");
        // a halted endpoint is cleared by SET_INTERFACE, which also resets the function (§9.4.10)
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x83).ok()).isTrue();
        int before = dev.functionResets();
        assertThat(out(OUT_IF, UsbSetup.SET_INTERFACE, 0, 1).ok()).isTrue();
        assertThat(dev.functionResets()).isEqualTo(before + 1);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x83, 2).data()).containsExactly(0, 0);
        stalls(out(OUT_IF, UsbSetup.SET_INTERFACE, 1, 0), "alternate setting 1");
        stalls(out(OUT_IF, UsbSetup.SET_INTERFACE, 0, 2), "interface 2");
        stalls(host.control(OUT_IF, UsbSetup.SET_INTERFACE, 0, 0, 1, new byte[1]), "SET_INTERFACE wLength 1");
        stalls(in(IN_IF, UsbSetup.SET_INTERFACE, 0, 0, 0), "SET_INTERFACE device-to-host");
        stalls(out(OUT_DEV, UsbSetup.SET_INTERFACE, 0, 0), "SET_INTERFACE to the device");
        assertThat(dev.functionResets()).isEqualTo(before + 1);
        // FUNCTION_SUSPEND is SuperSpeed only
        stalls(out(OUT_IF, UsbSetup.SET_FEATURE, StandardUsbDevice.FUNCTION_SUSPEND, 0), "FUNCTION_SUSPEND at high speed");
    }

    @Test
    void endpointHaltPerDirection() {
        stalls(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x81), "halt in Default state");
        addressed();
        // endpoint 0 answers in Address state; other endpoints exist only once configured (§9.4.5)
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x00, 2).data()).containsExactly(0, 0);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x80, 2).data()).containsExactly(0, 0);
        stalls(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2), "endpoint 81 in Address state");
        stalls(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x81), "halt 81 in Address state");
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x00).ok()).as("halt endpoint 0").isTrue();
        configured();
        // bulk IN 1 halted: bulk OUT 1 (same number) still works
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x81).ok()).isTrue();
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).containsExactly(1, 0);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(0, 0);
        stalls(host.transfer(1, true, new byte[4]), "halted bulk IN");
        assertThat(host.transfer(1, false, new byte[4]).ok()).isTrue();
        assertThat(host.transfer(3, true, new byte[4]).ok()).isTrue();
        assertThat(dev.transfers).containsExactly(0x01, 0x83);
        assertThat(dev.haltsCleared()).isEmpty();
        assertThat(out(OUT_EP, UsbSetup.CLEAR_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x81).ok()).isTrue();
        assertThat(dev.haltsCleared()).as("the function resets its toggle").containsExactly(0x81);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).containsExactly(0, 0);
        assertThat(host.transfer(1, true, new byte[4]).data()).hasSize(4);
        // the OUT direction alone
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x01).ok()).isTrue();
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(1, 0);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).containsExactly(0, 0);
        stalls(host.transfer(1, false, new byte[4]), "halted bulk OUT");
        // SET_CONFIGURATION clears every halt (§9.4.7)
        assertThat(out(OUT_DEV, UsbSetup.SET_CONFIGURATION, 3, 0).ok()).isTrue();
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(0, 0);
        // endpoints that do not exist, reserved wIndex bits, other selectors, wrong directions
        for (int index : new int[] {0x02, 0x82, 0x03, 0x8f, 0x101, 0x181, 0x91, 0xa1, 0xc1}) {
            stalls(in(IN_EP, UsbSetup.GET_STATUS, 0, index, 2), "status of " + Integer.toHexString(index));
            stalls(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, index), "halt " + Integer.toHexString(index));
        }
        stalls(out(OUT_EP, UsbSetup.SET_FEATURE, 1, 0x81), "selector 1 to an endpoint");
        stalls(out(OUT_EP, UsbSetup.CLEAR_FEATURE, 1, 0x00), "selector 1 to endpoint 0");
        stalls(in(IN_EP, UsbSetup.GET_STATUS, 1, 0x81, 2), "GET_STATUS wValue 1");
        stalls(host.transfer(2, true, new byte[4]), "endpoint 82");
        stalls(host.transfer(3, false, new byte[4]), "endpoint 03");
        assertThat(dev.haltsCleared()).containsExactly(0x81);
    }

    @Test
    void everyDescriptorTypeIndexAndLanguage() {
        byte[] device = host.getDescriptor(Descriptors.DEVICE, 0, 0, 18).data();
        assertThat(device).hasSize(18);
        assertThat(DescriptorParser.u16(device, 8)).isEqualTo(0x1234);
        assertThat(DescriptorParser.u16(device, 10)).isEqualTo(0x5678);
        assertThat(device[17]).isEqualTo((byte) 1);
        byte[] config = host.getDescriptor(Descriptors.CONFIGURATION, 0, 0, 255).data();
        DescriptorParser.Parsed parsed = DescriptorParser.configuration(config, false);
        assertThat(parsed.value()).isEqualTo(3);
        assertThat(parsed.interfaces()).hasSize(2);
        assertThat(parsed.interfaces().get(0).endpoints().get(0).maxPacket()).isEqualTo(512);
        // short wLength on each type: the answer is cut, never padded (§9.3.5)
        for (int[] t : new int[][] {{Descriptors.DEVICE, 0, 0}, {Descriptors.CONFIGURATION, 0, 0}, {Descriptors.STRING, 0, 0},
                {Descriptors.STRING, 1, 0x0409}, {Descriptors.DEVICE_QUALIFIER, 0, 0}, {Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0}}) {
            byte[] whole = host.getDescriptor(t[0], t[1], t[2], 255).data();
            assertThat(whole[1] & 0xff).as("type of %d", t[0]).isEqualTo(t[0]);
            for (int len : new int[] {1, 2, whole.length - 1}) {
                assertThat(host.getDescriptor(t[0], t[1], t[2], len).data()).as("type %d wLength %d", t[0], len)
                        .containsExactly(java.util.Arrays.copyOf(whole, len));
            }
        }
        // the language list, whatever wIndex says; strings in en-US only
        assertThat(host.getDescriptor(Descriptors.STRING, 0, 0x0407, 255).data()).containsExactly(4, 3, 0x09, 0x04);
        assertThat(DescriptorParser.string(host.getDescriptor(Descriptors.STRING, 1, 0x0409, 255).data())).isEqualTo("Probe Maker");
        assertThat(DescriptorParser.string(host.getDescriptor(Descriptors.STRING, 2, 0x0409, 255).data())).isEqualTo("Probe");
        stalls(host.getDescriptor(Descriptors.STRING, 3, 0x0409, 255), "string 3");
        stalls(host.getDescriptor(Descriptors.STRING, 1, 0, 255), "language 0");
        // the qualifier: the full-speed self (bMaxPacketSize0 64, one configuration), and that configuration
        byte[] q = host.getDescriptor(Descriptors.DEVICE_QUALIFIER, 0, 0, 10).data();
        assertThat(q).hasSize(10);
        assertThat(q[7]).isEqualTo((byte) 64);
        assertThat(q[8]).isEqualTo((byte) 1);
        byte[] other = host.getDescriptor(Descriptors.OTHER_SPEED_CONFIGURATION, 0, 0, 255).data();
        assertThat(other[1]).isEqualTo((byte) Descriptors.OTHER_SPEED_CONFIGURATION);
        assertThat(DescriptorParser.configuration(other, false).interfaces().get(0).endpoints().get(0).maxPacket()).isEqualTo(64);
        // a non-zero index on the one-of-a-kind descriptors, a BOS on a USB 2.0 device, odd recipients and directions
        for (int type : new int[] {Descriptors.DEVICE, Descriptors.CONFIGURATION, Descriptors.DEVICE_QUALIFIER,
                Descriptors.OTHER_SPEED_CONFIGURATION, Descriptors.BOS}) {
            stalls(host.getDescriptor(type, 1, 0, 255), "type " + type + " index 1");
        }
        stalls(host.getDescriptor(Descriptors.BOS, 0, 0, 255), "BOS of a USB 2.0 device");
        stalls(host.getDescriptor(Descriptors.INTERFACE, 0, 0, 255), "an interface descriptor alone");
        stalls(host.getDescriptor(Descriptors.ENDPOINT, 0, 0, 255), "an endpoint descriptor alone");
        stalls(in(IN_EP, UsbSetup.GET_DESCRIPTOR, 0x0100, 0, 18), "to an endpoint");
        stalls(in(IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2200, 0, 64), "class descriptor the probe does not have");
        stalls(host.control(OUT_DEV, UsbSetup.GET_DESCRIPTOR, 0x0100, 0, 18, new byte[18]), "host-to-device");
        stalls(out(OUT_DEV, 12, 0, 0), "SYNCH_FRAME");
        // SuperSpeed-only requests on a high-speed device
        stalls(host.control(OUT_DEV, UsbSetup.SET_SEL, 0, 0, 6, new byte[6]), "SET_SEL");
        stalls(out(OUT_DEV, UsbSetup.SET_ISOCH_DELAY, 40, 0), "SET_ISOCH_DELAY");
    }

    @Test
    void aUsb21DeviceHasABosWithoutSuperSpeedCapability() {
        UsbTestHost h = new UsbTestHost(new ProbeDevice(UsbSpeed.HIGH, UsbSpeed.FULL, 0x0201, 0));
        byte[] bos = h.getDescriptor(Descriptors.BOS, 0, 0, 255).data();
        assertThat(DescriptorParser.bos(bos)).containsExactly(2);
        assertThat(bos[8]).as("no LPM at high speed").isZero();
        assertThat(h.getDescriptor(Descriptors.BOS, 0, 0, 5).data()).hasSize(5);
    }

    @Test
    void superSpeedRequests() {
        ProbeDevice ss = new ProbeDevice(UsbSpeed.SUPER, null, 0x0320, 0x00);
        UsbTestHost h = new UsbTestHost(ss);
        byte[] device = h.getDescriptor(Descriptors.DEVICE, 0, 0, 18).data();
        assertThat(device[7]).as("bMaxPacketSize0 is an exponent: 2^9").isEqualTo((byte) 9);
        DescriptorParser.Parsed config = DescriptorParser.configuration(h.getDescriptor(Descriptors.CONFIGURATION, 0, 0, 255).data(), true);
        assertThat(config.interfaces().get(1).endpoints().get(0).companion().bytesPerInterval()).isEqualTo(8);
        byte[] bos = h.getDescriptor(Descriptors.BOS, 0, 0, 255).data();
        assertThat(DescriptorParser.bos(bos)).containsExactly(2, 3);
        assertThat(bos[8]).as("LPM").isEqualTo((byte) 2);
        // SET_ISOCH_DELAY works in every state (USB 3.2 §9.4.11); SET_SEL from Address on (§9.4.12)
        assertThat(h.control(OUT_DEV, UsbSetup.SET_ISOCH_DELAY, 40, 0, 0, null).ok()).isTrue();
        stalls(h.control(OUT_DEV, UsbSetup.SET_ISOCH_DELAY, 40, 1, 0, null), "SET_ISOCH_DELAY wIndex 1");
        stalls(h.control(OUT_DEV, UsbSetup.SET_ISOCH_DELAY, 40, 0, 1, new byte[1]), "SET_ISOCH_DELAY wLength 1");
        stalls(h.control(IN_DEV, UsbSetup.SET_ISOCH_DELAY, 40, 0, 0, null), "SET_ISOCH_DELAY device-to-host");
        stalls(h.control(OUT_IF, UsbSetup.SET_ISOCH_DELAY, 40, 0, 0, null), "SET_ISOCH_DELAY to an interface");
        stalls(h.control(OUT_DEV, UsbSetup.SET_SEL, 0, 0, 6, new byte[6]), "SET_SEL in Default state");
        assertThat(h.control(OUT_DEV, UsbSetup.SET_ADDRESS, 3, 0, 0, null).ok()).isTrue();
        UsbTestHost.Result sel = h.control(OUT_DEV, UsbSetup.SET_SEL, 0, 0, 6, new byte[6]);
        assertThat(sel.ok()).isTrue();
        stalls(h.control(OUT_DEV, UsbSetup.SET_SEL, 0, 0, 5, new byte[5]), "SET_SEL wLength 5");
        stalls(h.control(OUT_DEV, UsbSetup.SET_SEL, 0, 0, 6, new byte[5]), "SET_SEL with 5 bytes of data");
        stalls(h.control(OUT_DEV, UsbSetup.SET_SEL, 1, 0, 6, new byte[6]), "SET_SEL wValue 1");
        stalls(h.control(OUT_DEV, UsbSetup.SET_SEL, 0, 1, 6, new byte[6]), "SET_SEL wIndex 1");
        stalls(h.control(OUT_IF, UsbSetup.SET_SEL, 0, 0, 6, new byte[6]), "SET_SEL to an interface");
        stalls(h.control(IN_DEV, UsbSetup.SET_SEL, 0, 0, 6, null), "SET_SEL device-to-host");
        // U1/U2/LTM enables once configured; FUNCTION_SUSPEND for an interface that exists
        for (int f : new int[] {StandardUsbDevice.U1_ENABLE, StandardUsbDevice.U2_ENABLE, StandardUsbDevice.LTM_ENABLE}) {
            stalls(h.control(OUT_DEV, UsbSetup.SET_FEATURE, f, 0, 0, null), "feature " + f + " in Address state");
        }
        stalls(h.control(OUT_IF, UsbSetup.SET_FEATURE, StandardUsbDevice.FUNCTION_SUSPEND, 0, 0, null), "FUNCTION_SUSPEND in Address state");
        assertThat(h.control(OUT_DEV, UsbSetup.SET_CONFIGURATION, 3, 0, 0, null).ok()).isTrue();
        for (int f : new int[] {StandardUsbDevice.U1_ENABLE, StandardUsbDevice.U2_ENABLE, StandardUsbDevice.LTM_ENABLE}) {
            assertThat(h.control(OUT_DEV, UsbSetup.SET_FEATURE, f, 0, 0, null).ok()).as("feature %d", f).isTrue();
            assertThat(h.control(OUT_DEV, UsbSetup.CLEAR_FEATURE, f, 0, 0, null).ok()).as("feature %d", f).isTrue();
        }
        stalls(h.control(OUT_DEV, UsbSetup.SET_FEATURE, 51, 0, 0, null), "feature 51");
        stalls(h.control(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0, 0, null), "remote wake-up not offered");
        for (int i : new int[] {0, 1, 0x100}) { // the high byte of wIndex is the suspend option
            assertThat(h.control(OUT_IF, UsbSetup.SET_FEATURE, StandardUsbDevice.FUNCTION_SUSPEND, i, 0, null).ok()).as("interface %x", i).isTrue();
        }
        stalls(h.control(OUT_IF, UsbSetup.SET_FEATURE, StandardUsbDevice.FUNCTION_SUSPEND, 2, 0, null), "FUNCTION_SUSPEND interface 2");
        stalls(h.control(OUT_IF, UsbSetup.SET_FEATURE, 1, 0, 0, null), "selector 1 to an interface");
    }

    @Test
    void deviceBugsAndCancelsAreContained() {
        configured();
        dev.failData = true;
        UsbTestHost.Result r = host.transfer(1, false, new byte[4]);
        assertThat(r.status()).isEqualTo(UsbPacket.Status.ERROR);
        dev.failData = false;
        assertThat(host.transfer(1, false, new byte[4]).ok()).isTrue();
        UsbTestHost.Pending p = new UsbTestHost.Pending(1, true, null, new byte[1]);
        dev.cancel(p.packet);
        assertThat(p.await().status()).isEqualTo(UsbPacket.Status.CANCELLED);
        // detach: back to Default, function reset
        int before = dev.functionResets();
        dev.detach();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        assertThat(dev.functionResets()).isEqualTo(before + 1);
    }

    @Test
    void stateRoundTripsAndBadStateIsRefused() throws IOException {
        configured();
        assertThat(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x83).ok()).isTrue();
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x01).ok()).isTrue();
        dev.functionState = 0x33;
        byte[] saved = save(dev);
        assertThat(saved).containsExactly(2, 9, 1, 0, 1 << 3, 0, 1 << 1, 0x33); // DataOutputStream: big-endian shorts;

        ProbeDevice copy = ProbeDevice.highSpeed();
        UsbTestHost h = new UsbTestHost(copy);
        copy.loadState(new DataInputStream(new ByteArrayInputStream(saved)), 1);
        assertThat(copy.state()).isEqualTo(UsbDeviceState.CONFIGURED);
        assertThat(copy.address()).isEqualTo(9);
        assertThat(copy.functionState).isEqualTo((byte) 0x33);
        assertThat(h.controlIn(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(3, 0);
        assertThat(h.controlIn(IN_EP, UsbSetup.GET_STATUS, 0, 0x83, 2).data()).containsExactly(1, 0);
        assertThat(h.controlIn(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(1, 0);
        assertThat(h.controlIn(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).containsExactly(0, 0);
        assertThat(save(copy)).containsExactly(saved);

        // refused: each leaves the device as it was
        ProbeDevice fresh = ProbeDevice.highSpeed();
        new UsbTestHost(fresh);
        byte[] before = save(fresh);
        refused(fresh, saved, 0, "state version 0 (this VMM reads 1)");
        refused(fresh, saved, 2, "state version 2");
        refused(fresh, with(saved, 0, 3), 1, "USB device state 3 is outside 0..2");
        refused(fresh, with(saved, 1, 128), 1, "USB address 128 is outside 0..127");
        refused(fresh, with(saved, 1, 0), 1, "address 0 in state CONFIGURED");
        refused(fresh, with(with(saved, 0, 0), 1, 5), 1, "address 5 in state DEFAULT");
        assertThat(save(fresh)).containsExactly(before);
        // Default with address 0, Address with 127: accepted
        fresh.loadState(new DataInputStream(new ByteArrayInputStream(with(with(saved, 0, 1), 1, 127))), 1);
        assertThat(fresh.state()).isEqualTo(UsbDeviceState.ADDRESS);
        assertThat(fresh.address()).isEqualTo(127);
        assertThat(fresh.stateVersion()).isEqualTo(1);
    }

    @Test
    void attachAndResetReturnToDefaultWithHaltsCleared() throws IOException {
        assertThat(dev.speed()).isEqualTo(UsbSpeed.HIGH);
        assertThat(dev.productName()).isEqualTo("probe");
        configured();
        assertThat(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x81).ok()).isTrue();
        dev.reset();
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        // the halts are gone at once (a saved state shows them; a host sees them only after SET_CONFIGURATION, which clears them too)
        assertThat(java.util.Arrays.copyOfRange(save(dev), 0, 7)).containsExactly(0, 0, 0, 0, 0, 0, 0);
        configured();
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).as("a reset clears halts").containsExactly(0, 0);
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).as("and the wake-up enable").containsExactly(1, 0);
        // plugged again (another port): Default, address 0, no halt, no wake-up
        assertThat(out(OUT_EP, UsbSetup.SET_FEATURE, StandardUsbDevice.ENDPOINT_HALT, 0x01).ok()).isTrue();
        assertThat(out(OUT_DEV, UsbSetup.SET_FEATURE, StandardUsbDevice.DEVICE_REMOTE_WAKEUP, 0).ok()).isTrue();
        dev.attach(host.port);
        assertThat(dev.state()).isEqualTo(UsbDeviceState.DEFAULT);
        assertThat(dev.address()).isZero();
        configured();
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(0, 0);
        assertThat(in(IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2).data()).containsExactly(1, 0);
        // a feature request to recipient "other" (3) is a Request Error
        stalls(out(0x03, UsbSetup.SET_FEATURE, 0, 0), "SET_FEATURE to 'other'");
        stalls(out(0x03, UsbSetup.CLEAR_FEATURE, 0, 0), "CLEAR_FEATURE to 'other'");
    }

    @Test
    void theFunctionHaltsAnEndpointOfOneDirection() {
        configured();
        dev.haltByFunction(0x81);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x81, 2).data()).containsExactly(1, 0);
        assertThat(in(IN_EP, UsbSetup.GET_STATUS, 0, 0x01, 2).data()).containsExactly(0, 0);
        stalls(host.transfer(1, true, new byte[4]), "bulk IN halted by the function");
        assertThat(host.transfer(1, false, new byte[4]).ok()).isTrue();
        dev.haltByFunction(0x01);
        stalls(host.transfer(1, false, new byte[4]), "bulk OUT halted by the function");
    }

    @Test
    void portHelpersUseThePortWhilePluggedAndTheHostClockOtherwise() {
        List<Long> polls = new ArrayList<>();
        List<Integer> wakes = new ArrayList<>();
        ProbeDevice d = ProbeDevice.highSpeed();
        d.attach(new dev.vmm.usb.UsbPort() {
            public int number() { return 2; }
            public void wakeup(int endpoint) { wakes.add(endpoint); }
            @Override public long nanoTime() { return 42; }
            @Override public void pollAt(long deadline) { polls.add(deadline); }
        });
        assertThat(d.now()).isEqualTo(42);
        d.askPoll(1000);
        d.wake(3);
        assertThat(polls).containsExactly(1000L);
        assertThat(wakes).containsExactly(3);
        d.detach();
        long before = System.nanoTime();
        long t = d.now();
        assertThat(t - before).as("the host's clock once unplugged").isGreaterThanOrEqualTo(0);
        d.askPoll(2000);
        d.wake(4);
        assertThat(polls).containsExactly(1000L);
        assertThat(wakes).containsExactly(3);
    }

    private static void refused(ProbeDevice d, byte[] state, int version, String message) {
        assertThatThrownBy(() -> d.loadState(new DataInputStream(new ByteArrayInputStream(state)), version))
                .isInstanceOf(UsbStateException.class).hasMessageContaining(message).hasMessageStartingWith("probe: ");
    }

    private static byte[] save(StandardUsbDevice d) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        d.saveState(new DataOutputStream(b));
        return b.toByteArray();
    }

    private static byte[] with(byte[] b, int at, int value) {
        byte[] c = b.clone();
        c[at] = (byte) value;
        return c;
    }
}
