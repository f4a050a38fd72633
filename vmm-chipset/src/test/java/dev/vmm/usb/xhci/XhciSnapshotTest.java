package dev.vmm.usb.xhci;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The controller's own state (what {@link XhciController#saveState} writes besides guest RAM) in
 * this module, with a usb-tablet: a state loaded into a fresh controller over a copy of the RAM
 * saves to the same bytes, reads the same registers and goes on — the interrupt TD the tablet
 * held completes there, commands still run, the event ring continues at its position and cycle.
 * Hostile states (each field that is checked, found in the saved bytes by its value) are refused
 * with a message naming the field, and the controller that refused one keeps its own state. The
 * migration of a whole machine, with usb-storage, is {@code XhciStateTest} in vmm-virtio.
 */
@Timeout(30)
class XhciSnapshotTest {
    static final int TABLET_IN = 3;

    XhciRig source;
    XhciRig target;
    XhciDriver d;
    XhciDriver.Device tablet;
    UsbTablet targetTablet = new UsbTablet();
    int port;
    long td;

    @BeforeEach
    void setUp() {
        source = new XhciRig();
        target = new XhciRig();
        d = source.driver;
        d.init(8);
        port = source.hc.plug(new UsbTablet(), 0);
        target.hc.plug(targetTablet, port);
        tablet = XhciEndlessRingTest.enumerate(d);
        long[] at = d.control(tablet, XhciDriver.setup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0), 0, 0, false);
        assertThat(code(d.await(e -> transferEventFor(e, at[2])))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(code(d.configure(tablet, new XhciDriver.EndpointSpec(TABLET_IN, 7, 8)))).isEqualTo(CompletionCode.SUCCESS);
        d.enableSlot();                                  // a second slot, Enabled only
        d.reg(XhciDriver.IR0 + 4, 4000);                 // IMODI: 1 ms
        long buf = d.alloc(8, 64);
        td = tablet.rings[TABLET_IN].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
        d.doorbell(tablet, TABLET_IN);                   // the tablet holds it: nothing moved yet
        d.events();
        assertThat(d.take(e -> e.type() == Trb.TRANSFER_EVENT)).isNull();
        byte[] ram = new byte[(int) d.allocated()];        // the driver's structures: the rest is zero on both
        source.ram.memory.read(0, ram, 0, ram.length);
        target.ram.memory.write(0, ram);
    }

    @AfterEach
    void tearDown() {
        source.close();
        target.close();
    }

