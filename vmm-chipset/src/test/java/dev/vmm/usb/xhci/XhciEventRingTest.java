package dev.vmm.usb.xhci;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * An event ring of two segments on interrupter 1 (xHCI 1.2 §4.9.4, §5.5.2.3, §6.5): the
 * controller fills segment 0, goes on in segment 1, wraps to segment 0 with its cycle state
 * toggled; a ring the driver does not empty takes events up to the entry before the dequeue
 * pointer, whose last free entry gets the Event Ring Full Error, and the events after it are
 * dropped until the driver moves ERDP; the registers read back with their high halves. QEMU 7.2
 * takes one segment only (ERSTSZ 1), so these are checked against the specification alone.
 */
@Timeout(30)
class XhciEventRingTest {
    static final int IR1 = XhciDriver.IR0 + 0x20;
    static final int SEGMENT_TRBS = 16;

    XhciRig rig;
    XhciDriver d;
    long[] segments = new long[2];
    int segment, index;
    boolean cycle = true;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(8);
        long erst = d.alloc(32, 64);
        for (int i = 0; i < 2; i++) {
            segments[i] = d.alloc(SEGMENT_TRBS * 16L, 64);
            d.mem.writeU64(erst + 16L * i, segments[i]);
            d.mem.writeU32(erst + 16L * i + 8, SEGMENT_TRBS);
        }
        d.reg(IR1 + 0x08, 0xFFFF_0002);                  // ERSTSZ: the low 16 bits
        d.reg64(IR1 + 0x18, segments[0]);
        d.reg64(IR1 + 0x10, erst);
        d.reg(IR1, Interrupter.IMAN_IE);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** {@code n} No Op TDs on a bulk endpoint whose slot targets interrupter 1: n Transfer Events there. */
    void noOpTransfers(XhciDriver.Device dev, int n) {
        for (int i = 0; i < n; i++) dev.rings[2].push(0, 1 << 22, Trb.NOOP << 10 | Trb.IOC);
        d.doorbell(dev, 2);
    }

    /** Reads interrupter 1's events as a driver does, following the segments; ERDP moved only if {@code consume}. */
    List<Trb> read(boolean consume) {
        List<Trb> out = new ArrayList<>();
        while (true) {
            long at = segments[segment] + 16L * index;
            int control = d.mem.readU32(at + 12);
            if (((control & 1) != 0) != cycle) break;
            out.add(new Trb(d.mem.readU64(at), d.mem.readU32(at + 8), control, at));
            if (++index == SEGMENT_TRBS) {
                index = 0;
                if (++segment == 2) {
                    segment = 0;
                    cycle = !cycle;
                }
            }
        }
        if (consume) d.reg64(IR1 + 0x18, (segments[segment] + 16L * index) | Interrupter.ERDP_EHB);
        return out;
    }

