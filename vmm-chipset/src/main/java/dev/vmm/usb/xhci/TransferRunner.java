package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;

/**
 * Executes transfer rings (xHCI 1.2 §4.10, §4.11): reads the next TD of an endpoint, gathers its OUT
 * bytes, hands one {@link UsbPacket} to the device, and when the device completes it (at once or
 * later, from any thread) scatters the IN bytes, posts the Transfer Events the TD asked for (IOC,
 * short packets with ISP, Event Data TRBs) and goes on with the next TD.
 *
 * <p>A STALL halts the endpoint (Halted, the dequeue pointer still at the failed TD), as do babble
 * and transaction errors; a refused TRB puts it in the Error state (TRB Error). Both wait for the
 * driver's Reset Endpoint / Set TR Dequeue Pointer.
 *
 * <p>Called with the controller's lock held; the packet completion takes that lock.
 */
final class TransferRunner {
    private static final System.Logger LOG = System.getLogger(TransferRunner.class.getName());

    /** What the runner needs from the controller. */
    interface Host {
        Object lock();

        boolean running();

        Dma dma();

        /** Posts a Transfer Event to {@code interrupter} (clamped to the existing ones). */
        void postEvent(int interrupter, Trb event, boolean blockInterrupt);

        /** Writes the endpoint's state and dequeue pointer into its output Endpoint Context. */
        void saveEndpointContext(DeviceSlot slot, Endpoint ep);
    }

    private final Host host;

    TransferRunner(Host host) {
        this.host = host;
    }

    /**
     * TDs one doorbell (or one completion) runs at most. A guest can build a ring that never ends
     * — a Link TRB without Toggle Cycle back to TDs a device completes at once (No Op TDs, bulk
     * OUT) — which would hold the vCPU in the doorbell write for ever; as QEMU, the walk stops
     * there and the next doorbell goes on from the dequeue pointer.
     */
    static final int MAX_TDS_PER_KICK = 258;   // QEMU 7.2's count per doorbell (XhciEndlessRingTest compares)

    /** A doorbell (or a restart): run TDs until the ring is empty, one is in flight, or {@link #MAX_TDS_PER_KICK}. */
    void ring(DeviceSlot slot, Endpoint ep) {
        if (ep.walking) return;
        ep.walking = true;
        try {
            for (int tds = 0; tds < MAX_TDS_PER_KICK
                    && host.running() && ep.state == Endpoint.RUNNING && ep.td == null && slot.endpoint(ep.dci) == ep; tds++) {
                TransferDescriptor td;
                try {
                    td = TransferDescriptor.read(host.dma(), ep);
                } catch (TransferDescriptor.Invalid e) {
                    refuse(slot, ep, e.trb, e.getMessage());
                    return;
                } catch (Dma.Fault e) {
                    refuse(slot, ep, new Trb(0, 0, 0, ep.ring.dequeue()), "transfer ring at 0x" + Long.toHexString(ep.ring.dequeue()) + " outside RAM");
                    return;
                }
                if (td == null) return;
                start(slot, ep, td);
            }
        } finally {
            ep.walking = false;
        }
    }

    private void refuse(DeviceSlot slot, Endpoint ep, Trb trb, String why) {
        LOG.log(System.Logger.Level.DEBUG, "xHCI slot {0} endpoint {1}: {2}", slot.id, ep.dci, why);
        ep.state = Endpoint.ERROR;
        host.saveEndpointContext(slot, ep);
        transferEvent(slot, ep, trb, CompletionCode.TRB_ERROR, trb.transferLength(), false, trb.interrupterTarget());
    }

    private void start(DeviceSlot slot, Endpoint ep, TransferDescriptor td) {
        if (td.setup == null && !td.movesData()) {
            // No Op (and Event Data) TRBs only: no USB transaction, just their events (§4.11.7).
            ep.ring.set(td.nextDequeue, td.nextCycle);
            reportSuccess(slot, ep, td, 0);
            return;
        }
        byte[] data = td.gather(host.dma());
        UsbPacket packet = new UsbPacket(ep.number(), td.in, td.setup, data, p -> completed(slot, ep, p));
        ep.td = td;
        ep.packet = packet;
        UsbDevice device = slot.port != null && slot.port.usable() ? slot.port.device() : null;
        if (device == null) {
            packet.complete(UsbPacket.Status.ERROR, 0);     // nobody answers: a transaction error
        } else {
            try {
                device.handle(packet);
            } catch (RuntimeException e) {
                // A device bug must not reach the vCPU: the guest sees a transaction error.
                LOG.log(System.Logger.Level.WARNING, "USB device " + device.productName() + " failed a transfer", e);
                packet.complete(UsbPacket.Status.ERROR, 0);
            }
        }
    }

