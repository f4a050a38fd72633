package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

import static dev.vmm.usb.xhci.CompletionCode.*;

/**
 * The command ring (xHCI 1.2 §4.6): executes commands in order and answers each with a Command
 * Completion Event on interrupter 0. Address Device sends SET_ADDRESS to the device as a control
 * request; the ring waits for its answer (the device may complete it later) before the next
 * command. Every guest mistake is a completion code: an unknown command type or a pointer outside
 * RAM is a TRB Error, a slot id that is not enabled Slot Not Enabled, a context field the
 * controller cannot take a Parameter Error, a command in the wrong slot or endpoint state a
 * Context State Error.
 *
 * <p>Called with the controller's lock held.
 */
final class CommandRunner {
    /** A command that ends with this completion code. */
    private static final class Failed extends RuntimeException {
        final int code;

        Failed(int code) {
            super(null, null, false, false);
            this.code = code;
        }
    }

    /** What commands need from the controller. */
    interface Host {
        Object lock();

        boolean running();

        Dma dma();

        Contexts contexts();

        /** The slot if {@code id} is an enabled slot id, else null. */
        DeviceSlot slot(int id);

        /** The first free slot id up to MaxSlotsEn enabled, or null. */
        DeviceSlot enableSlot();

        void disableSlot(DeviceSlot slot);

        /** DCBAAP (the Device Context Base Address Array). */
        long dcbaap();

        RootHubPort port(int number);

        TransferRunner transfers();

        void saveEndpointContext(DeviceSlot slot, Endpoint ep);

        void postEvent(int interrupter, Trb event, boolean blockInterrupt);

        /** The command ring cannot be read: Host System Error. */
        void hostSystemError(String why);
    }

    private final Host host;
    private RingCursor ring = new RingCursor(0, false);
    private boolean ringRunning;
    /** The Address Device command waiting for the device's SET_ADDRESS answer. */
    private Trb waiting;

    CommandRunner(Host host) {
        this.host = host;
    }

    void reset() {
        ring = new RingCursor(0, false);
        ringRunning = false;
        waiting = null;
    }

    /** An Address Device waiting for the device's answer: no state can be saved until it has one. */
    boolean waitingForDevice() { return waiting != null; }

    /** The ring's position and whether it runs (a waiting command is refused before, by the controller). */
    void save(DataOutputStream out) throws IOException {
        out.writeLong(ring.dequeue());
        out.writeBoolean(ring.cycle());
        out.writeBoolean(ringRunning);
    }

    /** Reads and checks a saved ring position: a running ring must be in guest RAM. */
    Runnable load(DataInputStream in) throws IOException {
        long dequeue = in.readLong();
        boolean cycle = in.readBoolean();
        boolean running = in.readBoolean();
        if ((dequeue & 0xF) != 0 || (running && !host.dma().valid(dequeue, Trb.SIZE))) {
            throw new UsbStateException("command ring at 0x" + Long.toHexString(dequeue) + " is not in guest RAM");
        }
        return () -> {
            ring = new RingCursor(dequeue, cycle);
            ringRunning = running;
            waiting = null;
        };
    }

    boolean ringRunning() { return ringRunning; }

    /** CRCR as read: QEMU shows the pointer and RCS as written, and CRR. */
    long crcr(long written) {
        return (written & ~0x3FL) | (written & 1) | (ringRunning ? 1 << 3 : 0);
    }

    /** CRCR written (both halves known): a new pointer while stopped, or stop/abort while running. */
    void crcrWritten(long value) {
        if (ringRunning) {
            if ((value & 0x6) != 0) {   // CS or CA
                ringRunning = false;
                if (waiting != null) {
                    // The command waiting for its device is given up (§4.6.1.2).
                    post(waiting, COMMAND_ABORTED, waiting.slotId());
                    waiting = null;
                }
                post(new Trb(0, 0, 0, ring.dequeue()), COMMAND_RING_STOPPED, 0);
            }
            return;
        }
        // While stopped a write sets the pointer, unless it is the other half of a Stop/Abort write
        // (a driver writes CRCR as two dwords): the ring then resumes where it stopped.
        if ((value & 0x6) == 0) ring = new RingCursor(value & ~0x3FL, (value & 1) != 0);
    }

