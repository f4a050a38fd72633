package dev.vmm.usb.xhci;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.input.InputEvent;
import dev.vmm.input.KeyCodes;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.usb.hid.UsbKeyboard;
import dev.vmm.usb.hid.UsbTablet;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Jazzer target for the xHCI state reader (a snapshot's or an incoming migration's {@code usb}
 * section), with the tablet's and keyboard's state inside it. The starting point is a real state:
 * a driver enumerated both devices, the tablet holds an interrupt TD, the keyboard has reports
 * queued. The fuzzer then overwrites bytes, plants 64-bit values (pointers just outside RAM, into
 * the hole, all ones), truncates, or picks the version; the result is loaded into a fresh
 * controller with the same devices. It must load or be refused with an IOException (the
 * documented UsbStateException, or EOF); afterwards the controller is driven — doorbells on every
 * slot and endpoint, port and runtime register reads, input events, HCRST — and must not throw
 * either. RAM has a hole (0x40000-0x4ffff) so "inside RAM" checks meet a real gap.
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=XhciStateFuzzTest} fuzzes.
 */
class XhciStateFuzzTest {
    static final long RAM0 = 0x40000, RAM1_BASE = 0x50000, RAM1 = 0x4000;
    static final long[] PLANTED = {RAM0, RAM0 - 0x10, RAM1_BASE + RAM1, RAM1_BASE - 0x40, -1L, 0, 0x7FFF_FFFF_FFFF_FFF0L, 1};

    /** A state saved from a real run, and the RAM it goes with. */
    private record Saved(byte[] state, byte[] ram0, byte[] ram1) { }

    private static Saved saved;

    private static synchronized Saved saved() {
        if (saved != null) return saved;
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = memory(arena);
            Machine m = new Machine(memory);
            XhciDriver d = new XhciDriver(m.hc, memory, 0x10000, RAM0, 32);
            d.init(8);
            XhciDriver.Device tablet = d.newDevice();
            d.address(tablet, m.tabletPort, m.tablet.speed(), false);
            d.control(tablet, XhciDriver.setup(0, 9, 1, 0, 0), 0, 0, false);
            d.configure(tablet, new XhciDriver.EndpointSpec(3, 7, 8));
            XhciDriver.Device kbd = d.newDevice();
            d.address(kbd, m.kbdPort, m.kbd.speed(), false);
            d.control(kbd, XhciDriver.setup(0, 9, 1, 0, 0), 0, 0, false);
            d.configure(kbd, new XhciDriver.EndpointSpec(3, 7, 8));
            tablet.rings[3].push(d.alloc(8, 64), 8, Trb.NORMAL << 10 | Trb.IOC);
            d.doorbell(tablet, 3);
            for (String key : List.of("a", "shift", "b")) {
                m.kbd.event(new InputEvent.Key(key, true));
                m.kbd.sync();
            }
            d.events();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                m.hc.saveState(out);
            }
            byte[] r0 = new byte[(int) RAM0], r1 = new byte[(int) RAM1];
            memory.read(0, r0, 0, r0.length);
            memory.read(RAM1_BASE, r1, 0, r1.length);
            saved = new Saved(bytes.toByteArray(), r0, r1);
            return saved;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static GuestMemory memory(Arena arena) {
        return new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM0)), new GuestRegion(1, RAM1_BASE, arena.allocate(RAM1))));
    }

    /** A controller with a tablet (USB 2 port 5) and a keyboard (port 6), as the command line would build it. */
    private static final class Machine {
        final XhciController hc;
        final UsbTablet tablet = new UsbTablet();
        final UsbKeyboard kbd = new UsbKeyboard();
        final int tabletPort, kbdPort;

        Machine(GuestMemory memory) {
            hc = new XhciController(memory, (v, a, d) -> { }, MsixListener.NONE, new XhciRingsFuzzTest.StepClock(), false);
            hc.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
            tabletPort = hc.plug(tablet, 0);
            kbdPort = hc.plug(kbd, 0);
        }
    }

    @FuzzTest(maxDuration = "60s")
    void state(FuzzedDataProvider data) {
        Saved s = saved();
        byte[] state = s.state().clone();
        ByteBuffer b = ByteBuffer.wrap(state);
        int edits = data.consumeInt(0, 12);
        for (int i = 0; i < edits; i++) {
            int at = data.consumeInt(0, state.length - 1);
            if (data.consumeBoolean() && at + 8 <= state.length) {
                b.putLong(at, data.consumeBoolean() ? PLANTED[data.consumeInt(0, PLANTED.length - 1)] : data.consumeLong());
            } else {
                state[at] = data.consumeByte();
            }
        }
        if (data.consumeBoolean()) state = java.util.Arrays.copyOf(state, data.consumeInt(0, state.length));
        int version = data.consumeBoolean() ? XhciController.STATE_VERSION : data.consumeInt(0, 3);
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory memory = memory(arena);
            memory.write(0, s.ram0(), 0, s.ram0().length);
            memory.write(RAM1_BASE, s.ram1(), 0, s.ram1().length);
            Machine m = new Machine(memory);
            try {
                m.hc.loadState(new DataInputStream(new ByteArrayInputStream(state)), version);
            } catch (IOException refused) {
                // the documented outcome of a bad state
            }
            // Whatever was loaded, the controller keeps working.
            for (int slot = 0; slot <= 3; slot++) {
                for (int target = 0; target <= 32; target += data.consumeBoolean() ? 1 : 4) m.hc.barWrite(0, 0x2000 + 4L * slot, 4, target);
            }
            for (int port = 0; port < 8; port++) m.hc.barRead(0, 0x440 + 0x10L * port, 4);
            m.hc.barRead(0, 0x1000, 4);
            m.tablet.event(new InputEvent.Move(true, InputEvent.Axis.X, 100));
            m.tablet.sync();
            m.kbd.event(new InputEvent.Key(KeyCodes.fromNumber(0x1e), true));
            m.kbd.sync();
            m.hc.barWrite(0, 0x40, 4, XhciController.CMD_HCRST);
        }
    }
}
