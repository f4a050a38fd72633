package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Interrupters: IMAN.IP/IE, USBSTS.EINT, ERDP.EHB, INTx versus MSI-X, and moderation (IMOD) with a test clock. */
@Timeout(30)
class XhciInterruptTest {
    XhciRig rig;
    XhciDriver d;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(4);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    private void noop() {
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
    }

    @Test
    void intxFollowsImanIpUntilTheDriverClearsIt() {
        noop();
        assertTrue(rig.intx.get());
        assertEquals(Interrupter.IMAN_IP | Interrupter.IMAN_IE, d.reg(XhciDriver.IR0));
        assertNotEquals(0, d.usbsts() & XhciController.STS_EINT);
        assertNotEquals(0, d.reg(XhciDriver.IR0 + 0x18) & Interrupter.ERDP_EHB, "EHB set with IP");
        d.reg(XhciDriver.IR0, Interrupter.IMAN_IP | Interrupter.IMAN_IE);      // W1C IP
        assertFalse(rig.intx.get());
        d.reg(XhciDriver.OP + 4, XhciController.STS_EINT);
        assertEquals(0, d.usbsts() & XhciController.STS_EINT);
        // Another event while EHB is still set: no interrupt until the driver writes ERDP.
        noop();
        assertFalse(rig.intx.get(), "EHB holds the interrupt back");
        assertEquals(2, d.events().size());                  // pollEvent writes ERDP with EHB: the held interrupt fires
        assertTrue(rig.intx.get());
        // INTE off: IP still set, no line.
        d.reg(XhciDriver.IR0, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        d.reg(XhciDriver.OP, XhciController.CMD_RS);
        noop();
        d.events();
        assertFalse(rig.intx.get());
    }

    @Test
    void msixSendsTheInterruptersVectorAndClearsIp() {
        rig.enableMsix();
        noop();
        assertEquals(List.of(0), rig.msis);
        assertFalse(rig.intx.get(), "no INTx while MSI-X is on");
        assertEquals(Interrupter.IMAN_IE, d.reg(XhciDriver.IR0), "IP clears itself after the message");
        // Interrupter 3 with its own event ring: a transfer TRB's Interrupter Target picks it.
        d.events();
        long ring = d.alloc(16 * 16, 64);
        long erst = d.alloc(16, 64);
        d.mem.writeU64(erst, ring);
        d.mem.writeU32(erst + 8, 16);
        int ir3 = XhciDriver.IR0 + 3 * 32;
        d.reg(ir3 + 0x08, 1);
        d.reg64(ir3 + 0x18, ring);
        d.reg64(ir3 + 0x10, erst);
        d.reg(ir3, Interrupter.IMAN_IE);
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
        int port = rig.hc.plug(dev, 0);
        XhciDriver.Device device = d.newDevice();
        d.address(device, port, dev.speed, false);
        rig.msis.clear();
        long buf = d.alloc(18, 64);
        XhciDriver.Ring r = device.rings[1];
        r.push(XhciDriver.setup(0x80, 6, 0x100, 0, 18), 8, Trb.SETUP << 10 | Trb.IDT | 3 << 16);
        r.push(buf, 18, Trb.DATA << 10 | Trb.DATA_IN);
        long status = r.push(0, 3 << 22, Trb.STATUS << 10 | Trb.IOC);
        d.doorbell(device, 1);
        assertEquals(List.of(3), rig.msis);
        assertEquals(status, d.mem.readU64(ring), "the Transfer Event is on interrupter 3's ring");
        assertEquals(Trb.TRANSFER_EVENT, (d.mem.readU32(ring + 12) >>> 10) & 0x3F);
        // Masked vector: pending bit instead of a message.
        d.mem.writeU32(ring + 12, 0);
        rig.hc.barWrite(0, XhciController.MSIX_TABLE + 16 * 3 + 12, 4, 1);
        d.reg64(ir3 + 0x18, (ring + 16) | Interrupter.ERDP_EHB);
        r.push(XhciDriver.setup(0x80, 6, 0x100, 0, 18), 8, Trb.SETUP << 10 | Trb.IDT | 3 << 16);
        r.push(buf, 18, Trb.DATA << 10 | Trb.DATA_IN);
        r.push(0, 3 << 22, Trb.STATUS << 10 | Trb.IOC);
        d.doorbell(device, 1);
        assertEquals(List.of(3), rig.msis);
        assertTrue(rig.hc.msixTable().isPending(3));
    }

    @Test
    void moderationHoldsTheNextInterruptForImodiTimes250ns() {
        d.reg(XhciDriver.IR0 + 4, 4000);              // 1 ms
        noop();
        assertTrue(rig.intx.get());
        d.reg(XhciDriver.IR0, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        d.events();
        noop();
        assertFalse(rig.intx.get(), "within 1 ms of the last interrupt");
        assertEquals(1, rig.clock.scheduled());
        rig.clock.advance(999_000);
        assertFalse(rig.intx.get());
        rig.clock.advance(1_000);
        assertTrue(rig.intx.get(), "fired by the timer once the interval passed");
        // Interval 0: no moderation.
        d.reg(XhciDriver.IR0, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        d.events();
        d.reg(XhciDriver.IR0 + 4, 0);
        noop();
        assertTrue(rig.intx.get());
    }

    @Test
    void blockEventInterruptPostsTheEventWithoutAnInterrupt() {
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
        int port = rig.hc.plug(dev, 0);
        XhciDriver.Device device = d.newDevice();
        d.address(device, port, dev.speed, false);
        d.events();
        d.backlog.clear();
        d.reg(XhciDriver.IR0, Interrupter.IMAN_IP | Interrupter.IMAN_IE);
        assertFalse(rig.intx.get());
        long buf = d.alloc(18, 64);
        XhciDriver.Ring r = device.rings[1];
        r.push(XhciDriver.setup(0x80, 6, 0x100, 0, 18), 8, Trb.SETUP << 10 | Trb.IDT | 3 << 16);
        r.push(buf, 18, Trb.DATA << 10 | Trb.DATA_IN);
        long status = r.push(0, 0, Trb.STATUS << 10 | Trb.IOC | Trb.BEI);
        d.doorbell(device, 1);
        assertFalse(rig.intx.get());
        assertNotNull(d.take(e -> XhciDriver.transferEventFor(e, status)));
    }
}
