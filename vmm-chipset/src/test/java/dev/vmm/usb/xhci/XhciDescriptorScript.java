package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.residual;
import static dev.vmm.usb.xhci.XhciDriver.setup;

/**
 * What a guest's xHCI driver sees of the one device on a controller, as a transcript of lines:
 * the port it sits on (protocol, speed, enabled, link state) before and after a port reset,
 * Address Device, then the standard requests an enumeration makes — device, configuration (with
 * every interface, endpoint and SuperSpeed companion), BOS, device qualifier, other-speed
 * configuration, the string descriptors, status, SET/GET_CONFIGURATION — each with its
 * completion code and the bytes. The same script runs over our model and over QEMU
 * ({@link QtestXhciPlatform}), so the transcripts can be compared line by line. String
 * descriptors are kept apart ({@link Transcript#strings}): their text is each VMM's identity.
 */
final class XhciDescriptorScript {
    private XhciDescriptorScript() {}

    record Transcript(List<String> lines, List<String> strings) { }

    private static final int GET_STATUS = 0, SET_CONFIGURATION = 9, GET_CONFIGURATION = 8, GET_DESCRIPTOR = 6;

    /** One control IN answer: completion code and bytes (empty after a STALL). */
    record Answer(int code, byte[] data) {
        @Override public String toString() { return "cc " + code + " " + HexFormat.of().formatHex(data); }
    }

    static Transcript run(XhciDriver d, List<String> classRequests) {
        List<String> out = new ArrayList<>();
        d.init(8);
        int port = 0;
        for (int p = 1; p <= 8 && port == 0; p++) if ((d.portsc(p) & RootHubPort.CCS) != 0) port = p;
        if (port == 0) throw new AssertionError("no device on any port");
        out.add("port " + (port <= 4 ? "usb3" : "usb2") + " before reset: " + portFields(d.portsc(port)));
        d.portsc(port, RootHubPort.PP | RootHubPort.PR);
        int portsc = d.awaitPortsc(port, RootHubPort.PRC);   // port reset complete
        out.add("port after reset: " + portFields(portsc));
        d.portsc(port, RootHubPort.PP | RootHubPort.CHANGE_BITS);
        int speedId = (portsc >>> RootHubPort.SPEED_SHIFT) & 0xF;
        UsbSpeed speed = null;
        for (UsbSpeed s : UsbSpeed.values()) if (s.xhciSpeedId == speedId) speed = s;
        if (speed == null) throw new AssertionError("port speed id " + speedId);

        XhciDriver.Device dev = d.newDevice();
        out.add("address device cc " + code(d.address(dev, port, speed, false)) + " slot state " + dev.slotState());

        Answer device = in(d, dev, 0x80, GET_DESCRIPTOR, 0x0100, 0, 18);
        out.add("device " + device);
        out.add("configuration " + whole(d, dev, 0x0200, 9, 2));
        out.add("BOS " + whole(d, dev, 0x0F00, 5, 2));
        out.add("device qualifier " + in(d, dev, 0x80, GET_DESCRIPTOR, 0x0600, 0, 10));
        out.add("other speed configuration " + whole(d, dev, 0x0700, 9, 2));
        Answer langs = whole(d, dev, 0x0300, 2, -1);
        out.add("string 0 " + langs);
        List<String> strings = new ArrayList<>();
        if (device.data().length == 18) {
            for (int at : new int[] {14, 15, 16}) { // iManufacturer, iProduct, iSerialNumber
                int index = device.data()[at] & 0xff;
                if (index == 0) continue;
                Answer s = whole(d, dev, 0x0300 | index, 2, -1, 0x0409);
                out.add("string " + index + " cc " + s.code() + " type " + (s.data().length > 1 ? s.data()[1] : -1));
                strings.add(index + ": " + utf16(s.data()));
            }
        }
        out.add("status " + in(d, dev, 0x80, GET_STATUS, 0, 0, 2));
        out.add("set configuration cc " + noData(d, dev, 0x00, SET_CONFIGURATION, 1, 0));
        out.add("configuration value " + in(d, dev, 0x80, GET_CONFIGURATION, 0, 0, 1));
        for (String r : classRequests) {
            String[] f = r.split(" "); // requestType request value index length, hex
            Answer a = in(d, dev, Integer.parseInt(f[0], 16), Integer.parseInt(f[1], 16), Integer.parseInt(f[2], 16),
                    Integer.parseInt(f[3], 16), Integer.parseInt(f[4], 16));
            out.add("request " + r + " " + a);
        }
        return new Transcript(out, strings);
    }

