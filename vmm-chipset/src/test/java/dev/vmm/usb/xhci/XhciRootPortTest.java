package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Root hub ports as xHCI 1.2 §4.19 and §5.4.8 describe them, where QEMU 7.2 cannot be asked (it
 * ignores PED writes and has no remote wake-up from our devices): a USB 3 port disabled by
 * software (PED written 1) goes to Disabled with its device still connected and its transfers
 * cancelled, and a reset brings it back (the device reset); Link State Write Strobe to RxDetect;
 * remote wake-up from U3 (PLC and an event) and none from U0; the wake bits are plain read/write;
 * an unplug keeps the change bits pending; device polls are merged to the earliest deadline.
 */
@Timeout(30)
class XhciRootPortTest {
    final XhciRig rig = new XhciRig();
    final XhciDriver d = rig.driver;
    final FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
    static final int PLS = RootHubPort.PLS_MASK, PP = RootHubPort.PP;

    @AfterEach
    void close() {
        rig.close();
    }

    int pls(int port) { return (d.portsc(port) & PLS) >>> RootHubPort.PLS_SHIFT; }

    @Test
    void softwareDisableOfAUsb3PortThenResetAndRxDetect() {
        d.init(8);
        int port = rig.hc.plug(dev, 0);
        XhciDriver.Device device = XhciEndlessRingTest.enumerate(d);
        assertThat(code(d.configure(device, new XhciDriver.EndpointSpec(7, 7, 8)))).isEqualTo(CompletionCode.SUCCESS);
        device.rings[7].push(d.alloc(8, 64), 8, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, 7);
        assertThat(dev.interruptPending()).isTrue();
        int resets = dev.resets;
        d.events();
        d.backlog.clear();

        d.portsc(port, PP | RootHubPort.PED);
        int sc = d.portsc(port);
        assertThat(sc & (RootHubPort.PED | RootHubPort.CCS | RootHubPort.PEC)).as("disabled, still connected, no PEC").isEqualTo(RootHubPort.CCS);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_DISABLED);
        assertThat(dev.cancelled).as("the pending packet was cancelled").hasSize(1);
        assertThat(dev.resets).isEqualTo(resets);
        assertThat(d.events()).as("no change bit, no event").isEmpty();

        d.portsc(port, PP | RootHubPort.PR);
        sc = d.portsc(port);
        assertThat(sc & (RootHubPort.PED | RootHubPort.PRC | RootHubPort.WRC)).isEqualTo(RootHubPort.PED | RootHubPort.PRC);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_U0);
        assertThat(dev.resets).isEqualTo(resets + 1);
        d.portsc(port, PP | RootHubPort.PRC);

        d.portsc(port, PP | RootHubPort.LWS | RootHubPort.PLS_RX_DETECT << RootHubPort.PLS_SHIFT);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_RX_DETECT);
        assertThat(d.portsc(port) & RootHubPort.PED).isZero();
        // U3 on a disabled port: refused.
        d.portsc(port, PP | RootHubPort.LWS | RootHubPort.PLS_U3 << RootHubPort.PLS_SHIFT);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_RX_DETECT);
        // PLS values software may not write (Polling): ignored.
        d.portsc(port, PP | RootHubPort.PR);
        d.portsc(port, PP | RootHubPort.LWS | RootHubPort.PLS_POLLING << RootHubPort.PLS_SHIFT);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_U0);
    }

    @Test
    void remoteWakeFromU3OnlyAndTheWakeBits() {
        d.init(8);
        int port = rig.hc.plug(dev, 0);
        d.portsc(port, PP | RootHubPort.CSC);
        d.events();
        d.backlog.clear();
        dev.port.wakeup(1);
        assertThat(d.portsc(port) & RootHubPort.PLC).as("no wake-up from U0").isZero();
        assertThat(d.events()).isEmpty();
        d.portsc(port, PP | RootHubPort.LWS | RootHubPort.PLS_U3 << RootHubPort.PLS_SHIFT);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_U3);
        dev.port.wakeup(1);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_U0);
        assertThat(d.portsc(port) & RootHubPort.PLC).isEqualTo(RootHubPort.PLC);
        assertThat(d.events()).singleElement().matches(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT && e.parameter() >>> 24 == port);
        d.portsc(port, PP | RootHubPort.WAKE_BITS);
        assertThat(d.portsc(port) & RootHubPort.WAKE_BITS).isEqualTo(RootHubPort.WAKE_BITS);
        assertThat(d.portsc(port) & RootHubPort.PLC).as("PLC written 0: stays").isEqualTo(RootHubPort.PLC);
        d.portsc(port, PP | 1 << 25);
        assertThat(d.portsc(port) & RootHubPort.WAKE_BITS).isEqualTo(1 << 25);
    }

    @Test
    void unplugKeepsPendingChangeBits() {
        d.init(8);
        int port = rig.hc.plug(dev, 0);
        d.portsc(port, PP | RootHubPort.PR);       // PRC (and CSC from the plug) pending
        d.portsc(port, PP | RootHubPort.WAKE_BITS);
        rig.hc.unplug(dev);
        int sc = d.portsc(port);
        assertThat(sc & ~RootHubPort.PLS_MASK).isEqualTo(PP | RootHubPort.CSC | RootHubPort.PRC | RootHubPort.WAKE_BITS);
        assertThat(pls(port)).isEqualTo(RootHubPort.PLS_RX_DETECT);
        assertThat(dev.port).isNull();
    }

    @Test
    void devicePollsAreMergedToTheEarliestDeadline() {
        d.init(8);
        rig.hc.plug(dev, 0);
        long now = rig.clock.nanoTime();
        int before = rig.clock.scheduled();
        dev.port.pollAt(now + 10_000_000);
        dev.port.pollAt(now + 20_000_000);          // later than one armed: nothing new
        dev.port.pollAt(now + 10_000_000);          // the same: nothing new
        assertThat(rig.clock.scheduled()).isEqualTo(before + 1);
        dev.port.pollAt(now + 5_000_000);           // earlier: armed too
        assertThat(rig.clock.scheduled()).isEqualTo(before + 2);
        rig.clock.advance(5_000_000);
        assertThat(dev.polls).containsExactly(now + 5_000_000);
        dev.port.pollAt(now + 7_000_000);           // none armed since the last ran
        assertThat(rig.clock.scheduled()).isEqualTo(before + 2);
        rig.clock.advance(5_000_000);
        assertThat(dev.polls).containsExactly(now + 5_000_000, now + 10_000_000, now + 10_000_000);
        dev.port.pollAt(now);                       // already due: at once, on the clock
        rig.clock.advance(0);
        assertThat(dev.polls).hasSize(4);
    }
}
