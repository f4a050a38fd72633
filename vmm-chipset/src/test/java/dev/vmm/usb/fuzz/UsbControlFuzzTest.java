package dev.vmm.usb.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.input.InputEvent;
import dev.vmm.input.KeyCodes;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.hid.HidDevice;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;

import java.util.ArrayList;
import java.util.List;

/**
 * Jazzer target for the standard and HID class requests as a hostile host sends them, mixed with
 * interrupt transfers, input events, resets. Findings: an exception out of a device, a control
 * transfer not completed at once or answering more than wLength, a packet completed twice, a packet
 * still pending after detach, the report queue growing past its bound. Without JAZZER_FUZZ the
 * seed corpus replays; {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=UsbControlFuzzTest} fuzzes.
 */
class UsbControlFuzzTest {
    @FuzzTest(maxDuration = "60s")
    void control(FuzzedDataProvider in) {
        HidDevice dev = in.consumeBoolean() ? new UsbTablet() : new UsbKeyboard();
        dev.attach(new dev.vmm.usb.UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
        });
        List<UsbPacket> all = new ArrayList<>();
        int[] twice = {0};
        for (int step = 0; step < 64 && in.remainingBytes() > 0; step++) {
            switch (in.consumeInt(0, 5)) {
                case 0, 1 -> {
                    // Requests near the valid ones are the interesting ones: bias the fields.
                    int rt = in.consumeBoolean() ? in.pickValue(new int[] {0x00, 0x80, 0x01, 0x81, 0x02, 0x82, 0x21, 0xa1}) : in.consumeInt(0, 255);
                    int req = in.consumeBoolean() ? in.consumeInt(0, 12) : in.consumeInt(0, 255);
                    int value = in.consumeBoolean() ? in.consumeInt(0, 0x2300) : in.consumeInt(0, 0xffff);
                    int index = in.consumeBoolean() ? in.consumeInt(0, 0x0409) : in.consumeInt(0, 0xffff);
                    int length = in.consumeInt(0, 1024);
                    UsbSetup s = new UsbSetup(rt, req, value, index, length);
                    UsbPacket p = packet(0, s.in(), s, s.in() ? new byte[length] : in.consumeBytes(length), twice);
                    dev.handle(p);
                    all.add(p);
                    if (!p.completed()) throw new IllegalStateException("control transfer pending: " + s);
                    if (p.actualLength() > length) throw new IllegalStateException("more than wLength: " + p);
                }
                case 2 -> {
                    UsbPacket p = packet(in.consumeInt(1, 15), in.consumeBoolean(), null, new byte[in.consumeInt(0, 64)], twice);
                    dev.handle(p);
                    all.add(p);
                }
                case 3 -> {
                    int kind = in.consumeInt(0, 2);
                    dev.event(switch (kind) {
                        case 0 -> new InputEvent.Move(true, in.consumeBoolean() ? InputEvent.Axis.X : InputEvent.Axis.Y, in.consumeLong());
                        case 1 -> new InputEvent.Btn(in.pickValue(InputEvent.Button.values()), in.consumeBoolean());
                        default -> new InputEvent.Key(in.pickValue(KeyCodes.QCODES), in.consumeBoolean());
                    });
                    dev.sync();
                }
                case 4 -> dev.reset();
                default -> {
                    if (!all.isEmpty()) dev.cancel(all.get(in.consumeInt(0, all.size() - 1)));
                }
            }
            if (dev.queuedReports() > 16) throw new IllegalStateException("report queue past its bound");
        }
        dev.detach();
        for (UsbPacket p : all) if (!p.completed()) throw new IllegalStateException("pending after detach: " + p);
        if (twice[0] > 0) throw new IllegalStateException("a packet completed twice");
    }

    /**
     * SET_IDLE / GET_IDLE (HID 1.11 §7.2.4) with odd values, a clock and polls: the input is records
     * of four bytes {@code op a b c} (byte 0 picks tablet or keyboard), so seeds are written by hand.
     * Ops: SET_IDLE(wValue = a·256 + b, wIndex c); SET_IDLE with a data stage of c bytes or IN
     * direction (must stall); GET_IDLE(report id a, wLength b); an interrupt IN; the clock moved by
     * (a·65536 + b·256 + c) µs then the device polled (as the controller does at a deadline it asked
     * for); an input event or a reset. Findings: an exception, a control transfer pending or longer
     * than wLength, GET_IDLE answering another rate than was set, an idle report from a poll with rate 0, a packet completed twice or pending after detach.
     */
    @FuzzTest(maxDuration = "60s")
    void idle(byte[] data) {
        if (data.length == 0) return;
        HidDevice dev = (data[0] & 1) == 0 ? new UsbTablet() : new UsbKeyboard();
        long[] now = {1_000_000_000L};
        dev.attach(new dev.vmm.usb.UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
            @Override public long nanoTime() { return now[0]; }
        });
        int[] twice = {0};
        List<UsbPacket> all = new ArrayList<>();
        control(dev, new UsbSetup(0, UsbSetup.SET_ADDRESS, 5, 0, 0), twice, all);
        control(dev, new UsbSetup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0), twice, all);
        int[] rates = new int[256];
        List<UsbPacket> waiting = new ArrayList<>();
        for (int i = 1; i + 3 < data.length && i < 4 * 256; i += 4) {
            int op = (data[i] & 0xff) % 6, a = data[i + 1] & 0xff, b = data[i + 2] & 0xff, c = data[i + 3] & 0xff;
            switch (op) {
                case 0 -> {
                    UsbPacket p = control(dev, new UsbSetup(0x21, 0x0a, a << 8 | b, c, 0), twice, all);
                    if (p.status() == UsbPacket.Status.SUCCESS) {
                        if (b == 0) java.util.Arrays.fill(rates, a);
                        else rates[b] = a;
                    }
                }
                case 1 -> {
                    UsbSetup s = (c & 1) == 0 ? new UsbSetup(0x21, 0x0a, a << 8 | b, 0, c | 1) : new UsbSetup(0xa1, 0x0a, a << 8 | b, 0, c);
                    UsbPacket p = control(dev, s, twice, all);
                    if (p.status() == UsbPacket.Status.SUCCESS) throw new IllegalStateException("SET_IDLE with a data stage or IN accepted: " + s);
                }
                case 2 -> {
                    UsbPacket p = control(dev, new UsbSetup(0xa1, 0x02, a, 0, b), twice, all);
                    if (p.status() == UsbPacket.Status.SUCCESS && b > 0 && (p.data()[0] & 0xff) != rates[a]) {
                        throw new IllegalStateException("GET_IDLE(" + a + ") = " + (p.data()[0] & 0xff) + ", set " + rates[a]);
                    }
                }
                case 3 -> {
                    UsbPacket p = packet(1, true, null, new byte[8], twice);
                    dev.handle(p);
                    all.add(p);
                    if (!p.completed()) waiting.add(p);
                }
                case 4 -> {
                    now[0] += ((long) a << 16 | b << 8 | c) * 1000L;
                    int before = completedCount(waiting);
                    dev.poll(now[0]);
                    if (rates[0] == 0 && completedCount(waiting) > before) { // a poll sends idle reports only
                        throw new IllegalStateException("an idle report with idle rate 0");
                    }
                }
                default -> {
                    if ((a & 1) == 0) {
                        dev.event(new InputEvent.Btn(InputEvent.Button.LEFT, (b & 1) != 0));
                        dev.sync();
                    } else {
                        dev.reset();
                        control(dev, new UsbSetup(0, UsbSetup.SET_ADDRESS, 5, 0, 0), twice, all);
                        control(dev, new UsbSetup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0), twice, all);
                        java.util.Arrays.fill(rates, 0);
                    }
                }
            }
            waiting.removeIf(UsbPacket::completed);
        }
        dev.detach();
        for (UsbPacket p : all) if (!p.completed()) throw new IllegalStateException("pending after detach: " + p);
        for (UsbPacket p : waiting) if (!p.completed()) throw new IllegalStateException("pending after detach: " + p);
        if (twice[0] > 0) throw new IllegalStateException("a packet completed twice");
    }

    private static int completedCount(List<UsbPacket> packets) {
        int n = 0;
        for (UsbPacket p : packets) if (p.completed()) n++;
        return n;
    }

    private static UsbPacket control(HidDevice dev, UsbSetup s, int[] twice, List<UsbPacket> all) {
        UsbPacket p = packet(0, s.in(), s, new byte[s.length()], twice);
        dev.handle(p);
        all.add(p);
        if (!p.completed()) throw new IllegalStateException("control transfer pending: " + s);
        if (p.actualLength() > s.length()) throw new IllegalStateException("more than wLength: " + p);
        return p;
    }

    private static UsbPacket packet(int ep, boolean in, UsbSetup s, byte[] data, int[] twice) {
        boolean[] done = {false};
        return new UsbPacket(ep, in, s, data, q -> {
            if (done[0]) twice[0]++;
            done[0] = true;
        });
    }
}
