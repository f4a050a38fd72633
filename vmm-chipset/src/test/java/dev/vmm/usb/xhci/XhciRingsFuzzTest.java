package dev.vmm.usb.xhci;

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

import java.lang.foreign.Arena;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;

/**
 * Jazzer target for the xHCI controller as a hostile guest drives it: arbitrary guest RAM, register
 * writes anywhere in BAR0, doorbells for any slot and target, TRBs of any type and flags on the
 * command ring and on the transfer rings of an enumerated device (a well-formed bring-up by
 * {@link XhciDriver} first, when the input asks for it, so that fuzzing starts deep), devices
 * plugged and unplugged, packets completed in any order with any status, the clock moved. RAM has
 * a hole, so rings and buffers can straddle it or point past it. Finding: any exception out of the
 * controller (or a hang, caught by Jazzer's timeout). Without JAZZER_FUZZ the seed corpus under
 * src/test/resources replays as a regression test; {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am
 * test -Dtest=XhciRingsFuzzTest} fuzzes.
 */
class XhciRingsFuzzTest {
    static final long RAM0 = 0x40000, RAM1_BASE = 0x50000, RAM1 = 0x4000;   // a hole at 0x40000-0x4ffff
    static final long RAW_AREA = 0x8000;                                       // fuzzed bytes; the driver allocates from 0x10000
    static final int DB = 0x2000;
    static final int[] DCIS = {1, 2, 5, 7};

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
            memory.write(0, data.consumeBytes(data.consumeInt(0, (int) RAW_AREA)));
            StepClock clock = new StepClock();
            boolean contexts64 = data.consumeBoolean();
            XhciController hc = new XhciController(memory, (v, a, d) -> { }, MsixListener.NONE, clock, contexts64);
            hc.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
            HeldDevice[] devices = {new HeldDevice(UsbSpeed.SUPER), new HeldDevice(UsbSpeed.HIGH), new HeldDevice(UsbSpeed.LOW)};
            XhciDriver driver = new XhciDriver(hc, memory, 0x10000, RAM0, contexts64 ? 64 : 32);
            XhciDriver.Device device = data.consumeBoolean() ? bringUp(driver, devices[0]) : null;
            int inits = 0;
            for (int step = 0; step < 128 && data.remainingBytes() > 0; step++) {
                switch (data.consumeInt(0, 10)) {
                    case 0 -> hc.barWrite(0, data.consumeInt(0, 0x3FFF), pick(data), data.consumeLong());
                    case 1 -> hc.barRead(0, data.consumeInt(0, 0x3FFF), pick(data));
                    case 2 -> hc.barWrite(0, DB + 4L * data.consumeInt(0, 66), 4, data.consumeInt(0, 33) & 0xFFFF_FFFFL);
                    case 3 -> {
                        // A driver (re)start; each allocates rings, so a few per input.
                        if (inits++ < 8) {
                            device = null;
                            driver.init(data.consumeInt(0, 70));
                        }
                    }
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
                        if (p != null) p.complete(UsbPacket.Status.values()[data.consumeInt(0, 4)], data.consumeInt(0, p.data().length));
                    }
                    case 6 -> {
                        // A TRB of any type and flags on the command ring or one of the device's transfer rings.
                        int dci = DCIS[data.consumeInt(0, DCIS.length - 1)];
                        XhciDriver.Ring ring = device != null && data.consumeBoolean() ? device.rings[dci] : driver.commands;
                        if (ring == null) break;
                        long parameter = data.consumeBoolean() ? data.consumeLong(0, RAM1_BASE + RAM1) : data.consumeLong();
                        int control = data.consumeInt(0, 63) << 10 | data.consumeInt(0, 0x3FF) | data.consumeInt(0, 255) << 24 | data.consumeInt(0, 31) << 16;
                        ring.push(parameter, data.consumeInt(), control);
                        if (data.consumeBoolean()) hc.barWrite(0, DB + (ring == driver.commands ? 0 : 4L * device.slot), 4, ring == driver.commands ? 0 : dci);
                    }
                    case 7 -> {
                        byte[] b = data.consumeBytes(data.consumeInt(0, 64));
                        memory.write(data.consumeLong(0, RAM0 - b.length), b);
                    }
                    case 8 -> {
                        clock.now += data.consumeLong(0, 10_000_000);
                        while (!clock.due.isEmpty()) clock.due.poll().run();
                    }
                    case 9 -> hc.configWrite(hc.configSpace().findCapability(0x11) + 2, 2, data.consumeBoolean() ? 0x8000 : 0);
                    default -> {
                        if (driver.commands != null) driver.events();
                    }
                }
            }
        }
    }

    /** A well-formed start: controller running, a SuperSpeed device addressed with bulk OUT/IN and interrupt IN endpoints. */
    private static XhciDriver.Device bringUp(XhciDriver driver, HeldDevice dev) {
        driver.init(8);
        int port = driver.hc.plug(dev, 0);
        XhciDriver.Device device = driver.newDevice();
        driver.address(device, port, UsbSpeed.SUPER, false);
        driver.configure(device, new XhciDriver.EndpointSpec(2, 2, 1024), new XhciDriver.EndpointSpec(5, 6, 1024),
                new XhciDriver.EndpointSpec(7, 7, 8));
        driver.backlog.clear();
        return device;
    }

    private static int pick(FuzzedDataProvider data) {
        return new int[] {1, 2, 4, 8}[data.consumeInt(0, 3)];
    }
}
