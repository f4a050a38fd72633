package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbHub;
import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static org.junit.jupiter.api.Assertions.*;

/** The root hub through {@link UsbHub}: port choice, hot-plug and unplug events, PORTSC change bits, resets. */
@Timeout(30)
class XhciHotplugTest {
    XhciRig rig;
    XhciDriver d;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(8);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    @Test
    void superSpeedGoesToUsb3PortsAndOthersToUsb2Ports() {
        FakeUsbDevice[] ss = new FakeUsbDevice[4];
        for (int i = 0; i < 4; i++) {
            ss[i] = new FakeUsbDevice(UsbSpeed.SUPER);
            int port = rig.hc.plug(ss[i], 0);
            assertTrue(CapabilityRegisters.superSpeedPort(port), "port " + port);
            assertSame(ss[i].port, portOf(ss[i]), "the device was told its port");
        }
        IllegalStateException full = assertThrows(IllegalStateException.class, () -> rig.hc.plug(new FakeUsbDevice(UsbSpeed.SUPER), 0));
        assertTrue(full.getMessage().contains("no free USB 3 port"), full.getMessage());
        FakeUsbDevice fs = new FakeUsbDevice(UsbSpeed.FULL);
        assertEquals(7, rig.hc.plug(fs, 7));
        assertThrows(IllegalArgumentException.class, () -> rig.hc.plug(new FakeUsbDevice(UsbSpeed.LOW), 7), "busy");
        assertThrows(IllegalArgumentException.class, () -> rig.hc.plug(new FakeUsbDevice(UsbSpeed.LOW), 1), "wrong kind");
        assertThrows(IllegalArgumentException.class, () -> rig.hc.plug(new FakeUsbDevice(UsbSpeed.LOW), 9), "no such port");
        assertThrows(IllegalArgumentException.class, () -> rig.hc.plug(fs, 0), "already plugged");
        assertEquals(5, rig.hc.plug(new FakeUsbDevice(UsbSpeed.LOW), 0));
        var ports = rig.hc.ports();
        assertEquals(8, ports.size());
        assertSame(fs, ports.get(6).device());
        assertFalse(ports.get(6).superSpeed());
        assertTrue(ports.get(0).superSpeed());
        assertNull(ports.get(5).device());
    }

    private dev.vmm.usb.UsbPort portOf(FakeUsbDevice dev) {
        return dev.port;
    }

    @Test
    void hotPlugAndUnplugPostPortStatusChangeEvents() {
        int sts0 = d.usbsts();
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
        d.reg(XhciDriver.OP + 4, XhciController.STS_PCD);
        int port = rig.hc.plug(dev, 0);
        Trb ev = d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT && e.parameter() >>> 24 == port);
        assertEquals(CompletionCode.SUCCESS, code(ev));
        assertNotEquals(0, d.usbsts() & XhciController.STS_PCD, "USBSTS.PCD");
        int sc = d.portsc(port);
        // A USB 3 port trains its link by itself: enabled, U0, SuperSpeed.
        assertEquals(RootHubPort.CCS | RootHubPort.PED | RootHubPort.PP | RootHubPort.CSC,
                sc & (RootHubPort.CCS | RootHubPort.PED | RootHubPort.PP | RootHubPort.CSC));
        assertEquals(RootHubPort.PLS_U0, (sc >>> 5) & 0xF);
        assertEquals(UsbSpeed.SUPER.xhciSpeedId, (sc >>> 10) & 0xF);
        // CSC is write-1-to-clear; writing 0 leaves it.
        d.portsc(port, RootHubPort.PP);
        assertNotEquals(0, d.portsc(port) & RootHubPort.CSC);
        d.portsc(port, RootHubPort.PP | RootHubPort.CSC);
        assertEquals(0, d.portsc(port) & RootHubPort.CHANGE_BITS);

