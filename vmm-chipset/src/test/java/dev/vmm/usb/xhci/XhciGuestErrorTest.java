package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Guest mistakes: each ends in the completion code the specification names (or HCE/HSE for a ring
 * the controller cannot use), and the controller goes on working afterwards.
 */
@Timeout(30)
class XhciGuestErrorTest {
    static final long OUTSIDE_RAM = 0x7_0000_0000L;

    XhciRig rig;
    XhciDriver d;
    FakeUsbDevice dev;
    int port;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(4);
        dev = new FakeUsbDevice(UsbSpeed.SUPER);
        port = rig.hc.plug(dev, 0);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** The controller still enumerates a device after whatever the test did. */
    void stillWorks() {
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.NOOP_COMMAND, 0, 0)));
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        long buf = d.alloc(18, 64);
        long[] at = d.control(device, XhciDriver.setup(0x80, 6, 0x100, 0, 18), buf, 18, true);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, at[2]))));
        assertArrayEquals(FakeUsbDevice.deviceDescriptor(UsbSpeed.SUPER), d.read(buf, 18));
    }

    @Test
    void badCommandTypesAndSlotIds() {
        assertEquals(CompletionCode.TRB_ERROR, code(d.command(Trb.NORMAL, 0, 0)), "a transfer TRB on the command ring");
        assertEquals(CompletionCode.TRB_ERROR, code(d.command(63, 0, 0)));
        assertEquals(CompletionCode.TRB_ERROR, code(d.command(Trb.SETUP, 0, 0)));
        for (int slot : new int[] {0, 1, 4, 5, 200, 255}) {
            assertEquals(CompletionCode.SLOT_NOT_ENABLED, code(d.command(Trb.DISABLE_SLOT, 0, slot << 24)), "slot " + slot);
            assertEquals(CompletionCode.SLOT_NOT_ENABLED, code(d.command(Trb.STOP_ENDPOINT, 0, slot << 24 | 1 << 16)));
        }
        // MaxSlotsEn = 4: the fifth Enable Slot has no slot.
        for (int i = 0; i < 4; i++) d.enableSlot();
        assertEquals(CompletionCode.NO_SLOTS_AVAILABLE, code(d.command(Trb.ENABLE_SLOT, 0, 0)));
        for (int i = 1; i <= 4; i++) assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.DISABLE_SLOT, 0, i << 24)));
        stillWorks();
    }

    @Test
    void contextErrors() {
        XhciDriver.Device device = d.newDevice();
        // Configure Endpoint and Reset Device on a slot that is only Enabled.
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 512))));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.RESET_DEVICE, 0, device.slot << 24)));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.EVALUATE_CONTEXT, device.input, device.slot << 24)));
        // Address Device: input context outside RAM; missing A0/A1; no such port; wrong EP0 type; DCBAA entry outside RAM.
        assertEquals(CompletionCode.TRB_ERROR, code(d.command(Trb.ADDRESS_DEVICE, OUTSIDE_RAM, device.slot << 24)));
        d.address(device, port, UsbSpeed.SUPER, false);   // fills the input context (and succeeds)
        XhciDriver.Device other = d.newDevice();
        d.mem.write(other.input, d.read(device.input, 33 * d.ctx));
        d.mem.writeU32(other.input + 4, 1);
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)));
        d.mem.writeU32(other.input + 4, 3);
        d.mem.writeU32(other.inputSlot() + 4, 9 << 16);
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)));
        d.mem.writeU32(other.inputSlot() + 4, port << 16);
        int ep0 = d.mem.readU32(other.inputEndpoint(1) + 4);
        d.mem.writeU32(other.inputEndpoint(1) + 4, (ep0 & ~(7 << 3)) | 2 << 3);
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)));
        d.mem.writeU32(other.inputEndpoint(1) + 4, ep0);
        d.mem.writeU64(d.dcbaa + 8L * other.slot, OUTSIDE_RAM);
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)));
        d.mem.writeU64(d.dcbaa + 8L * other.slot, other.output);
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.ADDRESS_DEVICE, other.input, other.slot << 24)), "already addressed");

        // Configure Endpoint: a control endpoint, a direction that does not match the DCI, a ring outside RAM.
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.configure(device, new XhciDriver.EndpointSpec(3, 4, 512))));
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.configure(device, new XhciDriver.EndpointSpec(3, 2, 512))));
        d.configure(device, new XhciDriver.EndpointSpec(3, 6, 512));
        d.mem.writeU64(device.inputEndpoint(3) + 8, OUTSIDE_RAM | 1);
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.CONFIGURE_ENDPOINT, device.input, device.slot << 24)));
        // Endpoint commands on an endpoint that does not exist, Set TR Dequeue outside RAM.
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.RESET_ENDPOINT, 0, device.slot << 24 | 9 << 16)));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24)));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | 3 << 16)));
        assertEquals(CompletionCode.PARAMETER_ERROR, code(d.command(Trb.SET_TR_DEQUEUE, OUTSIDE_RAM | 1, device.slot << 24 | 3 << 16)));
        stillWorks();
    }

    @Test
    void badTransferTrbsPutTheEndpointInTheErrorState() {
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 512))));
        XhciDriver.Ring r = device.rings[3];
        long[] bad = {
                r.push(0, 8, Trb.SETUP << 10 | Trb.IDT | Trb.IOC),                      // Setup on a bulk endpoint
                r.push(OUTSIDE_RAM, 512, Trb.NORMAL << 10 | Trb.IOC),                   // buffer outside RAM
                r.push(0, 512, 0x3F << 10 | Trb.IOC),                                   // no such TRB type
                r.push(0, 512, Trb.ISOCH << 10 | Trb.IOC),                              // isochronous: not supported
                r.push(0x0102, 4, Trb.NORMAL << 10 | Trb.IDT | Trb.IOC),                // immediate data on IN
        };
        for (long at : bad) {
            d.doorbell(device, 3);
            Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
            assertEquals(CompletionCode.TRB_ERROR, code(ev), "TRB at 0x" + Long.toHexString(at));
            assertEquals(at, ev.parameter());
            assertEquals(Endpoint.ERROR, device.endpointState(3));
            // Recovery: Set TR Dequeue past the bad TRB (allowed from Error).
            assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.SET_TR_DEQUEUE, (at + 16) | (r.cycle ? 1 : 0), device.slot << 24 | 3 << 16)));
            assertEquals(Endpoint.STOPPED, device.endpointState(3));
        }
        // Control transfer mistakes on EP0: Data stage without Setup, Setup without IDT.
        XhciDriver.Ring r0 = device.rings[1];
        long noSetup = r0.push(d.alloc(8, 8), 8, Trb.DATA << 10 | Trb.DATA_IN | Trb.IOC);
        d.doorbell(device, 1);
        assertEquals(noSetup, d.await(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.TRB_ERROR).parameter());
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.SET_TR_DEQUEUE, (noSetup + 16) | 1, device.slot << 24 | 1 << 16)));
        long noIdt = r0.push(0, 8, Trb.SETUP << 10);
        r0.push(0, 0, Trb.STATUS << 10 | Trb.IOC);
        d.doorbell(device, 1);
        assertEquals(noIdt, d.await(e -> e.type() == Trb.TRANSFER_EVENT && code(e) == CompletionCode.TRB_ERROR).parameter());
        stillWorks();
    }

    @Test
    void aRingOfLinkTrbsIsATrbErrorNotAHang() {
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 512))));
        long self = device.rings[3].base;
        d.write(self, self, 0, Trb.LINK << 10 | 1);         // a Link TRB pointing at itself, no toggle
        d.doorbell(device, 3);
        Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
        assertEquals(CompletionCode.TRB_ERROR, code(ev));
        assertEquals(Endpoint.ERROR, device.endpointState(3));
        stillWorks();
    }

    @Test
    void transferRingOutsideRam() {
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 512))));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | 3 << 16)));
        // A Link TRB leading out of RAM.
        long at = device.rings[3].base;
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.SET_TR_DEQUEUE, at | 1, device.slot << 24 | 3 << 16)));
        d.write(at, OUTSIDE_RAM, 0, Trb.LINK << 10 | 1);
        d.doorbell(device, 3);
        assertEquals(CompletionCode.TRB_ERROR, code(d.await(e -> e.type() == Trb.TRANSFER_EVENT)));
        assertEquals(Endpoint.ERROR, device.endpointState(3));
        stillWorks();
    }

    @Test
    void commandRingOutsideRamIsAHostSystemErrorUntilReset() {
        d.reg(XhciDriver.OP, 0);                                  // stop, so CRCR may be written
        d.reg64(XhciDriver.OP + 0x18, OUTSIDE_RAM | 1);
        d.reg(XhciDriver.OP, XhciController.CMD_RS | XhciController.CMD_INTE);
        d.reg(XhciDriver.DB, 0);
        int sts = d.usbsts();
        assertNotEquals(0, sts & XhciController.STS_HSE);
        assertNotEquals(0, sts & XhciController.STS_HCH, "halted");
        d.reg(XhciDriver.OP, XhciController.CMD_RS);
        assertNotEquals(0, d.usbsts() & XhciController.STS_HCH, "stays halted until reset");
        d.init(4);
        assertEquals(0, d.usbsts() & (XhciController.STS_HSE | XhciController.STS_HCH));
        stillWorks();
    }

    @Test
    void eventRingWithoutSegmentsIsAHostControllerError() {
        d.reg(XhciDriver.IR0 + 0x08, 0);                           // ERSTSZ 0
        d.reg64(XhciDriver.IR0 + 0x10, d.erst);
        d.reg(XhciDriver.DB, 0);
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertNotEquals(0, d.usbsts() & XhciController.STS_HCE);
        // A segment with fewer than 16 TRBs, then an ERST outside RAM: same error, no exception.
        d.init(4);
        d.mem.writeU32(d.erst + 8, 8);
        d.reg64(XhciDriver.IR0 + 0x10, d.erst);
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertNotEquals(0, d.usbsts() & XhciController.STS_HCE);
        d.init(4);
        d.reg64(XhciDriver.IR0 + 0x10, OUTSIDE_RAM);
        d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertNotEquals(0, d.usbsts() & XhciController.STS_HCE);
        d.init(4);
        stillWorks();
    }

    @Test
    void fullEventRingGetsOneEventRingFullErrorAndDropsTheRest() {
        // 80 No Op commands without the driver consuming events: a 64-TRB ring fills up.
        for (int i = 0; i < 31; i++) d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        for (int i = 0; i < 31; i++) d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        for (int i = 0; i < 18; i++) d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        var events = d.events();
        // The entry before the dequeue pointer stays free (a full ring never looks empty), as QEMU (XhciEventRingTest).
        assertEquals(XhciDriver.EVENT_TRBS - 1, events.size(), "the plug event, 61 completions, then the Event Ring Full Error");
        assertEquals(Trb.PORT_STATUS_CHANGE_EVENT, events.getFirst().type());
        for (int i = 1; i < XhciDriver.EVENT_TRBS - 2; i++) assertEquals(Trb.COMMAND_COMPLETION_EVENT, events.get(i).type());
        Trb last = events.getLast();
        assertEquals(Trb.HOST_CONTROLLER_EVENT, last.type());
        assertEquals(CompletionCode.EVENT_RING_FULL, code(last));
        d.backlog.clear();
        stillWorks();
    }
}