    /** Doorbell 0. */
    void doorbell() {
        if (!host.running()) return;
        ringRunning = true;
        process();
    }

    private void process() {
        if (processing) return;     // a command completed from inside the device's handle()
        processing = true;
        try {
            processRing();
        } finally {
            processing = false;
        }
    }

    private boolean processing;

    /**
     * Commands one doorbell runs at most: a command ring whose Link TRB does not toggle the cycle
     * state runs its commands again and again, which would hold the vCPU in the doorbell write
     * for ever. As QEMU, the ring stops being read there; the next doorbell goes on.
     */
    static final int MAX_COMMANDS_PER_KICK = 258;   // QEMU 7.2's count per doorbell (XhciEndlessRingTest compares)

    private void processRing() {
        for (int n = 0; n < MAX_COMMANDS_PER_KICK && ringRunning && waiting == null && host.running(); n++) {
            Trb trb;
            try {
                trb = ring.peek(host.dma());
            } catch (Dma.Fault | RingCursor.LinkLoop e) {
                ringRunning = false;
                host.hostSystemError("command ring at 0x" + Long.toHexString(ring.dequeue()) + ": " + e.getMessage());
                return;
            }
            if (trb == null) return;
            ring.advance();
            execute(trb);
        }
    }

    private void execute(Trb trb) {
        int slotId = 0;
        try {
            switch (trb.type()) {
                case Trb.NOOP_COMMAND -> { }
                case Trb.ENABLE_SLOT -> {
                    DeviceSlot s = host.enableSlot();
                    if (s == null) throw new Failed(NO_SLOTS_AVAILABLE);
                    slotId = s.id;
                }
                case Trb.DISABLE_SLOT -> {
                    DeviceSlot s = slot(trb);
                    slotId = s.id;
                    host.disableSlot(s);
                }
                case Trb.ADDRESS_DEVICE -> {
                    slotId = trb.slotId();
                    if (addressDevice(trb, slot(trb))) return;      // completes when the device answers
                }
                case Trb.CONFIGURE_ENDPOINT -> configureEndpoint(trb, slot(trb));
                case Trb.EVALUATE_CONTEXT -> evaluateContext(trb, slot(trb));
                case Trb.RESET_ENDPOINT -> {
                    DeviceSlot s = slot(trb);
                    Endpoint ep = endpoint(s, trb, Endpoint.HALTED, -1);
                    ep.state = Endpoint.STOPPED;
                    host.saveEndpointContext(s, ep);
                }
                case Trb.STOP_ENDPOINT -> {
                    DeviceSlot s = slot(trb);
                    Endpoint ep = endpoint(s, trb, Endpoint.RUNNING, -1);
                    host.transfers().cancel(s, ep, true);
                    ep.state = Endpoint.STOPPED;
                    host.saveEndpointContext(s, ep);
                }
                case Trb.SET_TR_DEQUEUE -> {
                    DeviceSlot s = slot(trb);
                    Endpoint ep = endpoint(s, trb, Endpoint.STOPPED, Endpoint.ERROR);
                    long ptr = trb.parameter() & ~0xFL;
                    if (ptr == 0 || !host.dma().valid(ptr, Trb.SIZE)) throw new Failed(PARAMETER_ERROR);
                    ep.ring.set(ptr, (trb.parameter() & 1) != 0);
                    ep.state = Endpoint.STOPPED;
                    host.saveEndpointContext(s, ep);
                }
                case Trb.RESET_DEVICE -> resetDevice(slot(trb));
                default -> throw new Failed(TRB_ERROR);
            }
            if (slotId == 0 && trb.type() != Trb.ENABLE_SLOT && trb.type() != Trb.NOOP_COMMAND) slotId = trb.slotId();
            post(trb, SUCCESS, slotId);
        } catch (Failed f) {
            post(trb, f.code, trb.type() == Trb.ENABLE_SLOT ? 0 : slotIdOf(trb));
        } catch (Dma.Fault f) {
            post(trb, TRB_ERROR, slotIdOf(trb));
        }
    }

