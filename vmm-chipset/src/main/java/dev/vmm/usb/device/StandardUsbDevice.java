package dev.vmm.usb.device;

import dev.vmm.usb.SaveableUsbDevice;
import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;
import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/**
 * What every USB device of this VMM shares: the device state machine (Default, Address, Configured),
 * the standard requests of USB 2.0 §9.4 and USB 3.2 §9.4 on endpoint 0, descriptors built from what
 * the subclass declares, endpoint halt, and routing of function-endpoint transfers. A subclass
 * declares its identity, configuration and strings, and handles its class requests and data.
 *
 * <p>Every request the device does not understand, or whose fields are invalid for the current
 * state, is answered with a STALL (USB 2.0 §9.2.7 "Request Error"): the host recovers with the next
 * SETUP. Guest-controlled values never throw out of {@link #handle}.
 *
 * <p>Locking: state is guarded by {@code this}. {@link #handle} runs with the controller's lock held,
 * so completing a packet there is fine; a subclass completing from another thread (an I/O thread, an
 * input event) must complete outside {@code synchronized (this)}, because completion takes the
 * controller's lock.
 */
public abstract class StandardUsbDevice implements SaveableUsbDevice {
    /** Standard feature selectors (USB 2.0 table 9-6, USB 3.2 table 9-7). */
    static final int ENDPOINT_HALT = 0, FUNCTION_SUSPEND = 0, DEVICE_REMOTE_WAKEUP = 1, TEST_MODE = 2,
            U1_ENABLE = 48, U2_ENABLE = 49, LTM_ENABLE = 50;

    private final UsbSpeed speed;
    private final String productName;
    private UsbPort port;
    private UsbDeviceState state = UsbDeviceState.DEFAULT;
    private int address;
    private boolean remoteWakeup;
    private final boolean[] haltedIn = new boolean[16], haltedOut = new boolean[16];

    protected StandardUsbDevice(UsbSpeed speed, String productName) {
        this.speed = speed;
        this.productName = productName;
    }

    // ---- what a device declares ----------------------------------------------------------------

    /** Device descriptor identity (bcdUSB, class, ids, string indexes). */
    protected abstract Descriptors.Identity identity();

    /** The one configuration as it is at {@code speed} (endpoint sizes differ per speed). */
    protected abstract Descriptors.Configuration configuration(UsbSpeed speed);

    /** String descriptors 1..n (index 0 is the language list). */
    protected abstract List<String> strings();

    /** The speed the device's Device Qualifier describes, or null when it works at one speed only. */
    protected UsbSpeed otherSpeed() { return null; }

    /**
     * A class or vendor request, or a standard GET_DESCRIPTOR for an interface's class descriptor
     * (HID report descriptors). Completes {@code p} and returns true, or returns false to STALL.
     */
    protected boolean classRequest(UsbSetup s, UsbPacket p) { return false; }

    /** A transfer on one of the configuration's endpoints, which is not halted. */
    protected abstract void dataTransfer(UsbPacket p, Descriptors.Endpoint ep);

    /** After a reset, detach or a configuration change: forget function state and cancel pending packets. */
    protected abstract void resetFunction();

    /** CLEAR_FEATURE(ENDPOINT_HALT) on {@code ep}: data toggle/sequence reset; BOT uses it for reset recovery. */
    protected void haltCleared(Descriptors.Endpoint ep) {}

    /** Writes the function's own state (after the standard part), under the device's lock. */
    protected abstract void saveFunction(DataOutputStream out) throws IOException;

    /**
     * Reads and checks the function's state, under the device's lock; returns what to apply once
     * everything was read (nothing may change before that: a refused state leaves the device as it was).
     */
    protected abstract Runnable loadFunction(DataInputStream in, int version) throws IOException;

    // ---- state for snapshots and migration -----------------------------------------------------

    @Override
    public int stateVersion() { return 1; }

