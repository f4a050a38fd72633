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

    private static UsbPacket packet(int ep, boolean in, UsbSetup s, byte[] data, int[] twice) {
        boolean[] done = {false};
        return new UsbPacket(ep, in, s, data, q -> {
            if (done[0]) twice[0]++;
            done[0] = true;
        });
    }
}