    private static int slotIdOf(Trb trb) {
        return trb.type() >= Trb.DISABLE_SLOT && trb.type() <= Trb.RESET_DEVICE ? trb.slotId() : 0;
    }

    private void post(Trb command, int code, int slotId) {
        host.postEvent(0, Trb.event(Trb.COMMAND_COMPLETION_EVENT, command.address(), code << 24, slotId << 24), false);
    }

    private DeviceSlot slot(Trb trb) {
        DeviceSlot s = host.slot(trb.slotId());
        if (s == null) throw new Failed(SLOT_NOT_ENABLED);
        return s;
    }

    /** The endpoint named by the command, which must be in state {@code a} or {@code b}. */
    private static Endpoint endpoint(DeviceSlot s, Trb trb, int a, int b) {
        Endpoint ep = s.endpoint(trb.endpointId());
        if (ep == null || (ep.state != a && ep.state != b)) throw new Failed(CONTEXT_STATE_ERROR);
        return ep;
    }

    private long inputContext(Trb trb, int contexts) {
        long in = trb.parameter() & ~0xFL;
        if (!host.dma().valid(in, (long) contexts * host.contexts().size())) throw new Failed(TRB_ERROR);
        return in;
    }

    // ---------------------------------------------------------------- Address Device (§4.6.5)

    private boolean addressDevice(Trb trb, DeviceSlot s) {
        boolean bsr = trb.has(Trb.BSR);
        boolean enabledState = s.state == Contexts.SLOT_STATE_DISABLED;
        if (!(enabledState || (!bsr && s.state == Contexts.SLOT_STATE_DEFAULT))) throw new Failed(CONTEXT_STATE_ERROR);
        Dma dma = host.dma();
        Contexts cx = host.contexts();
        long in = inputContext(trb, 3);
        int add = dma.readU32(in + 4);
        if ((add & 3) != 3) throw new Failed(PARAMETER_ERROR);
        long inSlot = cx.inputSlot(in);
        long inEp0 = cx.inputEndpoint(in, 1);
        int dw0 = dma.readU32(inSlot + Contexts.SLOT_DW0);
        int dw1 = dma.readU32(inSlot + Contexts.SLOT_DW1);
        RootHubPort port = host.port((dw1 >>> 16) & 0xFF);
        if (port == null) throw new Failed(PARAMETER_ERROR);
        long out = dma.readU64(host.dcbaap() + 8L * s.id);
        if ((out & 0x3F) != 0 || out == 0 || !dma.valid(out, cx.deviceContextBytes())) throw new Failed(PARAMETER_ERROR);
        int epDw1 = dma.readU32(inEp0 + Contexts.EP_DW1);
        long dequeue = dma.readU64(inEp0 + Contexts.EP_DEQUEUE);
        if (((epDw1 >>> 3) & 7) != Contexts.EP_TYPE_CONTROL || (dequeue & ~0xFL) == 0 || !dma.valid(dequeue & ~0xFL, Trb.SIZE)) {
            throw new Failed(PARAMETER_ERROR);
        }
        // Devices behind hubs (a route string) do not exist here; a disabled port has nobody to answer.
        if ((dw0 & 0xF_FFFF) != 0 || !port.usable()) throw new Failed(USB_TRANSACTION_ERROR);

        cx.copy(dma, inSlot, cx.deviceSlot(out));
        cx.copy(dma, inEp0, cx.deviceEndpoint(out, 1));
        for (int dci = 1; dci < 32; dci++) dropEndpoint(s, dci);
        s.port = port;
        s.outputContext = out;
        s.interrupter = dma.readU32(inSlot + Contexts.SLOT_DW2) >>> 22;
        s.endpoints[1] = new Endpoint(1, Contexts.EP_TYPE_CONTROL, epDw1 >>> 16, dequeue & ~0xFL, (dequeue & 1) != 0);
        host.saveEndpointContext(s, s.endpoints[1]);
        if (bsr) {
            setSlotState(s, Contexts.SLOT_STATE_DEFAULT, 0);
            return false;
        }
        waiting = trb;
        int address = s.id;
        UsbPacket setAddress = new UsbPacket(0, false, new UsbSetup(0, UsbSetup.SET_ADDRESS, address, 0, 0), new byte[0],
                p -> addressed(trb, s, port, address, p));
        try {
            port.device().handle(setAddress);
        } catch (RuntimeException e) {
            setAddress.complete(UsbPacket.Status.ERROR, 0);     // a device bug: the guest sees a transaction error
        }
        return true;
    }