    static byte[] save(XhciController hc) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            hc.saveState(out);
        }
        return bytes.toByteArray();
    }

    static void load(XhciController hc, byte[] state) throws IOException {
        hc.loadState(new DataInputStream(new ByteArrayInputStream(state)), XhciController.STATE_VERSION);
    }

    /** Registers a driver reads: operational, ports, MFINDEX, the interrupters. */
    static String registers(XhciController hc) {
        StringBuilder b = new StringBuilder();
        for (int off = 0x40; off < 0x40 + 0x400 + 8 * 0x10; off += 4) b.append(Long.toHexString(hc.barRead(0, off, 4))).append(' ');
        for (int off = 0x1000; off < 0x1000 + 0x20 + 16 * 0x20; off += 4) b.append(Long.toHexString(hc.barRead(0, off, 4))).append(' ');
        return b.toString();
    }

    @Test
    void aLoadedStateSavesToTheSameBytesReadsTheSameAndGoesOn() throws IOException {
        byte[] state = save(source.hc);
        load(target.hc, state);
        assertThat(save(target.hc)).as("save after load").isEqualTo(state);
        assertThat(registers(target.hc)).isEqualTo(registers(source.hc));

        d.rebind(target.hc, target.ram.memory);
        targetTablet.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x4000));
        targetTablet.sync();
        Trb report = d.await(e -> transferEventFor(e, td));
        assertThat(code(report)).isIn(CompletionCode.SUCCESS, CompletionCode.SHORT_PACKET);
        assertThat(tablet.endpointState(TABLET_IN)).isEqualTo(Endpoint.RUNNING);
        assertThat(code(d.command(Trb.NOOP_COMMAND, 0, 0))).isEqualTo(CompletionCode.SUCCESS);
        // The Enabled slot came along: it can be disabled, and then it is gone.
        assertThat(code(d.command(Trb.DISABLE_SLOT, 0, (tablet.slot + 1) << 24))).isEqualTo(CompletionCode.SUCCESS);
        assertThat(code(d.command(Trb.DISABLE_SLOT, 0, (tablet.slot + 1) << 24))).isEqualTo(CompletionCode.SLOT_NOT_ENABLED);
        // More events than the ring holds from here: the producer position and cycle were carried over.
        for (int i = 0; i < XhciDriver.EVENT_TRBS + 3; i++) assertThat(code(d.command(Trb.NOOP_COMMAND, 0, 0))).isEqualTo(CompletionCode.SUCCESS);
    }

    /** The index of the big-endian {@code value} in {@code state} at or after {@code from}. */
    static int find(byte[] state, long value, int bytes, int from) {
        byte[] v = ByteBuffer.allocate(8).putLong(value).array();
        outer:
        for (int i = from; i + bytes <= state.length; i++) {
            for (int j = 0; j < bytes; j++) if (state[i + j] != v[8 - bytes + j]) continue outer;
            return i;
        }
        throw new AssertionError("0x" + Long.toHexString(value) + " not in the state");
    }

    static byte[] edit(byte[] state, Consumer<ByteBuffer> change) {
        byte[] copy = state.clone();
        change.accept(ByteBuffer.wrap(copy));
        return copy;
    }

    @Test
    void hostileStatesAreRefusedAndTheControllerKeepsItsOwn() throws IOException {
        byte[] good = save(source.hc);
        byte[] fresh = save(target.hc);
        String freshRegisters = registers(target.hc);
        // The fixed head: contexts size (1), USBCMD, USBSTS, DNCTRL (4 each), CRCR, DCBAAP (8 each), MaxSlotsEn (4), MFINDEX (2), command ring (8 + 1 + 1), ports (1).
        int erstba = find(good, d.erst, 8, 46);
        int output = find(good, tablet.output, 8, 46);
        int ring = find(good, tablet.rings[TABLET_IN].base, 8, output);
        int segment = find(good, d.eventRing, 8, erstba + 16);
        Object[][] cases = {
                {edit(good, b -> b.put(0, (byte) 64)), "64-byte contexts"},
                {edit(good, b -> b.putInt(1, b.getInt(1) | 1 << 4)), "impossible operational registers"},
                {edit(good, b -> b.putInt(1, b.getInt(1) & ~XhciController.CMD_RS)), "impossible operational registers"},
                {edit(good, b -> b.putInt(5, b.getInt(5) | 1 << 5)), "impossible operational registers"},
                {edit(good, b -> b.putInt(9, 0x1_0000)), "impossible operational registers"},
                {edit(good, b -> b.putLong(21, b.getLong(21) | 0x20)), "impossible operational registers"},
                {edit(good, b -> b.putInt(29, 0x100)), "MaxSlotsEn 256"},
                {edit(good, b -> b.putShort(33, (short) 0x4000)), "MFINDEX 16384"},
                {edit(good, b -> b.putLong(35, b.getLong(35) | 8)), "command ring"},
                {edit(good, b -> b.putLong(35, XhciRig.RAM_SIZE)), "command ring"},
                {edit(good, b -> b.put(45, (byte) 7)), "root hub ports 7"},
                {edit(good, b -> b.putLong(erstba, b.getLong(erstba) | 0x20)), "not 64-byte aligned"},
                {edit(good, b -> b.putLong(segment, XhciRig.RAM_SIZE)), "event ring segment 0"},
                {edit(good, b -> b.putLong(output, b.getLong(output) | 0x20)), "output device context"},
                {edit(good, b -> b.putLong(output, XhciRig.RAM_SIZE)), "output device context"},
                {edit(good, b -> b.put(output - 2, (byte) 4)), "state 4"},
                {edit(good, b -> b.put(output - 1, (byte) 9)), "root hub port 9"},
                {edit(good, b -> b.putShort(output + 8, (short) 1024)), "interrupter target 1024"},
                {edit(good, b -> b.putLong(ring, b.getLong(ring) | 8)), "transfer ring"},
                {edit(good, b -> b.put(ring - 3, (byte) 4)), "endpoint type 4 at DCI " + TABLET_IN},
                {edit(good, b -> b.put(ring + 9, (byte) 6)), "endpoint " + TABLET_IN + " state 6"},
        };
        for (Object[] c : cases) {
            assertThatThrownBy(() -> load(target.hc, (byte[]) c[0])).as((String) c[1])
                    .isInstanceOf(UsbStateException.class).hasMessageContaining((String) c[1]);
        }
        assertThatThrownBy(() -> target.hc.loadState(new DataInputStream(new ByteArrayInputStream(good)), XhciController.STATE_VERSION + 1))
                .isInstanceOf(UsbStateException.class).hasMessageContaining("state version");
        assertThatThrownBy(() -> load(target.hc, java.util.Arrays.copyOf(good, good.length - 1))).isInstanceOf(EOFException.class);
        assertThat(save(target.hc)).as("nothing of a refused state was taken").isEqualTo(fresh);
        assertThat(registers(target.hc)).isEqualTo(freshRegisters);
        load(target.hc, good);
        assertThat(save(target.hc)).isEqualTo(good);
    }
}