        // Warm reset (USB 3 only): PRC and WRC.
        d.portsc(port, RootHubPort.PP | RootHubPort.WPR);
        assertEquals(RootHubPort.PRC | RootHubPort.WRC, d.portsc(port) & RootHubPort.CHANGE_BITS);
        assertEquals(1, dev.resets);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.PRC | RootHubPort.WRC);

        // Suspend and resume through the link state write strobe: PLC on the way back to U0.
        d.portsc(port, RootHubPort.PP | RootHubPort.LWS | RootHubPort.PLS_U3 << 5);
        assertEquals(RootHubPort.PLS_U3, (d.portsc(port) >>> 5) & 0xF);
        d.portsc(port, RootHubPort.PP | RootHubPort.LWS | RootHubPort.PLS_U0 << 5);
        assertEquals(RootHubPort.PLS_U0, (d.portsc(port) >>> 5) & 0xF);
        assertNotEquals(0, d.portsc(port) & RootHubPort.PLC);
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.PLC);

        // Unplug: a connect status change with CCS clear, the device told.
        rig.hc.unplug(dev);
        Trb gone = d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT && e.parameter() >>> 24 == port);
        assertNotNull(gone);
        sc = d.portsc(port);
        assertEquals(0, sc & (RootHubPort.CCS | RootHubPort.PED));
        assertNotEquals(0, sc & RootHubPort.CSC);
        assertNull(dev.port);
        assertNull(rig.hc.ports().get(port - 1).device());
        rig.hc.unplug(dev);   // not plugged: nothing happens
        assertNull(d.take(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT));
        assertNotEquals(-1, sts0);
    }

    @Test
    void unplugWhileATransferIsPendingFailsItAndTheSlotStaysUsableForDisable() {
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
        int port = rig.hc.plug(dev, 0);
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(7, 7, 8))));
        long buf = d.alloc(8, 64);
        device.rings[7].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, 7);
        assertTrue(dev.interruptPending());
        rig.hc.unplug(dev);
        assertFalse(dev.interruptPending(), "the pending packet was cancelled");
        // The next TD finds nobody: a USB Transaction Error, endpoint halted.
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | 7 << 16)));
        d.doorbell(device, 7);
        Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.USB_TRANSACTION_ERROR);
        assertEquals(7, ev.endpointId());
        assertEquals(Endpoint.HALTED, device.endpointState(7));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.DISABLE_SLOT, 0, device.slot << 24)));
        // Re-plugged, the device enumerates again in a new slot.
        rig.hc.plug(dev, port);
        XhciDriver.Device again = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(again, port, UsbSpeed.SUPER, false)));
    }

    @Test
    void usb2PortResetAndSoftwareDisable() {
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.FULL);
        int port = rig.hc.plug(dev, 0);
        assertEquals(RootHubPort.PLS_POLLING, (d.portsc(port) >>> 5) & 0xF);
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.USB_TRANSACTION_ERROR, code(d.address(device, port, UsbSpeed.FULL, false)),
                "nobody answers on a port that is not enabled");
        d.portsc(port, RootHubPort.PP | RootHubPort.PR);
        assertNotEquals(0, d.portsc(port) & RootHubPort.PED);
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.FULL, false)));
        // Writing 1 to PED disables the port; the device stays connected.
        d.portsc(port, RootHubPort.PP | RootHubPort.PED);
        assertEquals(RootHubPort.CCS, d.portsc(port) & (RootHubPort.CCS | RootHubPort.PED));
    }

    @Test
    void controllerResetKeepsDevicesConnectedAndResetsThem() {
        FakeUsbDevice dev = new FakeUsbDevice(UsbSpeed.SUPER);
        int port = rig.hc.plug(dev, 0);
        d.init(8);
        assertEquals(1, dev.resets);
        int sc = d.portsc(port);
        assertEquals(RootHubPort.CCS | RootHubPort.CSC, sc & (RootHubPort.CCS | RootHubPort.CSC));
        assertEquals(0, d.usbsts() & XhciController.STS_HCH, "running again after init");
    }
}
