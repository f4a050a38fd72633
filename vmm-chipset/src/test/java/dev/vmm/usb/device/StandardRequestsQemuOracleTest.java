package dev.vmm.usb.device;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.hid.QemuUhciHost;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbMouse;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The standard requests of USB 2.0 ch. 9 sent in one sequence to QEMU 7.2's usb-tablet, usb-kbd
 * and usb-mouse (through a UHCI controller under qtest, at test time) and to ours: each request's
 * outcome — STALL, or the bytes answered — must be the same, in the Default, Address and Configured
 * states. Only IN requests and requests without a data stage (what the UHCI driver sends).
 *
 * <p>Not in the sequence: the requests where QEMU 7.2 does not do what USB 2.0 ch. 9 asks and ours
 * does (StandardUsbDeviceTest checks ours against the chapter; docs/usb.md lists them). QEMU answers
 * GET_STATUS in the Default state (§9.4.5: unspecified; ours stalls), stalls GET_STATUS for an
 * interface or an endpoint (required in Address and Configured states: ours answers, with the halt
 * bit), stalls SET_FEATURE/CLEAR_FEATURE(ENDPOINT_HALT) for every endpoint, its own interrupt IN
 * endpoint too (§9.4.5 and §9.4.1: interrupt and bulk endpoints support the Halt feature; ours does —
 * until session 12 QemuUhciHost took a STALL on the status stage, where QEMU answers requests without
 * data, for success, and these requests were in the sequence), accepts SET_INTERFACE with an
 * alternate setting the interface lacks and SET_CONFIGURATION with a value no configuration has
 * (§9.4.7, §9.4.10: Request Error), answers a string in any language id and a string index it has
 * no string for, a device descriptor at index 1, and a BOS from a bcdUSB 2.00 device.
 */
@Timeout(120)
class StandardRequestsQemuOracleTest {
    private static final int OUT_DEV = 0x00, IN_DEV = 0x80, OUT_IF = 0x01, IN_IF = 0x81, OUT_EP = 0x02, IN_EP = 0x82;

    @TempDir
    Path dir;

    /** One request: bmRequestType, bRequest, wValue, wIndex, wLength (0: no data stage). */
    record Request(String what, int requestType, int request, int value, int index, int length) {
        @Override
        public String toString() { return what; }
    }

