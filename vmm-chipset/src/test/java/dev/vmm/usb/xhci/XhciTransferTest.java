package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static dev.vmm.usb.xhci.XhciDriver.code;
import static dev.vmm.usb.xhci.XhciDriver.residual;
import static dev.vmm.usb.xhci.XhciDriver.setup;
import static dev.vmm.usb.xhci.XhciDriver.transferEventFor;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Enumeration and transfers through the controller, driven as a guest driver would: port reset,
 * Enable Slot, Address Device (SET_ADDRESS reaching the device), descriptors over EP0 (with a short
 * answer), Configure Endpoint, bulk OUT/IN with chained TDs, immediate data, Event Data and short
 * packets, an interrupt IN packet completed later from another thread, STALL recovery and Stop
 * Endpoint.
 */
@Timeout(30)
class XhciTransferTest {
    static final int BULK_OUT_DCI = 2, BULK_IN_DCI = 5, INTERRUPT_IN_DCI = 7;

    XhciRig rig;
    XhciDriver d;
    FakeUsbDevice dev;

    @BeforeEach
    void setUp() {
        rig = new XhciRig();
        d = rig.driver;
        d.init(8);
        dev = new FakeUsbDevice(UsbSpeed.HIGH);
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** Plugs the device into a USB 2 port, resets the port, enables and addresses a slot. */
    XhciDriver.Device enumerate() {
        int port = rig.hc.plug(dev, 0);
        assertEquals(CapabilityRegisters.FIRST_USB2_PORT, port, "a high-speed device takes the first USB 2 port");
        Trb change = d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        assertEquals(port, change.parameter() >>> 24);
        int sc = d.portsc(port);
        assertEquals(RootHubPort.CCS, sc & RootHubPort.CCS);
        assertEquals(0, sc & RootHubPort.PED, "a USB 2 port waits for a reset before it is enabled");
        assertEquals(UsbSpeed.HIGH.xhciSpeedId, (sc >>> 10) & 0xF);
        d.portsc(port, RootHubPort.PP | RootHubPort.CSC | RootHubPort.PR);
        sc = d.portsc(port);
        assertEquals(RootHubPort.PED | RootHubPort.PRC, sc & (RootHubPort.PED | RootHubPort.PRC | RootHubPort.CSC));
        assertEquals(0, (sc >>> 5) & 0xF, "U0 after the reset");
        d.await(e -> e.type() == Trb.PORT_STATUS_CHANGE_EVENT);
        d.portsc(port, RootHubPort.PP | RootHubPort.PRC);

        XhciDriver.Device device = d.newDevice();
        Trb done = d.address(device, port, UsbSpeed.HIGH, false);
        assertEquals(CompletionCode.SUCCESS, code(done));
        assertEquals(device.slot, done.slotId());
        assertEquals(Contexts.SLOT_STATE_ADDRESSED, device.slotState());
        assertEquals(device.slot, device.address(), "the controller chose the USB address");
        assertEquals(new UsbSetup(0, UsbSetup.SET_ADDRESS, device.slot, 0, 0), dev.setups.getLast());
        assertEquals(device.slot, dev.address);
        assertEquals(Endpoint.RUNNING, device.endpointState(1));
        return device;
    }

    XhciDriver.Device configured() {
        XhciDriver.Device device = enumerate();
        Trb done = d.configure(device,
                new XhciDriver.EndpointSpec(BULK_OUT_DCI, 2, 512),
                new XhciDriver.EndpointSpec(BULK_IN_DCI, 6, 512),
                new XhciDriver.EndpointSpec(INTERRUPT_IN_DCI, 7, 8));
        assertEquals(CompletionCode.SUCCESS, code(done));
        assertEquals(Contexts.SLOT_STATE_CONFIGURED, device.slotState());
        for (int dci : new int[] {BULK_OUT_DCI, BULK_IN_DCI, INTERRUPT_IN_DCI}) assertEquals(Endpoint.RUNNING, device.endpointState(dci));
        return device;
    }

    @Test
    void descriptorsOverEndpointZeroIncludingAShortAnswer() {
        XhciDriver.Device device = enumerate();
        long buf = d.alloc(256, 64);
        long[] at = d.control(device, setup(0x80, UsbSetup.GET_DESCRIPTOR, 0x0100, 0, 18), buf, 18, true);
        Trb status = d.await(e -> transferEventFor(e, at[2]));
        assertEquals(CompletionCode.SUCCESS, code(status));
        assertEquals(device.slot, status.slotId());
        assertEquals(1, status.endpointId());
        assertArrayEquals(FakeUsbDevice.deviceDescriptor(UsbSpeed.HIGH), d.read(buf, 18));

        // The configuration descriptor is 39 bytes; asking for 255 gives a Short Packet on the Data TRB.
        long[] at2 = d.control(device, setup(0x80, UsbSetup.GET_DESCRIPTOR, 0x0200, 0, 255), buf, 255, true);
        Trb data = d.await(e -> transferEventFor(e, at2[1]));
        assertEquals(CompletionCode.SHORT_PACKET, code(data));
        assertEquals(255 - 39, residual(data));
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, at2[2]))));
        assertArrayEquals(FakeUsbDevice.configDescriptor(), d.read(buf, 39));

        // A request the device refuses: Stall Error, endpoint 0 halted, then recovered.
        long[] at3 = d.control(device, setup(0x80, UsbSetup.GET_DESCRIPTOR, 0x0700, 0, 8), buf, 8, true);
        Trb stall = d.await(e -> e.type() == Trb.TRANSFER_EVENT && e.endpointId() == 1);
        assertEquals(CompletionCode.STALL_ERROR, code(stall));
        assertEquals(at3[1], stall.parameter(), "the stall is reported on the Data stage");
        assertEquals(Endpoint.HALTED, device.endpointState(1));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.RESET_ENDPOINT, 0, device.slot << 24 | 1 << 16)));
        long after = device.rings[1].base + 16L * device.rings[1].enqueue;
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.SET_TR_DEQUEUE, after | (device.rings[1].cycle ? 1 : 0), device.slot << 24 | 1 << 16)));
        long[] at4 = d.control(device, setup(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0), 0, 0, false);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, at4[2]))));
        assertEquals(1, dev.configuration);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void bulkOutChainedTdWithImmediateDataAndEventData(boolean contexts64) {
        if (contexts64) {
            rig.close();
            rig = new XhciRig(true);
            d = rig.driver;
            d.init(8);
        }
        XhciDriver.Device device = configured();
        byte[] payload = new byte[100];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i * 7);
        long buf = d.alloc(100, 64);
        rig.ram.memory.write(buf, payload);
        XhciDriver.Ring r = device.rings[BULK_OUT_DCI];
        r.push(buf, 100, Trb.NORMAL << 10 | Trb.CHAIN);
        r.push(0x0504030201L, 5, Trb.NORMAL << 10 | Trb.CHAIN | Trb.IDT);
        long eventData = r.push(0xCAFE_F00DL, 0, Trb.EVENT_DATA << 10 | Trb.IOC);
        d.doorbell(device, BULK_OUT_DCI);
        Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT && e.endpointId() == BULK_OUT_DCI);
        assertEquals(CompletionCode.SUCCESS, code(ev));
        assertEquals(0xCAFE_F00DL, ev.parameter(), "an Event Data event carries the TRB's data, not a pointer");
        assertTrue(ev.has(1 << 2), "ED flag");
        assertEquals(105, residual(ev), "Event Data reports the bytes moved (EDTLA)");
        byte[] expected = Arrays.copyOf(payload, 105);
        System.arraycopy(new byte[] {1, 2, 3, 4, 5}, 0, expected, 100, 5);
        assertArrayEquals(expected, dev.bulkOut.toByteArray());
        assertNotEquals(0, eventData);
        assertNull(d.take(e -> e.type() == Trb.TRANSFER_EVENT), "no other event: no IOC elsewhere");
    }

    @Test
    void bulkInShortPacketReportsOnceAtTheShortTrb() {
        XhciDriver.Device device = configured();
        byte[] answer = new byte[10];
        Arrays.fill(answer, (byte) 0x5A);
        dev.bulkInAnswers.add(answer);
        long buf = d.alloc(128, 64);
        XhciDriver.Ring r = device.rings[BULK_IN_DCI];
        long first = r.push(buf, 64, Trb.NORMAL << 10 | Trb.CHAIN | Trb.ISP);
        r.push(buf + 64, 64, Trb.NORMAL << 10 | Trb.ISP | Trb.IOC);
        d.doorbell(device, BULK_IN_DCI);
        Trb ev = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
        assertEquals(CompletionCode.SHORT_PACKET, code(ev));
        assertEquals(first, ev.parameter());
        assertEquals(54, residual(ev));
        assertArrayEquals(answer, d.read(buf, 10));
        assertNull(d.take(e -> e.type() == Trb.TRANSFER_EVENT), "the rest of a short TD is skipped");

        // A full answer spanning both TRBs: one event at the IOC TRB, and the ring goes on across its Link TRB.
        for (int round = 0; round < 20; round++) {
            byte[] full = new byte[128];
            Arrays.fill(full, (byte) round);
            dev.bulkInAnswers.add(full);
            r.push(buf, 64, Trb.NORMAL << 10 | Trb.CHAIN);
            long last = r.push(buf + 64, 64, Trb.NORMAL << 10 | Trb.IOC);
            d.doorbell(device, BULK_IN_DCI);
            Trb ok = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
            assertEquals(CompletionCode.SUCCESS, code(ok));
            assertEquals(last, ok.parameter());
            assertEquals(0, residual(ok));
            assertArrayEquals(full, d.read(buf, 128));
        }
    }

    @Test
    void interruptInCompletedLaterFromAnotherThread() throws Exception {
        XhciDriver.Device device = configured();
        long buf = d.alloc(8, 64);
        long trb = device.rings[INTERRUPT_IN_DCI].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC | Trb.ISP);
        d.doorbell(device, INTERRUPT_IN_DCI);
        assertTrue(dev.interruptPending(), "the device holds the packet (NAK)");
        assertNull(d.take(e -> e.type() == Trb.TRANSFER_EVENT));
        Thread io = Thread.ofPlatform().start(() -> assertTrue(dev.sendReport(new byte[] {1, 2, 3})));
        io.join();
        Trb ev = d.await(e -> transferEventFor(e, trb));
        assertEquals(CompletionCode.SHORT_PACKET, code(ev));
        assertEquals(5, residual(ev));
        assertArrayEquals(new byte[] {1, 2, 3}, d.read(buf, 3));
        assertTrue(rig.intx.get(), "INTx asserted for interrupter 0 (MSI-X off)");
    }

    @Test
    void stallHaltsThenResetEndpointAndSetTrDequeueRecover() {
        XhciDriver.Device device = configured();
        dev.stallBulkIn = true;
        long buf = d.alloc(64, 64);
        XhciDriver.Ring r = device.rings[BULK_IN_DCI];
        long failed = r.push(buf, 64, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, BULK_IN_DCI);
        Trb stall = d.await(e -> e.type() == Trb.TRANSFER_EVENT);
        assertEquals(CompletionCode.STALL_ERROR, code(stall));
        assertEquals(failed, stall.parameter());
        assertEquals(Endpoint.HALTED, device.endpointState(BULK_IN_DCI));
        assertEquals(failed | 1, device.endpointDequeue(BULK_IN_DCI), "the dequeue pointer stays at the failed TD");

        dev.bulkInAnswers.add(new byte[] {9, 9, 9, 9});
        long next = r.push(buf, 4, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, BULK_IN_DCI);
        assertNull(d.take(e -> e.type() == Trb.TRANSFER_EVENT), "a halted endpoint ignores its doorbell");
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.SET_TR_DEQUEUE, next | 1, device.slot << 24 | BULK_IN_DCI << 16)),
                "Set TR Dequeue needs a stopped endpoint");
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.RESET_ENDPOINT, 0, device.slot << 24 | BULK_IN_DCI << 16)));
        assertEquals(Endpoint.STOPPED, device.endpointState(BULK_IN_DCI));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.RESET_ENDPOINT, 0, device.slot << 24 | BULK_IN_DCI << 16)));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.SET_TR_DEQUEUE, next | 1, device.slot << 24 | BULK_IN_DCI << 16)));
        assertEquals(next | 1, device.endpointDequeue(BULK_IN_DCI));
        d.doorbell(device, BULK_IN_DCI);
        Trb ok = d.await(e -> transferEventFor(e, next));
        assertEquals(CompletionCode.SUCCESS, code(ok));
        assertEquals(Endpoint.RUNNING, device.endpointState(BULK_IN_DCI));
        assertArrayEquals(new byte[] {9, 9, 9, 9}, d.read(buf, 4));
    }

    @Test
    void stopEndpointCancelsThePendingPacket() {
        XhciDriver.Device device = configured();
        long buf = d.alloc(8, 64);
        long trb = device.rings[INTERRUPT_IN_DCI].push(buf, 8, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, INTERRUPT_IN_DCI);
        assertTrue(dev.interruptPending());
        Trb done = d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | INTERRUPT_IN_DCI << 16);
        assertEquals(CompletionCode.SUCCESS, code(done));
        Trb stopped = d.await(e -> transferEventFor(e, trb));
        assertEquals(CompletionCode.STOPPED, code(stopped));
        assertEquals(1, dev.cancelled.size());
        assertFalse(dev.interruptPending());
        assertEquals(Endpoint.STOPPED, device.endpointState(INTERRUPT_IN_DCI));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.STOP_ENDPOINT, 0, device.slot << 24 | INTERRUPT_IN_DCI << 16)));
        // Ringing again restarts the endpoint at the same TD.
        d.doorbell(device, INTERRUPT_IN_DCI);
        assertEquals(Endpoint.RUNNING, device.endpointState(INTERRUPT_IN_DCI));
        assertTrue(dev.sendReport(new byte[] {7, 7, 7, 7, 7, 7, 7, 7}));
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, trb))));
    }

    @Test
    void addressDeviceWithBsrThenWithoutAndResetDeviceAndDeconfigure() {
        int port = rig.hc.plug(new FakeUsbDevice(UsbSpeed.SUPER), 0);
        assertTrue(CapabilityRegisters.superSpeedPort(port));
        XhciDriver.Device device = d.newDevice();
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, true)));
        assertEquals(Contexts.SLOT_STATE_DEFAULT, device.slotState());
        assertEquals(0, device.address());
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.address(device, port, UsbSpeed.SUPER, true)), "BSR=1 only from Enabled");
        assertEquals(CompletionCode.SUCCESS, code(d.address(device, port, UsbSpeed.SUPER, false)));
        assertEquals(Contexts.SLOT_STATE_ADDRESSED, device.slotState());
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 1024))));
        assertEquals(Contexts.SLOT_STATE_CONFIGURED, device.slotState());
        // Deconfigure: back to Addressed, endpoints disabled.
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.CONFIGURE_ENDPOINT, 0, device.slot << 24 | Trb.DECONFIGURE)));
        assertEquals(Contexts.SLOT_STATE_ADDRESSED, device.slotState());
        assertEquals(Endpoint.DISABLED, device.endpointState(3));
        assertEquals(CompletionCode.SUCCESS, code(d.configure(device, new XhciDriver.EndpointSpec(3, 6, 1024))));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.RESET_DEVICE, 0, device.slot << 24)));
        assertEquals(Contexts.SLOT_STATE_DEFAULT, device.slotState());
        assertEquals(Endpoint.DISABLED, device.endpointState(3));
        assertEquals(CompletionCode.CONTEXT_STATE_ERROR, code(d.command(Trb.RESET_DEVICE, 0, device.slot << 24)));
        assertEquals(CompletionCode.SUCCESS, code(d.command(Trb.DISABLE_SLOT, 0, device.slot << 24)));
        assertEquals(CompletionCode.SLOT_NOT_ENABLED, code(d.command(Trb.DISABLE_SLOT, 0, device.slot << 24)));
    }

    @Test
    void setAddressAnsweredLaterHoldsTheCommandRing() throws Exception {
        dev.holdSetAddress = true;
        int port = rig.hc.plug(dev, 0);
        d.portsc(port, RootHubPort.PP | RootHubPort.PR);
        XhciDriver.Device device = d.newDevice();
        d.mem.writeU32(device.input + 4, 3);
        // Address Device with a No Op behind it: the No Op may not complete first.
        d.mem.writeU32(device.inputSlot(), UsbSpeed.HIGH.xhciSpeedId << 20 | 1 << 27);
        d.mem.writeU32(device.inputSlot() + 4, port << 16);
        device.rings[1] = d.new Ring(16);
        d.mem.writeU32(device.inputEndpoint(1) + 4, 64 << 16 | 4 << 3);
        d.mem.writeU64(device.inputEndpoint(1) + 8, device.rings[1].pointer());
        long addressCmd = d.commands.push(device.input, 0, Trb.ADDRESS_DEVICE << 10 | device.slot << 24);
        long noop = d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertNull(d.take(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT), "the ring waits for SET_ADDRESS");
        Thread io = Thread.ofPlatform().start(() -> assertTrue(dev.held.complete(UsbPacket.Status.SUCCESS, 0)));
        io.join();
        Trb first = d.await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT);
        assertEquals(addressCmd, first.parameter());
        assertEquals(CompletionCode.SUCCESS, code(first));
        Trb second = d.await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT);
        assertEquals(noop, second.parameter());
    }

    @Test
    void abortingTheCommandRingGivesUpAWaitingAddressDeviceAndResumesAfterIt() {
        dev.holdSetAddress = true;
        int port = rig.hc.plug(dev, 0);
        d.portsc(port, RootHubPort.PP | RootHubPort.PR);
        XhciDriver.Device device = d.newDevice();
        d.mem.writeU32(device.input + 4, 3);
        d.mem.writeU32(device.inputSlot(), UsbSpeed.HIGH.xhciSpeedId << 20 | 1 << 27);
        d.mem.writeU32(device.inputSlot() + 4, port << 16);
        device.rings[1] = d.new Ring(16);
        d.mem.writeU32(device.inputEndpoint(1) + 4, 64 << 16 | 4 << 3);
        d.mem.writeU64(device.inputEndpoint(1) + 8, device.rings[1].pointer());
        long addressCmd = d.commands.push(device.input, 0, Trb.ADDRESS_DEVICE << 10 | device.slot << 24);
        long noop = d.commands.push(0, 0, Trb.NOOP_COMMAND << 10);
        d.reg(XhciDriver.DB, 0);
        assertNotEquals(0, d.reg(XhciDriver.OP + 0x18) & 8, "CRR while the command waits");
        // Abort as a driver does: read CRCR, set CA, write both halves.
        long crcr = (d.reg(XhciDriver.OP + 0x18) & 0xFFFF_FFFFL) | (long) d.reg(XhciDriver.OP + 0x1C) << 32;
        d.reg64(XhciDriver.OP + 0x18, crcr | 4);
        Trb aborted = d.await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT && e.parameter() == addressCmd);
        assertEquals(CompletionCode.COMMAND_ABORTED, code(aborted));
        Trb stopped = d.await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT);
        assertEquals(CompletionCode.COMMAND_RING_STOPPED, code(stopped));
        assertEquals(noop, stopped.parameter(), "the ring stopped at the next command");
        assertEquals(0, d.reg(XhciDriver.OP + 0x18) & 8, "CRR clear");
        assertTrue(dev.held.complete(UsbPacket.Status.SUCCESS, 0), "a late answer is ignored");
        d.reg(XhciDriver.DB, 0);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> e.type() == Trb.COMMAND_COMPLETION_EVENT && e.parameter() == noop)));
    }

    @Test
    void noOpTdsCompleteWithoutATransaction() {
        XhciDriver.Device device = configured();
        int setups = dev.setups.size();
        long ep0 = device.rings[1].push(0, 0, Trb.NOOP << 10 | Trb.IOC);
        d.doorbell(device, 1);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, ep0))));
        long bulk = device.rings[BULK_OUT_DCI].push(0, 0, Trb.NOOP << 10 | Trb.IOC);
        d.doorbell(device, BULK_OUT_DCI);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, bulk))));
        assertEquals(setups, dev.setups.size());
        assertEquals(0, dev.bulkOut.size());
        // A zero-length Normal TRB is a real (zero-length) packet.
        long zlp = device.rings[BULK_OUT_DCI].push(0, 0, Trb.NORMAL << 10 | Trb.IOC);
        d.doorbell(device, BULK_OUT_DCI);
        assertEquals(CompletionCode.SUCCESS, code(d.await(e -> transferEventFor(e, zlp))));
    }
}