    private void completed(DeviceSlot slot, Endpoint ep, UsbPacket packet) {
        synchronized (host.lock()) {
            if (ep.packet != packet) return;        // stopped, reset or deconfigured meanwhile
            TransferDescriptor td = ep.td;
            ep.packet = null;
            ep.td = null;
            UsbPacket.Status status = packet.status();
            int actual = Math.min(packet.actualLength(), td.dataLength);
            if (status == UsbPacket.Status.SUCCESS) {
                try {
                    if (td.in) td.scatter(host.dma(), packet.data(), actual);
                } catch (Dma.Fault e) {
                    refuse(slot, ep, td.first(), e.getMessage());
                    return;
                }
                ep.ring.set(td.nextDequeue, td.nextCycle);
                reportSuccess(slot, ep, td, td.in ? actual : td.dataLength);
                ring(slot, ep);
            } else {
                int code = switch (status) {
                    case STALL -> CompletionCode.STALL_ERROR;
                    case BABBLE -> CompletionCode.BABBLE_DETECTED;
                    default -> CompletionCode.USB_TRANSACTION_ERROR;
                };
                ep.state = Endpoint.HALTED;
                host.saveEndpointContext(slot, ep);
                reportFailure(slot, ep, td, code, actual);
            }
        }
    }

    /** Events of a TD that moved {@code moved} bytes (fewer than asked: a short packet). */
    private void reportSuccess(DeviceSlot slot, Endpoint ep, TransferDescriptor td, int moved) {
        int remaining = moved;
        int sinceEventData = 0;
        boolean shortSeen = false;
        boolean shortReported = false;
        for (Trb t : td.trbs) {
            switch (t.type()) {
                case Trb.NORMAL, Trb.DATA -> {
                    int len = t.transferLength();
                    int n = shortSeen ? 0 : Math.min(len, remaining);
                    remaining -= n;
                    sinceEventData += n;
                    if (shortSeen) {
                        // The rest of a short TD is skipped; its completion is still reported once.
                        if (!shortReported && t.has(Trb.IOC)) {
                            transferEvent(slot, ep, t, CompletionCode.SHORT_PACKET, len, t.has(Trb.BEI), t.interrupterTarget());
                            shortReported = true;
                        }
                    } else if (n < len) {
                        shortSeen = true;
                        if (t.has(Trb.ISP) || t.has(Trb.IOC)) {
                            transferEvent(slot, ep, t, CompletionCode.SHORT_PACKET, len - n, t.has(Trb.BEI), t.interrupterTarget());
                            shortReported = true;
                        }
                    } else if (t.has(Trb.IOC)) {
                        transferEvent(slot, ep, t, CompletionCode.SUCCESS, 0, t.has(Trb.BEI), t.interrupterTarget());
                    }
                }
                case Trb.EVENT_DATA -> {
                    if (t.has(Trb.IOC)) {
                        int code = shortSeen ? CompletionCode.SHORT_PACKET : CompletionCode.SUCCESS;
                        Trb ev = Trb.event(Trb.TRANSFER_EVENT, t.parameter(), code << 24 | (sinceEventData & 0xFF_FFFF),
                                slot.id << 24 | ep.dci << 16 | 1 << 2 /* ED */);
                        host.postEvent(t.interrupterTarget(), ev, t.has(Trb.BEI));
                        shortReported = true;
                    }
                    sinceEventData = 0;
                }
                case Trb.STATUS -> {
                    shortSeen = false;
                    if (t.has(Trb.IOC)) transferEvent(slot, ep, t, CompletionCode.SUCCESS, 0, t.has(Trb.BEI), t.interrupterTarget());
                }
                default -> {   // Setup, No Op
                    if (t.has(Trb.IOC)) transferEvent(slot, ep, t, CompletionCode.SUCCESS, 0, t.has(Trb.BEI), t.interrupterTarget());
                }
            }
        }
    }

    /** One event for a failed TD, at the TRB where the data stopped (or the Status stage). */
    private void reportFailure(DeviceSlot slot, Endpoint ep, TransferDescriptor td, int code, int moved) {
        Trb at = null;
        int residual = 0;
        int remaining = moved;
        for (Trb t : td.trbs) {
            if (!TransferDescriptor.carriesData(t)) continue;
            int n = Math.min(t.transferLength(), remaining);
            remaining -= n;
            if (n < t.transferLength()) {
                at = t;
                residual = t.transferLength() - n;
                break;
            }
        }
        if (at == null) {
            at = td.trbs.getLast();
            for (Trb t : td.trbs) if (t.type() == Trb.STATUS) at = t;
        }
        transferEvent(slot, ep, at, code, residual, false, at.interrupterTarget());
    }

    private void transferEvent(DeviceSlot slot, Endpoint ep, Trb at, int code, int residual, boolean bei, int interrupter) {
        Trb ev = Trb.event(Trb.TRANSFER_EVENT, at.address(), code << 24 | (residual & 0xFF_FFFF), slot.id << 24 | ep.dci << 16);
        host.postEvent(interrupter, ev, bei);
    }

    /**
     * Stop Endpoint (or a reset/unplug): the TD in flight is given up. The device is told, the
     * dequeue pointer stays at the TD (it runs again after a restart unless the driver moves it),
     * and with {@code report} a Stopped event points at it.
     */
    void cancel(DeviceSlot slot, Endpoint ep, boolean report) {
        UsbPacket p = ep.packet;
        TransferDescriptor td = ep.td;
        ep.packet = null;
        ep.td = null;
        if (p == null) return;
        if (slot.port != null && slot.port.device() != null) slot.port.device().cancel(p);
        if (report) {
            Trb first = td.first();
            transferEvent(slot, ep, first, CompletionCode.STOPPED, first.transferLength(), false, first.interrupterTarget());
        }
    }
}