    /** The standard part (USB state, address, remote wake-up, halted endpoints), then the function's. */
    @Override
    public final synchronized void saveState(DataOutputStream out) throws IOException {
        out.writeByte(state.ordinal());
        out.writeByte(address);
        out.writeBoolean(remoteWakeup);
        out.writeShort(bits(haltedIn));
        out.writeShort(bits(haltedOut));
        saveFunction(out);
    }

    @Override
    public final synchronized void loadState(DataInputStream in, int version) throws IOException {
        if (version < 1 || version > stateVersion()) {
            throw new UsbStateException(productName + ": state version " + version + " (this VMM reads " + (stateVersion() == 1 ? "1" : "1.." + stateVersion()) + ")");
        }
        int st = (int) UsbStateException.check(productName + ": USB device state", in.readUnsignedByte(), 0, 2);
        int addr = (int) UsbStateException.check(productName + ": USB address", in.readUnsignedByte(), 0, 127);
        if ((st == 0) != (addr == 0)) throw new UsbStateException(productName + ": address " + addr + " in state " + UsbDeviceState.values()[st]);
        boolean wake = in.readBoolean();
        int hIn = in.readUnsignedShort(), hOut = in.readUnsignedShort();
        Runnable function = loadFunction(in, version);
        state = UsbDeviceState.values()[st];
        address = addr;
        remoteWakeup = wake;
        for (int i = 0; i < 16; i++) {
            haltedIn[i] = (hIn & 1 << i) != 0;
            haltedOut[i] = (hOut & 1 << i) != 0;
        }
        function.run();
    }

    private static int bits(boolean[] b) {
        int v = 0;
        for (int i = 0; i < b.length; i++) if (b[i]) v |= 1 << i;
        return v;
    }

    // ---- UsbDevice -----------------------------------------------------------------------------

    @Override
    public final UsbSpeed speed() { return speed; }

    @Override
    public final String productName() { return productName; }

    @Override
    public synchronized void attach(UsbPort port) {
        this.port = port;
        toDefault();
    }

    @Override
    public void detach() {
        synchronized (this) {
            port = null;
            state = UsbDeviceState.DEFAULT;
        }
        resetFunction();
    }

    @Override
    public void reset() {
        synchronized (this) {
            toDefault();
        }
        resetFunction();
    }

    private void toDefault() {
        state = UsbDeviceState.DEFAULT;
        address = 0;
        remoteWakeup = false;
        clearHalts();
    }

    private void clearHalts() {
        java.util.Arrays.fill(haltedIn, false);
        java.util.Arrays.fill(haltedOut, false);
    }

    @Override
    public void cancel(UsbPacket packet) {
        packet.complete(UsbPacket.Status.CANCELLED, 0);
    }

    @Override
    public void handle(UsbPacket p) {
        try {
            if (p.endpoint() == 0) {
                control(p);
                return;
            }
            Descriptors.Endpoint ep;
            synchronized (this) {
                ep = state == UsbDeviceState.CONFIGURED ? endpoint(p.endpoint(), p.in()) : null;
                if (ep != null && halted(ep)) ep = null;
            }
            if (ep == null) p.complete(UsbPacket.Status.STALL, 0);
            else dataTransfer(p, ep);
        } catch (RuntimeException e) {
            // A device bug must not take the controller down; the host sees a transaction error.
            p.complete(UsbPacket.Status.ERROR, 0);
        }
    }

    // ---- state for subclasses ------------------------------------------------------------------

    public final synchronized UsbDeviceState state() { return state; }

    public final synchronized int address() { return address; }

    protected final synchronized UsbPort port() { return port; }

    /** The device halts an endpoint itself (BOT: a CBW it cannot accept); the host clears it. */
    protected final synchronized void halt(Descriptors.Endpoint ep) {
        (ep.in() ? haltedIn : haltedOut)[ep.number()] = true;
    }

    protected final synchronized boolean halted(Descriptors.Endpoint ep) {
        return (ep.in() ? haltedIn : haltedOut)[ep.number()];
    }

