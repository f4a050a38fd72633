package dev.vmm.usb.xhci;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rings a guest makes endless: a Link TRB without Toggle Cycle back to commands or TDs that
 * complete at once. Each doorbell must return (the vCPU is in that MMIO write) after a bounded
 * number of commands or TDs, and the next doorbell goes on where the walk stopped: the controller
 * keeps serving. QEMU 7.2's {@code qemu-xhci} (qtest, with a usb-tablet) runs the same script and
 * the transcripts — events per doorbell, their completion codes, USBSTS's halt and error bits —
 * must match. Without the bound, the model never returned from the first doorbell; the
 * {@code SEPARATE_THREAD} timeouts turn such a hang into a failure.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class XhciEndlessRingTest {
    /** The largest event ring: room for every event of the script, so that none is dropped. */
    static final int EVENTS = 4096;
    static final int STS_BITS = XhciController.STS_HCH | XhciController.STS_HSE | XhciController.STS_HCE;

    /** Port reset, Enable Slot and Address Device for the one device plugged in. */
    static XhciDriver.Device enumerate(XhciDriver d) {
        int port = 0;
        for (int p = 1; p <= 8 && port == 0; p++) if ((d.portsc(p) & RootHubPort.CCS) != 0) port = p;
        assertThat(port).as("a device on some port").isNotZero();
        d.portsc(port, RootHubPort.PP | RootHubPort.PR);
        int portsc = d.awaitPortsc(port, RootHubPort.PRC);
        d.portsc(port, RootHubPort.PP | RootHubPort.CHANGE_BITS);
        int speedId = (portsc >>> RootHubPort.SPEED_SHIFT) & 0xF;
        UsbSpeed speed = null;
        for (UsbSpeed s : UsbSpeed.values()) if (s.xhciSpeedId == speedId) speed = s;
        assertThat(speed).as("port speed id " + speedId).isNotNull();
        XhciDriver.Device dev = d.newDevice();
        assertThat(code(d.address(dev, port, speed, false))).isEqualTo(CompletionCode.SUCCESS);
        return dev;
    }

    /** The events posted since the last call: their count, types and codes, and where they point relative to {@code base}. */
    static String drain(XhciDriver d, long base) {
        List<Trb> events = d.events();
        d.backlog.clear();
        TreeSet<String> kinds = new TreeSet<>();
        for (Trb e : events) kinds.add("type " + e.type() + " cc " + code(e) + " at +" + (e.parameter() - base));
        return events.size() + " events " + kinds;
    }

    /** The script both controllers run; {@code d} over a controller with one HID device plugged in. */
    /**
     * A command ring of one No Op Command and a Link TRB back to it that keeps the cycle state,
     * made the controller's command ring (CRCR, RCS = 1); returns its address.
     */
    static long endlessCommandRing(XhciDriver d) {
        long cmds = d.alloc(32, 64);
        d.write(cmds, 0, 0, Trb.NOOP_COMMAND << 10 | Trb.CYCLE);
        d.write(cmds + 16, cmds, 0, Trb.LINK << 10 | Trb.CYCLE);
        d.reg64(XhciDriver.OP + 0x18, cmds | 1);
        return cmds;
    }

    static List<String> script(XhciDriver d) {
        List<String> out = new ArrayList<>();
        d.eventTrbs = EVENTS;
        d.init(8);
        XhciDriver.Device dev = enumerate(d);
        d.events();
        d.backlog.clear();

        // EP0: SET_CONFIGURATION 1 (no data stage) and a Link TRB back to it that keeps the cycle.
        long ep0 = dev.rings[1].base;
        d.write(ep0, XhciDriver.setup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0), 8, Trb.SETUP << 10 | Trb.IDT | Trb.CYCLE);
        d.write(ep0 + 16, 0, 0, Trb.STATUS << 10 | Trb.IOC | Trb.DATA_IN | Trb.CYCLE);
        d.write(ep0 + 32, ep0, 0, Trb.LINK << 10 | Trb.CYCLE);
        for (int kick = 1; kick <= 2; kick++) {
            d.doorbell(dev, 1);
            out.add("EP0 doorbell " + kick + ": " + drain(d, ep0) + ", USBSTS bits " + (d.usbsts() & STS_BITS));
        }
        out.add("EP0 state " + dev.endpointState(1));

        // The command ring: stop it (CS), then point it at a No Op Command and a Link TRB back to it.
        d.reg(XhciDriver.OP + 0x18, 1 << 1);
        d.reg(XhciDriver.OP + 0x1C, 0);
        out.add("command ring stop: " + drain(d, 0).replaceAll(" at \\+[0-9-]+", ""));
        long cmds = endlessCommandRing(d);
        for (int kick = 1; kick <= 2; kick++) {
            d.reg(XhciDriver.DB, 0);
            out.add("command doorbell " + kick + ": " + drain(d, cmds) + ", USBSTS bits " + (d.usbsts() & STS_BITS));
        }
        return out;
    }

    @Test
    void endlessRingsMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemu;
        qemu = QtestXhciPlatform.transcript("endless", XhciEndlessRingTest::script, "-device", "usb-tablet,bus=xhci.0");
        List<String> ours;
        try (XhciRig rig = new XhciRig()) {
            rig.hc.plug(new UsbTablet(), 0);
            ours = script(rig.driver);
        }
        System.out.println("endless rings: QEMU " + qemu + "\n               ours " + ours);
        assertThat(ours).containsExactlyElementsOf(qemu);
    }

    /** Bulk OUT TDs a device takes at once, on a ring that never ends: at most the bound per doorbell. */
    @Test
    void endlessBulkOutRingIsBoundedPerDoorbell() {
        try (XhciRig rig = new XhciRig()) {
            XhciDriver d = rig.driver;
            d.eventTrbs = EVENTS;
            d.init(8);
            FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.HIGH);
            rig.hc.plug(dev, 0);
            XhciDriver.Device device = enumerate(d);
            assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(2, 2, 512)))).isEqualTo(CompletionCode.SUCCESS);
            d.events();
            d.backlog.clear();
            long ring = device.rings[2].base;
            long buf = d.alloc(4, 64);
            rig.ram.memory.write(buf, new byte[] {1, 2, 3, 4});
            d.write(ring, buf, 4, Trb.NORMAL << 10 | Trb.IOC | Trb.CYCLE);
            d.write(ring + 16, ring, 0, Trb.LINK << 10 | Trb.CYCLE);
            for (int kick = 1; kick <= 2; kick++) {
                d.doorbell(device, 2);
                List<Trb> events = d.events();
                d.backlog.clear();
                assertThat(events).as("doorbell " + kick).hasSize(TransferRunner.MAX_TDS_PER_KICK)
                        .allMatch(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.SUCCESS && e.parameter() == ring);
                assertThat(dev.bulkOut.size()).isEqualTo(4 * kick * TransferRunner.MAX_TDS_PER_KICK);
            }
            assertThat(device.endpointState(2)).isEqualTo(Endpoint.RUNNING);
            assertThat(d.usbsts() & STS_BITS).isZero();
            // The command ring still answers.
            assertThat(code(d.command(Trb.NOOP_COMMAND, 0, 0))).isEqualTo(CompletionCode.SUCCESS);
        }
    }

    /** A transfer ring of No Op TDs only (no USB transaction at all) is bounded the same way. */
    @Test
    void endlessNoOpTransferRingIsBoundedPerDoorbell() {
        try (XhciRig rig = new XhciRig()) {
            XhciDriver d = rig.driver;
            d.eventTrbs = EVENTS;
            d.init(8);
            rig.hc.plug(new FakeUsbDevice(UsbSpeed.HIGH), 0);
            XhciDriver.Device device = enumerate(d);
            assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(2, 2, 512)))).isEqualTo(CompletionCode.SUCCESS);
            d.events();
            d.backlog.clear();
            long ring = device.rings[2].base;
            d.write(ring, 0, 0, Trb.NOOP << 10 | Trb.IOC | Trb.CYCLE);
            d.write(ring + 16, ring, 0, Trb.LINK << 10 | Trb.CYCLE);
            d.doorbell(device, 2);
            assertThat(d.events()).hasSize(TransferRunner.MAX_TDS_PER_KICK)
                    .allMatch(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.SUCCESS && e.parameter() == ring);
        }
    }

    /** The command ring bound, with our own numbers (the QEMU comparison above checks that they agree). */
    @Test
    void endlessCommandRingIsBoundedPerDoorbell() {
        try (XhciRig rig = new XhciRig()) {
            XhciDriver d = rig.driver;
            d.eventTrbs = EVENTS;
            d.init(8);
            long cmds = endlessCommandRing(d);
            for (int kick = 1; kick <= 2; kick++) {
                d.reg(XhciDriver.DB, 0);
                List<Trb> events = d.events();
                d.backlog.clear();
                assertThat(events).as("doorbell " + kick).hasSize(CommandRunner.MAX_COMMANDS_PER_KICK)
                        .allMatch(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT && code(e) == CompletionCode.SUCCESS && e.parameter() == cmds);
            }
            assertThat(d.reg(XhciDriver.OP + 0x18) & 8).as("CRR: the ring still runs").isEqualTo(8);
        }
    }
}