    XhciDriver.Device device() {
        rig.hc.plug(new FakeUsbDevice(dev.vmm.usb.UsbSpeed.HIGH), 0);
        XhciDriver.Device dev = XhciEndlessRingTest.enumerate(d);
        assertThat(code(d.configure(dev, new XhciDriver.EndpointSpec(2, 2, 512)))).isEqualTo(CompletionCode.SUCCESS);
        dev.rings[2] = d.new Ring(128);
        // Set TR Dequeue to the bigger ring: Stop Endpoint first.
        assertThat(code(d.command(Trb.STOP_ENDPOINT, 0, dev.slot << 24 | 2 << 16))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(code(d.command(Trb.SET_TR_DEQUEUE, dev.rings[2].pointer(), dev.slot << 24 | 2 << 16))).isEqualTo(CompletionCode.SUCCESS);
        return dev;
    }

    @Test
    void eventsFillSegmentZeroThenOneThenWrapWithTheCycleToggled() {
        assertThat(d.reg(IR1 + 0x08)).isEqualTo(2);
        XhciDriver.Device dev = device();
        List<Trb> seen = new ArrayList<>();
        for (int round = 0; round < 5; round++) {
            noOpTransfers(dev, 10);
            List<Trb> events = read(true);
            assertThat(events).hasSize(10).allMatch(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.SUCCESS);
            seen.addAll(events);
        }
        // 50 events: segment 0 (16), segment 1 (16), segment 0 again (16, cycle 0), 2 in segment 1.
        assertThat(seen.get(15).address()).isEqualTo(segments[0] + 15 * 16);
        assertThat(seen.get(16).address()).isEqualTo(segments[1]);
        assertThat(seen.get(32).address()).isEqualTo(segments[0]);
        assertThat(seen.get(32).control() & 1).isZero();
        assertThat(seen.get(49).address()).isEqualTo(segments[1] + 16);
        assertThat(d.take(e -> e.type() == Trb.TRANSFER_EVENT)).as("nothing on interrupter 0").isNull();
        assertThat(d.reg(IR1) & Interrupter.IMAN_IP).as("interrupter 1 interrupted").isEqualTo(Interrupter.IMAN_IP);
    }

    @Test
    void aFullTwoSegmentRingTakesOneEventRingFullErrorThenDropsUntilErdpMoves() {
        XhciDriver.Device dev = device();
        noOpTransfers(dev, 40);
        List<Trb> events = read(false);
        // 32 entries, the dequeue pointer at segment 0's start: 30 events, the Event Ring Full Error
        // in the 31st entry, and the last entry stays free (a full ring never looks empty).
        assertThat(events).hasSize(2 * SEGMENT_TRBS - 1);
        assertThat(events.subList(0, 30)).allMatch(e -> e.type() == Trb.TRANSFER_EVENT);
        Trb full = events.getLast();
        assertThat(full.type()).isEqualTo(Trb.HOST_CONTROLLER_EVENT);
        assertThat(code(full)).isEqualTo(CompletionCode.EVENT_RING_FULL);
        assertThat(full.address()).isEqualTo(segments[1] + 14 * 16);
        noOpTransfers(dev, 3);
        assertThat(read(false)).as("dropped while full").isEmpty();
        d.reg64(IR1 + 0x18, (segments[1] + 15 * 16) | Interrupter.ERDP_EHB);    // the driver took them all
        noOpTransfers(dev, 3);
        List<Trb> after = read(true);
        assertThat(after).hasSize(3).allMatch(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.SUCCESS);
        assertThat(after.getFirst().address()).isEqualTo(segments[1] + 15 * 16);
        assertThat(after.get(1).address()).isEqualTo(segments[0]);
    }

    /**
     * A one-segment ring of 16 TRBs the driver reads but does not acknowledge (ERDP not written)
     * while 20 commands complete, three times, ERDP moved to the driver's position after each: how
     * many events each round leaves, what the last one is, whether the controller stopped.
     */
    static List<String> fullRingScript(XhciDriver d) {
        List<String> out = new ArrayList<>();
        d.eventTrbs = 16;
        d.init(8);
        d.events();
        d.backlog.clear();
        for (int round = 1; round <= 3; round++) {
            for (int i = 0; i < 20; i++) d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
            d.reg(XhciDriver.DB, 0);
            List<Trb> seen = new ArrayList<>();
            for (Trb t; (t = d.readEventOnly()) != null; ) seen.add(t);
            Trb last = seen.isEmpty() ? null : seen.getLast();
            out.add("round " + round + ": " + seen.size() + " events, "
                    + seen.stream().filter(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT).count() + " completions, last "
                    + (last == null ? "-" : "type " + last.type() + " cc " + code(last))
                    + ", USBSTS bits " + (d.usbsts() & XhciEndlessRingTest.STS_BITS));
            d.erdpToReader();
        }
        return out;
    }

    @Test
    void aFullRingMatchesQemu() throws Exception {
        dev.vmm.chipset.testing.QemuQtest.assumeInstalled();
        List<String> qemu = QtestXhciPlatform.transcript("full event ring", XhciEventRingTest::fullRingScript, "-device", "usb-tablet,bus=xhci.0");
        List<String> ours;
        try (XhciRig other = new XhciRig()) {
            other.hc.plug(new dev.vmm.usb.hid.UsbTablet(), 0);
            ours = fullRingScript(other.driver);
        }
        System.out.println("full event ring: QEMU " + qemu + "\n                 ours " + ours);
        assertThat(ours).containsExactlyElementsOf(qemu);
    }

    @Test
    void registersReadBackWithTheirHighHalves() {
        d.reg(IR1 + 0x1C, 0x12);
        assertThat(d.reg(IR1 + 0x1C)).isEqualTo(0x12);
        d.reg(IR1 + 0x1C, 0);
        assertThat(d.reg(IR1 + 0x18) & ~0xF).isEqualTo((int) segments[0]);
        d.reg(IR1 + 0x18, (int) segments[0] | 0x7);                      // DESI: kept as written
        assertThat(d.reg(IR1 + 0x18) & 0x7).isEqualTo(7);
        int erstLo = d.reg(IR1 + 0x10);
        assertThat(erstLo & 0x3F).isZero();
        assertThat(d.reg(IR1 + 0x14)).isZero();
        d.reg(IR1 + 4, 0xABCD_1234);
        assertThat(d.reg(IR1 + 4)).isEqualTo(0xABCD_1234);
        assertThat(d.reg(IR1 + 0x0C)).as("reserved").isZero();
    }
}
