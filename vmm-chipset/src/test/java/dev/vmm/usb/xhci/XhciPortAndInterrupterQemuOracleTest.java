package dev.vmm.usb.xhci;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.usb.hid.UsbTablet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The run-time face of interrupter 0 and of a root hub port, on QEMU 7.2's {@code qemu-xhci}
 * (qtest, usb-tablet) and on our model, by one script over {@link XhciDriver}: USBSTS.EINT,
 * IMAN.IP and ERDP.EHB after an event, each one's write-1-to-clear, with IMAN.IE off, and IMOD;
 * then PORTSC through connect, its change bits' write-1-to-clear, port reset, a suspend (U3) and
 * resume by Link State Write Strobe and a second reset, with the Port Status Change Events each
 * step posts. Nothing is copied from QEMU: the transcripts must match, except where QEMU 7.2
 * departs from xHCI 1.2 and the model follows the specification, which the script avoids or masks
 * and checks on the model alone:
 * <ul>
 * <li>USBSTS.PCD: QEMU never sets it; §5.4.2 sets it with any port change bit (masked here, and
 *     the model must show it exactly at the steps that post a Port Status Change Event);
 * <li>an event while EHB is 1: QEMU sets IMAN.IP at once; §4.17.5 holds the interrupt until
 *     software clears EHB ({@code XhciInterruptTest}); the script clears EHB before each event;
 * <li>PORTSC.PED written 1: QEMU ignores it; §5.4.8 lets software disable the port
 *     ({@code XhciHotplugTest}); not in the script.
 * </ul>
 */
@Timeout(60)
class XhciPortAndInterrupterQemuOracleTest {
    static final int USBSTS = XhciDriver.OP + 4;
    static final int IMAN = XhciDriver.IR0, IMOD = XhciDriver.IR0 + 4, ERDP = XhciDriver.IR0 + 0x18;

    /** The events posted since the last call, as type and (for port events) port number. */
    static String events(XhciDriver d) {
        StringBuilder b = new StringBuilder();
        for (Trb e = d.pollEventKeepingEhb(); e != null; e = d.pollEventKeepingEhb()) {
            b.append(" type ").append(e.type()).append(" cc ").append(XhciDriver.code(e));
            if (e.type() == Trb.PORT_STATUS_CHANGE_EVENT) b.append(" port ").append(e.parameter() >>> 24);
        }
        return b.toString();
    }

    static String interrupter(XhciDriver d) {
        return "EINT " + (d.usbsts() >>> 3 & 1) + " IMAN " + Integer.toHexString(d.reg(IMAN))
                + " EHB " + (d.reg(ERDP) >>> 3 & 1) + " IMOD " + Integer.toHexString(d.reg(IMOD));
    }

    /** A No Op Command without reading its event (the driver's await would clear EHB). */
    static void noOp(XhciDriver d) {
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
    }

    static List<String> script(XhciDriver d) {
        List<String> out = new ArrayList<>();
        d.init(8);
        out.add("after init: " + interrupter(d) + ";" + events(d));
        d.reg(USBSTS, 1 << 3);
        d.reg(IMAN, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        d.reg64(ERDP, d.reg(ERDP) & 0xFFFF_FFFFL | Interrupter.ERDP_EHB);
        out.add("cleared: " + interrupter(d));
        noOp(d);
        out.add("No Op: " + interrupter(d) + ";" + events(d));
        d.reg(IMAN, Interrupter.IMAN_IE);                 // IP written 0: stays
        out.add("IMAN IE only: " + interrupter(d));
        d.reg(IMAN, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        out.add("IMAN IP: " + interrupter(d));
        d.reg64(ERDP, d.reg(ERDP) & 0xFFFF_FFFFL & ~Interrupter.ERDP_EHB);   // EHB written 0: stays
        out.add("ERDP EHB 0: " + interrupter(d));
        d.reg64(ERDP, d.reg(ERDP) & 0xFFFF_FFFFL | Interrupter.ERDP_EHB);
        out.add("ERDP EHB 1: " + interrupter(d));
        noOp(d);
        out.add("No Op again: " + interrupter(d) + ";" + events(d));
        d.reg(IMAN, Interrupter.IMAN_IP);                 // IE off
        d.reg64(ERDP, d.reg(ERDP) & 0xFFFF_FFFFL | Interrupter.ERDP_EHB);
        d.reg(USBSTS, 1 << 3);
        out.add("IE off, all clear: " + interrupter(d));
        noOp(d);
        out.add("No Op, IE off: " + interrupter(d) + ";" + events(d));
        d.reg(IMOD, 0x0012_0034);
        out.add("IMOD written: " + interrupter(d));

        int port = 0;
        for (int p = 1; p <= 8 && port == 0; p++) if ((d.portsc(p) & RootHubPort.CCS) != 0) port = p;
        out.add("tablet on port " + port);
        int pp = RootHubPort.PP;
        int[][] steps = {
                {0},                                                        // as connected
                {pp | RootHubPort.CSC},                                     // clear the connect change
                {pp | RootHubPort.PR},                                      // reset
                {pp | RootHubPort.PRC},
                {pp | RootHubPort.LWS | RootHubPort.PLS_U3 << RootHubPort.PLS_SHIFT},  // suspend
                {pp | RootHubPort.PLS_U0 << RootHubPort.PLS_SHIFT},         // PLS without LWS: ignored
                {pp | RootHubPort.LWS | RootHubPort.PLS_U0 << RootHubPort.PLS_SHIFT},  // resume
                {pp | RootHubPort.PLC},
                {pp | RootHubPort.PR},                                      // reset again
                {pp | RootHubPort.CHANGE_BITS},
        };
        for (int[] s : steps) {
            if (s[0] != 0) d.portsc(port, s[0]);
            out.add("PORTSC write " + Integer.toHexString(s[0]) + ": " + Integer.toHexString(d.portsc(port) & ~RootHubPort.WAKE_BITS)
                    + ", PCD " + (d.usbsts() >>> 4 & 1) + ";" + events(d));
            d.reg(USBSTS, 1 << 4);
        }
        return out;
    }

    static List<String> withoutPcd(List<String> lines) {
        return lines.stream().map(l -> l.replaceFirst(", PCD [01]", "")).toList();
    }

    @Test
    void interrupterAndPortRegistersMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemu;
        qemu = QtestXhciPlatform.transcript("port-interrupter", XhciPortAndInterrupterQemuOracleTest::script, "-device", "usb-tablet,bus=xhci.0");
        List<String> ours;
        try (XhciRig rig = new XhciRig()) {
            rig.hc.plug(new UsbTablet(), 0);
            ours = script(rig.driver);
        }
        System.out.println("interrupter and port: QEMU " + qemu + "\n                      ours " + ours);
        assertThat(withoutPcd(ours)).containsExactlyElementsOf(withoutPcd(qemu));
        for (String line : ours) {
            if (line.contains(", PCD ")) assertThat(line).as("PCD with every port change").contains(line.contains("type 34") ? "PCD 1" : "PCD 0");
        }
    }
}