    private static String portFields(int portsc) {
        return "CCS " + (portsc & RootHubPort.CCS) + " PED " + ((portsc & RootHubPort.PED) >>> 1)
                + " PLS " + ((portsc & RootHubPort.PLS_MASK) >>> RootHubPort.PLS_SHIFT)
                + " speed " + ((portsc >>> RootHubPort.SPEED_SHIFT) & 0xF) + " PP " + ((portsc & RootHubPort.PP) >>> 9);
    }

    private static String utf16(byte[] s) {
        StringBuilder b = new StringBuilder();
        for (int i = 2; i + 1 < s.length; i += 2) b.append((char) ((s[i] & 0xff) | (s[i + 1] & 0xff) << 8));
        return b.toString();
    }

    /** A descriptor read twice, as drivers do: its head, then the length the head gives (at {@code lengthAt}; -1: bLength). */
    private static Answer whole(XhciDriver d, XhciDriver.Device dev, int value, int head, int lengthAt) {
        return whole(d, dev, value, head, lengthAt, 0);
    }

    private static Answer whole(XhciDriver d, XhciDriver.Device dev, int value, int head, int lengthAt, int langId) {
        Answer h = in(d, dev, 0x80, GET_DESCRIPTOR, value, langId, head);
        if (h.code() != CompletionCode.SUCCESS || h.data().length < head) return h;
        int total = lengthAt < 0 ? h.data()[0] & 0xff : (h.data()[lengthAt] & 0xff) | (h.data()[lengthAt + 1] & 0xff) << 8;
        return in(d, dev, 0x80, GET_DESCRIPTOR, value, langId, total);
    }

    /**
     * A control IN transfer of {@code length} bytes. Code SUCCESS, or SHORT_PACKET with the bytes
     * that came, or the error (STALL: the endpoint is recovered with Reset Endpoint and Set TR
     * Dequeue Pointer, as a driver does).
     */
    static Answer in(XhciDriver d, XhciDriver.Device dev, int requestType, int request, int value, int index, int length) {
        long buf = d.alloc(Math.max(length, 8), 64);
        long[] at = d.control(dev, setup(requestType, request, value, index, length), buf, length, true);
        Trb last = d.await(e -> e.type() == Trb.TRANSFER_EVENT && (e.parameter() == at[2]
                || code(e) != CompletionCode.SUCCESS && code(e) != CompletionCode.SHORT_PACKET && (e.parameter() == at[0] || e.parameter() == at[1])));
        if (code(last) != CompletionCode.SUCCESS) {
            recover(d, dev);
            return new Answer(code(last), new byte[0]);
        }
        Trb shortData = d.take(e -> e.type() == Trb.TRANSFER_EVENT && e.parameter() == at[1]);
        int n = shortData != null && code(shortData) == CompletionCode.SHORT_PACKET ? length - residual(shortData) : length;
        return new Answer(shortData != null ? code(shortData) : CompletionCode.SUCCESS, d.read(buf, n));
    }

    static int noData(XhciDriver d, XhciDriver.Device dev, int requestType, int request, int value, int index) {
        long[] at = d.control(dev, setup(requestType, request, value, index, 0), 0, 0, false);
        Trb e = d.await(t -> t.type() == Trb.TRANSFER_EVENT && (t.parameter() == at[2] || t.parameter() == at[0]));
        if (code(e) != CompletionCode.SUCCESS) recover(d, dev);
        return code(e);
    }

    /** A halted EP0: Reset Endpoint, then its dequeue pointer to where the driver enqueues next. */
    private static void recover(XhciDriver d, XhciDriver.Device dev) {
        d.command(Trb.RESET_ENDPOINT, 0, dev.slot << 24 | 1 << 16);
        XhciDriver.Ring r = dev.rings[1];
        d.command(Trb.SET_TR_DEQUEUE, (r.base + r.enqueue * 16L) | (r.cycle ? 1 : 0), dev.slot << 24 | 1 << 16);
    }
}