    private void addressed(Trb trb, DeviceSlot s, RootHubPort port, int address, UsbPacket p) {
        synchronized (host.lock()) {
            if (waiting != trb) return;     // the ring was stopped or the controller reset meanwhile
            waiting = null;
            if (p.status() == UsbPacket.Status.SUCCESS && host.slot(s.id) == s && s.port == port) {
                try {
                    setSlotState(s, Contexts.SLOT_STATE_ADDRESSED, address);
                    post(trb, SUCCESS, s.id);
                } catch (Dma.Fault f) {
                    post(trb, TRB_ERROR, s.id);
                }
            } else {
                post(trb, USB_TRANSACTION_ERROR, s.id);
            }
            process();
        }
    }

    private void setSlotState(DeviceSlot s, int state, int address) {
        s.state = state;
        long dw3 = s.outputContext + Contexts.SLOT_DW3;
        host.dma().writeU32(dw3, state << 27 | (address & 0xFF));
    }

    private void setSlotStateKeepAddress(DeviceSlot s, int state) {
        long dw3 = s.outputContext + Contexts.SLOT_DW3;
        s.state = state;
        host.dma().writeU32(dw3, (host.dma().readU32(dw3) & 0x07FF_FFFF) | state << 27);
    }

    private void dropEndpoint(DeviceSlot s, int dci) {
        Endpoint ep = s.endpoints[dci];
        if (ep == null) return;
        host.transfers().cancel(s, ep, false);
        s.endpoints[dci] = null;
        if (s.outputContext != 0) {
            long dw0 = host.contexts().deviceEndpoint(s.outputContext, dci) + Contexts.EP_DW0;
            host.dma().writeU32(dw0, host.dma().readU32(dw0) & ~7);
        }
    }

    // ---------------------------------------------------------------- Configure Endpoint (§4.6.6)

    private void configureEndpoint(Trb trb, DeviceSlot s) {
        if (s.state != Contexts.SLOT_STATE_ADDRESSED && s.state != Contexts.SLOT_STATE_CONFIGURED) throw new Failed(CONTEXT_STATE_ERROR);
        if (trb.has(Trb.DECONFIGURE)) {
            for (int dci = 2; dci < 32; dci++) dropEndpoint(s, dci);
            setSlotStateKeepAddress(s, Contexts.SLOT_STATE_ADDRESSED);
            return;
        }
        Dma dma = host.dma();
        Contexts cx = host.contexts();
        long in = inputContext(trb, 33);
        int drop = dma.readU32(in) & ~3;
        int add = dma.readU32(in + 4) & ~2;
        // Check every added context before changing anything.
        for (int dci = 2; dci < 32; dci++) {
            if ((add & (1 << dci)) == 0) continue;
            long ctx = cx.inputEndpoint(in, dci);
            int type = (dma.readU32(ctx + Contexts.EP_DW1) >>> 3) & 7;
            long dequeue = dma.readU64(ctx + Contexts.EP_DEQUEUE) & ~0xFL;
            boolean inType = type >= Contexts.EP_TYPE_ISOCH_IN;
            if (type == 0 || type == Contexts.EP_TYPE_CONTROL || inType != ((dci & 1) == 1)
                    || dequeue == 0 || !dma.valid(dequeue, Trb.SIZE)) {
                throw new Failed(PARAMETER_ERROR);
            }
        }
        for (int dci = 2; dci < 32; dci++) {
            if ((drop & (1 << dci)) != 0 || (add & (1 << dci)) != 0) dropEndpoint(s, dci);
        }
        for (int dci = 2; dci < 32; dci++) {
            if ((add & (1 << dci)) == 0) continue;
            long ctx = cx.inputEndpoint(in, dci);
            cx.copy(dma, ctx, cx.deviceEndpoint(s.outputContext, dci));
            int dw1 = dma.readU32(ctx + Contexts.EP_DW1);
            long dequeue = dma.readU64(ctx + Contexts.EP_DEQUEUE);
            s.endpoints[dci] = new Endpoint(dci, (dw1 >>> 3) & 7, dw1 >>> 16, dequeue & ~0xFL, (dequeue & 1) != 0);
            host.saveEndpointContext(s, s.endpoints[dci]);
        }
        if ((add & 1) != 0) {
            // Context Entries (slot DW0 bits 31:27) follows the input Slot Context.
            long outDw0 = s.outputContext + Contexts.SLOT_DW0;
            int entries = dma.readU32(cx.inputSlot(in) + Contexts.SLOT_DW0) & 0xF800_0000;
            dma.writeU32(outDw0, (dma.readU32(outDw0) & 0x07FF_FFFF) | entries);
        }
        boolean any = false;
        for (int dci = 2; dci < 32; dci++) any |= s.endpoints[dci] != null;
        setSlotStateKeepAddress(s, any ? Contexts.SLOT_STATE_CONFIGURED : Contexts.SLOT_STATE_ADDRESSED);
    }