    /** Tells the port there is data for an IN endpoint with no packet waiting (remote wake-up when suspended). */
    protected final void wakeup(int endpoint) {
        UsbPort p = port();
        if (p != null) p.wakeup(endpoint);
    }

    /** Now on the port's clock (the controller's; the host's while unplugged). */
    protected final long nanoTime() {
        UsbPort p = port();
        return p != null ? p.nanoTime() : System.nanoTime();
    }

    /** Asks the port for a {@link #poll} at {@code deadlineNanos} (see {@link UsbPort#pollAt}). */
    protected final void pollAt(long deadlineNanos) {
        UsbPort p = port();
        if (p != null) p.pollAt(deadlineNanos);
    }

    /** The endpoint of the current configuration with this number and direction, or null. */
    protected final Descriptors.Endpoint endpoint(int number, boolean in) {
        for (Descriptors.Interface i : configuration(speed).interfaces()) {
            for (Descriptors.Endpoint e : i.endpoints()) {
                if (e.number() == number && e.in() == in) return e;
            }
        }
        return null;
    }

    /** Completes a control IN with {@code answer}, cut to wLength and to the buffer (USB 2.0 §9.3.5). */
    protected static boolean reply(UsbPacket p, byte[] answer) {
        int n = Math.min(answer.length, Math.min(p.setup().length(), p.data().length));
        System.arraycopy(answer, 0, p.data(), 0, n);
        p.complete(UsbPacket.Status.SUCCESS, n);
        return true;
    }

    /** Completes a control request without data, or an OUT whose data was consumed. */
    protected static boolean ok(UsbPacket p) {
        p.complete(UsbPacket.Status.SUCCESS, p.in() ? 0 : Math.min(p.data().length, p.setup().length()));
        return true;
    }

    // ---- endpoint 0 ----------------------------------------------------------------------------

    private void control(UsbPacket p) {
        UsbSetup s = p.setup();
        boolean done;
        if (s.type() == UsbSetup.TYPE_STANDARD && !(s.request() == UsbSetup.GET_DESCRIPTOR
                && s.recipient() == UsbSetup.RECIPIENT_INTERFACE)) {
            boolean functionReset;
            Descriptors.Endpoint cleared;
            synchronized (this) {
                done = standard(s, p);
                functionReset = resetFunctionLater;
                cleared = haltClearedLater;
                resetFunctionLater = false;
                haltClearedLater = null;
            }
            // The subclass hooks run outside the state lock (they may complete packets).
            if (functionReset) resetFunction();
            if (cleared != null) haltCleared(cleared);
            if (!done) p.complete(UsbPacket.Status.STALL, 0);
            return;
        } else {
            done = classRequest(s, p);
        }
        if (!done) p.complete(UsbPacket.Status.STALL, 0);
    }