    /** The sequence: every request is sent to the address the device has at that point. */
    static List<Request> sequence() {
        List<Request> r = new ArrayList<>();
        // Default state (address 0)
        r.add(new Request("SET_ADDRESS 2", OUT_DEV, UsbSetup.SET_ADDRESS, 2, 0, 0));
        // Address state
        r.add(new Request("GET_STATUS(device)", IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2));
        r.add(new Request("GET_CONFIGURATION in Address", IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1));
        r.add(new Request("GET_DESCRIPTOR(string 0)", IN_DEV, UsbSetup.GET_DESCRIPTOR, 0x0300, 0, 4));
        r.add(new Request("GET_DESCRIPTOR(configuration, 4 bytes)", IN_DEV, UsbSetup.GET_DESCRIPTOR, 0x0200, 0, 4));
        r.add(new Request("GET_DESCRIPTOR(type 9)", IN_DEV, UsbSetup.GET_DESCRIPTOR, 0x0900, 0, 9));
        r.add(new Request("SET_CONFIGURATION 1", OUT_DEV, UsbSetup.SET_CONFIGURATION, 1, 0, 0));
        // Configured state
        r.add(new Request("GET_CONFIGURATION", IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1));
        r.add(new Request("GET_STATUS(device) configured", IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2));
        r.add(new Request("SET_FEATURE(DEVICE_REMOTE_WAKEUP)", OUT_DEV, UsbSetup.SET_FEATURE, 1, 0, 0));
        r.add(new Request("GET_STATUS(device) wake-up on", IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2));
        r.add(new Request("CLEAR_FEATURE(DEVICE_REMOTE_WAKEUP)", OUT_DEV, UsbSetup.CLEAR_FEATURE, 1, 0, 0));
        r.add(new Request("GET_STATUS(device) wake-up off", IN_DEV, UsbSetup.GET_STATUS, 0, 0, 2));
        r.add(new Request("GET_INTERFACE 0", IN_IF, UsbSetup.GET_INTERFACE, 0, 0, 1));
        r.add(new Request("SET_INTERFACE 0 alternate 0", OUT_IF, UsbSetup.SET_INTERFACE, 0, 0, 0));
        r.add(new Request("GET_INTERFACE 0 again", IN_IF, UsbSetup.GET_INTERFACE, 0, 0, 1));
        r.add(new Request("GET_STATUS(interface 1)", IN_IF, UsbSetup.GET_STATUS, 0, 1, 2));
        r.add(new Request("GET_STATUS(endpoint 82)", IN_EP, UsbSetup.GET_STATUS, 0, 0x82, 2));
        r.add(new Request("GET_INTERFACE 1", IN_IF, UsbSetup.GET_INTERFACE, 0, 1, 1));
        r.add(new Request("GET_DESCRIPTOR(device, 18) configured", IN_DEV, UsbSetup.GET_DESCRIPTOR, 0x0100, 0, 8));
        r.add(new Request("unknown request 0x7f", IN_DEV, 0x7f, 0, 0, 8));
        r.add(new Request("vendor request", 0xc0, 1, 0, 0, 8));
        r.add(new Request("SET_CONFIGURATION 0", OUT_DEV, UsbSetup.SET_CONFIGURATION, 0, 0, 0));
        r.add(new Request("GET_CONFIGURATION unconfigured", IN_DEV, UsbSetup.GET_CONFIGURATION, 0, 0, 1));
        return r;
    }

    @ParameterizedTest
    @ValueSource(strings = {"usb-tablet", "usb-kbd", "usb-mouse"})
    void sameOutcomesAsQemu(String driver) throws Exception {
        QemuQtest.assumeInstalled();
        List<Request> seq = sequence();
        List<String> theirs = new ArrayList<>();
        try (QemuUhciHost h = new QemuUhciHost(dir, driver)) {
            int addr = 0;
            for (Request q : seq) {
                theirs.add(outcome(h.control(addr, q.requestType(), q.request(), q.value(), q.index(), q.length())));
                if (q.request() == UsbSetup.SET_ADDRESS) addr = q.value();
            }
        }
        UsbDevice device = switch (driver) {
            case "usb-tablet" -> new UsbTablet();
            case "usb-mouse" -> new UsbMouse();
            default -> new UsbKeyboard();
        };
        UsbTestHost ours = new UsbTestHost(device);
        List<String> differ = new ArrayList<>();
        for (int i = 0; i < seq.size(); i++) {
            Request q = seq.get(i);
            UsbTestHost.Result r = ours.control(q.requestType(), q.request(), q.value(), q.index(), q.length(), null);
            String mine = r.ok() ? outcome(padded(r.data(), q)) : outcome(null);
            // The device descriptor differs in bMaxPacketSize0 and bcdUSB details: only its outcome is compared.
            if (q.request() == UsbSetup.GET_DESCRIPTOR && q.value() == 0x0100) {
                mine = mine.startsWith("STALL") ? "STALL" : "OK";
                theirs.set(i, theirs.get(i).startsWith("STALL") ? "STALL" : "OK");
            }
            if (!mine.equals(theirs.get(i))) differ.add(q + ": ours " + mine + ", QEMU " + theirs.get(i));
        }
        assertThat(differ).as("requests answered otherwise than QEMU's " + driver).isEmpty();
    }

    /** The UHCI driver reads the whole wLength of buffer; a short answer leaves the rest as it was (zero). */
    private static byte[] padded(byte[] data, Request q) {
        return java.util.Arrays.copyOf(data, q.length());
    }

    private static String outcome(byte[] data) {
        return data == null ? "STALL" : "OK " + HexFormat.of().formatHex(data);
    }
}