    // ---------------------------------------------------------------- Evaluate Context (§4.6.7)

    private void evaluateContext(Trb trb, DeviceSlot s) {
        if (s.state == Contexts.SLOT_STATE_DISABLED) throw new Failed(CONTEXT_STATE_ERROR);
        Dma dma = host.dma();
        Contexts cx = host.contexts();
        long in = inputContext(trb, 3);
        int add = dma.readU32(in + 4);
        if ((add & 1) != 0) {
            long inSlot = cx.inputSlot(in);
            long out = s.outputContext;
            int latency = dma.readU32(inSlot + Contexts.SLOT_DW1) & 0xFFFF;
            dma.writeU32(out + Contexts.SLOT_DW1, (dma.readU32(out + Contexts.SLOT_DW1) & ~0xFFFF) | latency);
            int target = dma.readU32(inSlot + Contexts.SLOT_DW2) & 0xFFC0_0000;
            dma.writeU32(out + Contexts.SLOT_DW2, (dma.readU32(out + Contexts.SLOT_DW2) & 0x003F_FFFF) | target);
            s.interrupter = target >>> 22;
        }
        if ((add & 2) != 0) {
            int mps = dma.readU32(cx.inputEndpoint(in, 1) + Contexts.EP_DW1) & 0xFFFF_0000;
            long outDw1 = cx.deviceEndpoint(s.outputContext, 1) + Contexts.EP_DW1;
            dma.writeU32(outDw1, (dma.readU32(outDw1) & 0xFFFF) | mps);
            if (s.endpoints[1] != null) s.endpoints[1].maxPacket = mps >>> 16;
        }
    }

    // ---------------------------------------------------------------- Reset Device (§4.6.11)

    private void resetDevice(DeviceSlot s) {
        if (s.state != Contexts.SLOT_STATE_ADDRESSED && s.state != Contexts.SLOT_STATE_CONFIGURED) throw new Failed(CONTEXT_STATE_ERROR);
        for (int dci = 2; dci < 32; dci++) dropEndpoint(s, dci);
        Endpoint ep0 = s.endpoints[1];
        if (ep0 != null) host.transfers().cancel(s, ep0, false);
        if (s.port != null && s.port.device() != null) s.port.device().reset();
        setSlotState(s, Contexts.SLOT_STATE_DEFAULT, 0);
        long dw0 = host.contexts().deviceSlot(s.outputContext) + Contexts.SLOT_DW0;
        host.dma().writeU32(dw0, (host.dma().readU32(dw0) & 0x07FF_FFFF) | 1 << 27);   // Context Entries: EP0 only
    }
}