    /** The standard requests (USB 2.0 §9.4); returns false for a Request Error. */
    private boolean standard(UsbSetup s, UsbPacket p) {
        int recipient = s.recipient();
        return switch (s.request()) {
            case UsbSetup.GET_DESCRIPTOR -> s.in() && recipient == UsbSetup.RECIPIENT_DEVICE && descriptor(s, p);
            case UsbSetup.SET_ADDRESS -> setAddress(s, p);
            case UsbSetup.GET_CONFIGURATION -> s.in() && recipient == UsbSetup.RECIPIENT_DEVICE && s.value() == 0
                    && s.index() == 0 && state != UsbDeviceState.DEFAULT
                    && reply(p, new byte[] {(byte) (state == UsbDeviceState.CONFIGURED ? configuration(speed).value() : 0)});
            case UsbSetup.SET_CONFIGURATION -> setConfiguration(s, p);
            case UsbSetup.GET_STATUS -> getStatus(s, p);
            case UsbSetup.CLEAR_FEATURE, UsbSetup.SET_FEATURE -> feature(s, p, s.request() == UsbSetup.SET_FEATURE);
            case UsbSetup.GET_INTERFACE -> s.in() && recipient == UsbSetup.RECIPIENT_INTERFACE && s.value() == 0
                    && state == UsbDeviceState.CONFIGURED && hasInterface(s.index()) && reply(p, new byte[1]);
            case UsbSetup.SET_INTERFACE -> !s.in() && recipient == UsbSetup.RECIPIENT_INTERFACE && s.length() == 0
                    && state == UsbDeviceState.CONFIGURED && hasInterface(s.index()) && s.value() == 0 && resetInterface(p);
            case UsbSetup.SET_SEL -> speed.superSpeed() && !s.in() && recipient == UsbSetup.RECIPIENT_DEVICE
                    && s.value() == 0 && s.index() == 0 && s.length() == 6 && p.data().length >= 6
                    && state != UsbDeviceState.DEFAULT && ok(p);
            case UsbSetup.SET_ISOCH_DELAY -> speed.superSpeed() && !s.in() && recipient == UsbSetup.RECIPIENT_DEVICE
                    && s.index() == 0 && s.length() == 0 && ok(p);
            default -> false; // SET_DESCRIPTOR, SYNCH_FRAME (no isochronous endpoints), unknown
        };
    }

    private boolean descriptor(UsbSetup s, UsbPacket p) {
        int type = s.value() >>> 8, index = s.value() & 0xff;
        Descriptors.Identity id = identity();
        UsbSpeed other = otherSpeed();
        return switch (type) {
            case Descriptors.DEVICE -> index == 0 && reply(p, Descriptors.device(id, speed.controlMaxPacket == 512 ? 9 : speed.controlMaxPacket, 1));
            case Descriptors.CONFIGURATION -> index == 0 && reply(p, Descriptors.configuration(configuration(speed), Descriptors.CONFIGURATION));
            case Descriptors.STRING -> string(index, s.index(), p);
            case Descriptors.DEVICE_QUALIFIER -> index == 0 && other != null
                    && reply(p, Descriptors.deviceQualifier(id, other.controlMaxPacket, 1));
            case Descriptors.OTHER_SPEED_CONFIGURATION -> index == 0 && other != null
                    && reply(p, Descriptors.configuration(configuration(other), Descriptors.OTHER_SPEED_CONFIGURATION));
            case Descriptors.BOS -> index == 0 && id.bcdUsb() >= 0x0201 && reply(p, bos());
            default -> false;
        };
    }

    /**
     * The BOS: LPM in the USB 2.0 extension for a SuperSpeed device; SuperSpeed capability when it
     * is one, with exit latencies U1 10 µs and U2 32 µs as QEMU's usb-storage
     * ({@code UsbStorageXhciQemuOracleTest} compares; ours said 2047 µs for U2 before).
     */
    protected byte[] bos() {
        return Descriptors.bos(speed.superSpeed(), speed.superSpeed(), 1, 0x0a, 0x0020);
    }

    private boolean string(int index, int langId, UsbPacket p) {
        if (index == 0) return reply(p, Descriptors.languages());
        List<String> strings = strings();
        if (index > strings.size() || langId != Descriptors.LANGID_EN_US) return false;
        return reply(p, Descriptors.string(strings.get(index - 1)));
    }

    private boolean setAddress(UsbSetup s, UsbPacket p) {
        if (s.in() || s.recipient() != UsbSetup.RECIPIENT_DEVICE || s.index() != 0 || s.length() != 0
                || s.value() > 127 || state == UsbDeviceState.CONFIGURED) {
            return false;
        }
        address = s.value();
        state = address == 0 ? UsbDeviceState.DEFAULT : UsbDeviceState.ADDRESS;
        return ok(p);
    }

