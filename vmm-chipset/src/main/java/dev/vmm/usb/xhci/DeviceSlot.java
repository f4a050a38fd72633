package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.function.IntFunction;

/**
 * A Device Slot (xHCI 1.2 §4.5.3): enabled by Enable Slot, bound to a root hub port and an output
 * Device Context by Address Device, with its endpoints by Device Context Index (1..31).
 */
final class DeviceSlot {
    final int id;
    boolean enabled;
    int state = Contexts.SLOT_STATE_DISABLED;   // Enabled reads as 0 (Disabled/Enabled) in the Slot Context
    RootHubPort port;
    long outputContext;
    int interrupter;
    final Endpoint[] endpoints = new Endpoint[32];

    DeviceSlot(int id) {
        this.id = id;
    }

    Endpoint endpoint(int dci) {
        return dci >= 1 && dci <= 31 ? endpoints[dci] : null;
    }

    // ---------------------------------------------------------------- state (snapshots, migration)

    /**
     * What the controller keeps of an enabled slot outside guest memory: its state, port, output
     * context, interrupter target and, per endpoint, type, max packet size, ring position and
     * state. A TD in flight is not saved: its endpoint's dequeue pointer still points at it.
     */
    void save(DataOutputStream out) throws IOException {
        out.writeByte(state);
        out.writeByte(port == null ? 0 : port.number());
        out.writeLong(outputContext);
        out.writeShort(interrupter);
        int n = 0;
        for (Endpoint ep : endpoints) if (ep != null) n++;
        out.writeByte(n);
        for (Endpoint ep : endpoints) {
            if (ep == null) continue;
            out.writeByte(ep.dci);
            out.writeByte(ep.type);
            out.writeShort(ep.maxPacket);
            out.writeLong(ep.ring.dequeue());
            out.writeBoolean(ep.ring.cycle());
            out.writeByte(ep.state);
        }
    }

    /**
     * Reads and checks a saved slot: its output context and the rings of endpoints that can still
     * run must be in guest RAM (an endpoint in the Error state may point anywhere: that is why it
     * stopped), endpoint types must fit their DCI. The action makes this slot that one.
     */
    Runnable load(DataInputStream in, Dma dma, Contexts contexts, IntFunction<RootHubPort> ports) throws IOException {
        String what = "slot " + id + ": ";
        int st = (int) UsbStateException.check(what + "state", in.readUnsignedByte(), Contexts.SLOT_STATE_DISABLED, Contexts.SLOT_STATE_CONFIGURED);
        int portNumber = in.readUnsignedByte();
        RootHubPort p = portNumber == 0 ? null : ports.apply(portNumber);
        if (portNumber != 0 && p == null) throw new UsbStateException(what + "root hub port " + portNumber + " does not exist");
        long out = in.readLong();
        int target = (int) UsbStateException.check(what + "interrupter target", in.readUnsignedShort(), 0, 1023);
        boolean addressed = out != 0;
        if (addressed && ((out & 0x3F) != 0 || !dma.valid(out, contexts.deviceContextBytes()))) {
            throw new UsbStateException(what + "output device context at 0x" + Long.toHexString(out) + " is not in guest RAM");
        }
        if (!addressed && st != Contexts.SLOT_STATE_DISABLED) throw new UsbStateException(what + "state " + st + " without a device context");
        int n = (int) UsbStateException.check(what + "endpoints", in.readUnsignedByte(), 0, addressed ? 31 : 0);
        Endpoint[] eps = new Endpoint[32];
        for (int i = 0; i < n; i++) {
            int dci = (int) UsbStateException.check(what + "endpoint DCI", in.readUnsignedByte(), 1, 31);
            if (eps[dci] != null) throw new UsbStateException(what + "endpoint " + dci + " saved twice");
            int type = (int) UsbStateException.check(what + "endpoint " + dci + " type", in.readUnsignedByte(), 1, 7);
            boolean control = type == Contexts.EP_TYPE_CONTROL;
            if (control != (dci == 1) || (!control && (type >= Contexts.EP_TYPE_ISOCH_IN) != ((dci & 1) == 1))) {
                throw new UsbStateException(what + "endpoint type " + type + " at DCI " + dci);
            }
            int maxPacket = in.readUnsignedShort();
            long dequeue = in.readLong();
            boolean cycle = in.readBoolean();
            int epState = (int) UsbStateException.check(what + "endpoint " + dci + " state", in.readUnsignedByte(), Endpoint.RUNNING, Endpoint.ERROR);
            if ((dequeue & 0xF) != 0 || (epState != Endpoint.ERROR && !dma.valid(dequeue, Trb.SIZE))) {
                throw new UsbStateException(what + "endpoint " + dci + " transfer ring at 0x" + Long.toHexString(dequeue) + " is not in guest RAM");
            }
            Endpoint ep = new Endpoint(dci, type, maxPacket, dequeue, cycle);
            ep.state = epState;
            eps[dci] = ep;
        }
        return () -> {
            System.arraycopy(eps, 0, endpoints, 0, eps.length);
            enabled = true;
            state = st;
            port = p;
            outputContext = out;
            interrupter = target;
        };
    }
}
