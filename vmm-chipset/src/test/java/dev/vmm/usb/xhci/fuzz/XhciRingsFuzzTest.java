package dev.vmm.usb.xhci.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.xhci.XhciClock;
import dev.vmm.usb.xhci.XhciController;

import java.lang.foreign.Arena;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * Jazzer target for the xHCI controller as a hostile guest drives it: arbitrary guest RAM (command
 * ring, transfer rings, contexts, event ring segment table), register writes anywhere in BAR0,
 * doorbells for any slot and target, TRBs of any type planted on the rings, devices plugged and
 * unplugged, and device packets completed in any order with any status. RAM has a hole, so rings
 * and buffers can straddle it or point past it. Finding: any exception out of the controller (or a
 * hang, caught by Jazzer's timeout). Without JAZZER_FUZZ the seed corpus under src/test/resources
 * replays as a regression test; {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test
 * -Dtest=XhciRingsFuzzTest} fuzzes.
 */
class XhciRingsFuzzTest {
    static final long RAM0 = 0x8000, RAM1_BASE = 0xA000, RAM1 = 0x2000;   // a hole at 0x8000-0x9fff
    static final long DCBAA = 0x100, CMD_RING = 0x400, ERST = 0x800, EVENT_RING = 0x1000, RINGS = 0x2000;
    static final int OP = 0x40, RT = 0x1000, DB = 0x2000;

    /** A device that answers at once or holds packets for the fuzzer to complete later. */
    static final class HeldDevice implements UsbDevice {
        final UsbSpeed speed;
        final Deque<UsbPacket> held = new ArrayDeque<>();
        boolean holdNext;

        HeldDevice(UsbSpeed speed) { this.speed = speed; }

        @Override public UsbSpeed speed() { return speed; }
        @Override public String productName() { return "fuzz"; }
        @Override public void attach(UsbPort port) { }
        @Override public void detach() { cancelAll(); }
        @Override public void reset() { cancelAll(); }

        @Override public void handle(UsbPacket p) {
            if (holdNext) held.add(p);
            else p.complete(UsbPacket.Status.SUCCESS, p.in() ? p.data().length / 2 : p.data().length);
        }

        @Override public void cancel(UsbPacket p) {
            held.remove(p);
            p.complete(UsbPacket.Status.CANCELLED, 0);
        }

        void cancelAll() {
            while (!held.isEmpty()) held.poll().complete(UsbPacket.Status.CANCELLED, 0);
        }
    }

    static final class StepClock implements XhciClock {
        long now;
        final Deque<Runnable> due = new ArrayDeque<>();

        @Override public long nanoTime() { return now; }
        @Override public void schedule(long delayNanos, Runnable task) { due.add(task); }
    }

    @FuzzTest(maxDuration = "60s")
    void rings(FuzzedDataProvider data) {
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM0)),
                    new GuestRegion(1, RAM1_BASE, arena.allocate(RAM1))));
            memory.write(0, data.consumeBytes(data.consumeInt(0, (int) RAM0)));
            StepClock clock = new StepClock();
            XhciController hc = new XhciController(memory, (v, a, d) -> { }, MsixListener.NONE, clock, data.consumeBoolean());
            hc.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
            HeldDevice[] devices = {new HeldDevice(UsbSpeed.SUPER), new HeldDevice(UsbSpeed.HIGH), new HeldDevice(UsbSpeed.LOW)};
            for (int step = 0; step < 128 && data.remainingBytes() > 0; step++) {
                switch (data.consumeInt(0, 9)) {
                    case 0 -> hc.barWrite(0, data.consumeInt(0, 0x3FFF), pick(data), data.consumeLong());
                    case 1 -> hc.barRead(0, data.consumeInt(0, 0x3FFF), pick(data));
                    case 2 -> hc.barWrite(0, DB + 4L * data.consumeInt(0, 66), 4, data.consumeInt(0, 33) & 0xFFFF_FFFFL);
                    case 3 -> initialise(hc, memory, data);
                    case 4 -> {
                        HeldDevice d = devices[data.consumeInt(0, devices.length - 1)];
                        if (hc.ports().stream().anyMatch(p -> p.device() == d)) hc.unplug(d);
                        else {
                            try {
                                hc.plug(d, data.consumeInt(0, 9));
                            } catch (IllegalArgumentException | IllegalStateException refused) {
                                // a busy or wrong-kind port: the hub's documented refusal
                            }
                        }
                    }
                    case 5 -> {
                        HeldDevice d = devices[data.consumeInt(0, devices.length - 1)];
                        d.holdNext = data.consumeBoolean();
                        UsbPacket p = d.held.poll();
                        if (p != null) {
                            UsbPacket.Status s = UsbPacket.Status.values()[data.consumeInt(0, 4)];
                            p.complete(s, data.consumeInt(0, p.data().length));
                        }
                    }
                    case 6 -> {
                        // A TRB of any type on the command ring or a transfer ring area.
                        long at = (data.consumeBoolean() ? CMD_RING : RINGS + 0x100L * data.consumeInt(0, 15)) + 16L * data.consumeInt(0, 15);
                        memory.writeU64(at, data.consumeBoolean() ? data.consumeLong(0, RAM1_BASE + RAM1) : data.consumeLong());
                        memory.writeU32(at + 8, data.consumeInt());
                        memory.writeU32(at + 12, data.consumeInt(0, 63) << 10 | data.consumeInt(0, 0x3FF) | data.consumeInt(0, 255) << 24
                                | data.consumeInt(0, 31) << 16);
                    }
                    case 7 -> {
                        byte[] b = data.consumeBytes(data.consumeInt(0, 64));
                        memory.write(data.consumeLong(0, RAM0 - b.length), b);
                    }
                    case 8 -> {
                        clock.now += data.consumeLong(0, 10_000_000);
                        while (!clock.due.isEmpty()) clock.due.poll().run();
                    }
                    default -> hc.configWrite(hc.configSpace().findCapability(0x11) + 2, 2, data.consumeBoolean() ? 0x8000 : 0);
                }
            }
        }
    }

    /** What a driver does first (with fuzzed sizes): HCRST, slots, DCBAA, command ring, event ring, Run. */
    private static void initialise(XhciController hc, GuestMemory memory, FuzzedDataProvider data) {
        hc.barWrite(0, OP, 4, 2);
        hc.barWrite(0, OP + 0x38, 4, data.consumeInt(0, 70));
        hc.barWrite(0, OP + 0x30, 8, DCBAA);
        hc.barWrite(0, OP + 0x18, 8, CMD_RING | 1);
        memory.writeU64(ERST, EVENT_RING);
        memory.writeU32(ERST + 8, data.consumeInt(0, 300));
        hc.barWrite(0, RT + 0x28, 4, data.consumeInt(0, 3));
        hc.barWrite(0, RT + 0x38, 8, EVENT_RING);
        hc.barWrite(0, RT + 0x30, 8, ERST);
        hc.barWrite(0, RT + 0x20, 4, 2);
        hc.barWrite(0, OP, 4, 5);
    }

    private static int pick(FuzzedDataProvider data) {
        return new int[] {1, 2, 4, 8}[data.consumeInt(0, 3)];
    }
}