    private boolean setConfiguration(UsbSetup s, UsbPacket p) {
        if (s.in() || s.recipient() != UsbSetup.RECIPIENT_DEVICE || s.index() != 0 || s.length() != 0
                || state == UsbDeviceState.DEFAULT) {
            return false;
        }
        int v = s.value() & 0xff;
        if (v != 0 && v != configuration(speed).value()) return false;
        state = v == 0 ? UsbDeviceState.ADDRESS : UsbDeviceState.CONFIGURED;
        clearHalts();
        // Pending function transfers belong to the old configuration.
        resetFunctionLater = true;
        return ok(p);
    }

    /** Set by a standard request under the lock; {@link #control} then runs the subclass hook. */
    private boolean resetFunctionLater;
    private Descriptors.Endpoint haltClearedLater;

    private boolean resetInterface(UsbPacket p) {
        clearHalts();
        resetFunctionLater = true;
        return ok(p);
    }

    private boolean getStatus(UsbSetup s, UsbPacket p) {
        if (!s.in() || s.value() != 0 || s.length() != 2 || state == UsbDeviceState.DEFAULT) return false;
        Descriptors.Configuration c = configuration(speed);
        int status;
        switch (s.recipient()) {
            case UsbSetup.RECIPIENT_DEVICE -> {
                if (s.index() != 0) return false;
                status = (c.selfPowered() ? 1 : 0) | (remoteWakeup ? 2 : 0);
            }
            case UsbSetup.RECIPIENT_INTERFACE -> {
                if (state != UsbDeviceState.CONFIGURED || !hasInterface(s.index())) return false;
                status = 0;
            }
            case UsbSetup.RECIPIENT_ENDPOINT -> {
                Descriptors.Endpoint ep = endpointOf(s.index());
                if (ep == null && (s.index() & 0x7f) != 0) return false;
                status = ep != null && halted(ep) ? 1 : 0;
            }
            default -> { return false; }
        }
        return reply(p, new byte[] {(byte) status, 0});
    }

    private boolean feature(UsbSetup s, UsbPacket p, boolean set) {
        if (s.in() || s.length() != 0 || state == UsbDeviceState.DEFAULT) return false;
        switch (s.recipient()) {
            case UsbSetup.RECIPIENT_DEVICE -> {
                if (s.value() == DEVICE_REMOTE_WAKEUP && configuration(speed).remoteWakeup()) {
                    remoteWakeup = set;
                    return ok(p);
                }
                // U1/U2/LTM enables only matter to link power management, which this bus does not model.
                boolean ssLinkFeature = s.value() == U1_ENABLE || s.value() == U2_ENABLE || s.value() == LTM_ENABLE;
                return speed.superSpeed() && ssLinkFeature && state == UsbDeviceState.CONFIGURED && ok(p);
            }
            case UsbSetup.RECIPIENT_INTERFACE -> {
                // SuperSpeed FUNCTION_SUSPEND: accepted, the function has nothing to suspend.
                return speed.superSpeed() && s.value() == FUNCTION_SUSPEND && state == UsbDeviceState.CONFIGURED
                        && hasInterface(s.index() & 0xff) && ok(p);
            }
            case UsbSetup.RECIPIENT_ENDPOINT -> {
                if (s.value() != ENDPOINT_HALT) return false;
                if ((s.index() & 0x7f) == 0) return ok(p); // endpoint 0 clears itself with the next SETUP
                Descriptors.Endpoint ep = endpointOf(s.index());
                if (ep == null || state != UsbDeviceState.CONFIGURED) return false;
                (ep.in() ? haltedIn : haltedOut)[ep.number()] = set;
                if (!set) haltClearedLater = ep;
                return ok(p);
            }
            default -> { return false; }
        }
    }

    private Descriptors.Endpoint endpointOf(int wIndex) {
        if ((wIndex & ~0x8f) != 0 || (wIndex & 0x0f) == 0 || state != UsbDeviceState.CONFIGURED) return null;
        return endpoint(wIndex & 0x0f, (wIndex & 0x80) != 0);
    }

    private boolean hasInterface(int number) {
        for (Descriptors.Interface i : configuration(speed).interfaces()) {
            if (i.number() == number) return true;
        }
        return false;
    }
}
