package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.UsbPort;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One root hub port and its PORTSC register (xHCI 1.2 §4.19, §5.4.8). A USB 3 port enables itself
 * when a device connects (link training ends in U0); a USB 2 port waits, disabled with its link in
 * Polling, until software resets it. Resets complete at once. Change bits (CSC, PEC, WRC, OCC,
 * PRC, PLC, CEC) are write-1-to-clear; when one of them goes from 0 to 1 the controller is told so
 * that it can post a Port Status Change event.
 *
 * <p>Not thread-safe: called with the controller's lock held.
 */
final class RootHubPort implements UsbPort {
    static final int CCS = 1, PED = 1 << 1, OCA = 1 << 3, PR = 1 << 4, PP = 1 << 9, LWS = 1 << 16;
    static final int CSC = 1 << 17, PEC = 1 << 18, WRC = 1 << 19, OCC = 1 << 20, PRC = 1 << 21, PLC = 1 << 22, CEC = 1 << 23;
    static final int CHANGE_BITS = CSC | PEC | WRC | OCC | PRC | PLC | CEC;
    static final int WAKE_BITS = 0x7 << 25;
    static final int WPR = 1 << 31;
    static final int PLS_SHIFT = 5, PLS_MASK = 0xF << PLS_SHIFT;
    static final int SPEED_SHIFT = 10;
    static final int PLS_U0 = 0, PLS_U3 = 3, PLS_DISABLED = 4, PLS_RX_DETECT = 5, PLS_POLLING = 7, PLS_RESUME = 15;

    /** What a port needs from the controller. */
    interface Host {
        /** A change bit was set: USBSTS.PCD and a Port Status Change event. */
        void portChanged(RootHubPort port);

        /** The port's device is reset or gone: the controller cancels what it had in flight for it. */
        void portDeviceReset(RootHubPort port);

        void wakeup(RootHubPort port, int endpoint);

        XhciClock clock();

        /** A poll the port's device asked for is due: call {@code UsbDevice.poll} on whatever device is plugged now. */
        void pollDevice(RootHubPort port);
    }

    private final int number;
    private final boolean superSpeed;
    private final Host host;
    private UsbDevice device;
    private int portsc;
    /** The earliest device poll scheduled and not yet run ({@link Long#MAX_VALUE}: none); merges {@link #pollAt} calls. */
    private final AtomicLong pollArmed = new AtomicLong(Long.MAX_VALUE);

    RootHubPort(int number, boolean superSpeed, Host host) {
        this.number = number;
        this.superSpeed = superSpeed;
        this.host = host;
        reset();
    }

    @Override public int number() { return number; }

    @Override public void wakeup(int endpoint) { host.wakeup(this, endpoint); }

    @Override public long nanoTime() { return host.clock().nanoTime(); }

    /** Lock-free (a device calls it under its own lock): one clock task per earliest deadline. */
    @Override public void pollAt(long deadlineNanos) {
        long armed;
        do {
            armed = pollArmed.get();
            if (armed != Long.MAX_VALUE && armed - deadlineNanos <= 0) return; // an earlier poll comes first; the device asks again then
        } while (!pollArmed.compareAndSet(armed, deadlineNanos));
        host.clock().schedule(Math.max(0, deadlineNanos - nanoTime()), () -> {
            pollArmed.compareAndSet(deadlineNanos, Long.MAX_VALUE);
            host.pollDevice(this);
        });
    }

    boolean superSpeed() { return superSpeed; }

    UsbDevice device() { return device; }

    /** Whether the port is enabled with a device in U0: transfers can reach it. */
    boolean usable() {
        return device != null && (portsc & PED) != 0;
    }

    int portsc() { return portsc; }

    /**
     * Host controller reset: powered, link detecting; a device that stays plugged is seen again
     * (CSC). Like QEMU, an empty port also reads CSC after a reset.
     */
    void reset() {
        portsc = PP | PLS_RX_DETECT << PLS_SHIFT | CSC;
        if (device != null) connect();
    }

    void plug(UsbDevice d) {
        device = d;
        connect();
        host.portChanged(this);
    }

    void unplug() {
        device = null;
        portsc = (portsc & (CHANGE_BITS | WAKE_BITS)) | PP | PLS_RX_DETECT << PLS_SHIFT | CSC;
        host.portChanged(this);
    }

    /** PORTSC as saved; the device on the port is the destination's own (built from the same options). */
    void save(DataOutputStream out) throws IOException {
        out.writeInt(portsc);
    }

    /** Reads a saved PORTSC and checks it against the device plugged here; the action puts it in place. */
    Runnable load(DataInputStream in) throws IOException {
        int v = in.readInt();
        boolean connected = (v & CCS) != 0;
        if (connected != (device != null)) {
            throw new UsbStateException("USB port " + number + (connected ? " has a device in the state and none here"
                    : " has no device in the state and " + device.productName() + " here") + ": start with the same USB devices as the source");
        }
        if (connected && ((v >>> SPEED_SHIFT) & 0xF) != device.speed().xhciSpeedId) {
            throw new UsbStateException("USB port " + number + ": the saved device ran at another speed than " + device.productName());
        }
        if ((v & (PR | WPR | PP)) != PP) throw new UsbStateException("USB port " + number + ": impossible PORTSC 0x" + Integer.toHexString(v));
        return () -> portsc = v;
    }

    private void connect() {
        portsc = (portsc & (CHANGE_BITS | WAKE_BITS)) | PP | CCS | CSC | device.speed().xhciSpeedId << SPEED_SHIFT;
        portsc |= superSpeed ? PED | PLS_U0 << PLS_SHIFT : PLS_POLLING << PLS_SHIFT;
    }

    private int linkState() { return (portsc & PLS_MASK) >>> PLS_SHIFT; }

    private void setLinkState(int pls) { portsc = (portsc & ~PLS_MASK) | pls << PLS_SHIFT; }

    void write(int value) {
        int before = portsc;
        portsc &= ~(value & CHANGE_BITS);
        portsc = (portsc & ~WAKE_BITS) | (value & WAKE_BITS);
        if ((value & (PR | WPR)) != 0) {
            resetPort((value & WPR) != 0 && superSpeed);
        } else if ((value & PED) != 0 && (portsc & PED) != 0) {
            // Software disables the port; the device stays connected.
            portsc &= ~PED;
            if (superSpeed) setLinkState(PLS_DISABLED);
            else setLinkState(PLS_POLLING);
            host.portDeviceReset(this);
        }
        if ((value & LWS) != 0 && device != null) writeLinkState((value & PLS_MASK) >>> PLS_SHIFT);
        if ((portsc & ~before & CHANGE_BITS) != 0) host.portChanged(this);
    }

    private void resetPort(boolean warm) {
        if (device == null) return;
        host.portDeviceReset(this);
        device.reset();
        portsc |= PED | PRC | (warm ? WRC : 0);
        setLinkState(PLS_U0);
    }

    /** Link State Write Strobe: suspend (U3), resume (to U0), or a USB 3 port sent to RxDetect. */
    private void writeLinkState(int pls) {
        int current = linkState();
        switch (pls) {
            case PLS_U3 -> { if ((portsc & PED) != 0) setLinkState(PLS_U3); }
            case PLS_U0, PLS_RESUME -> {
                if (current == PLS_U3) {
                    setLinkState(PLS_U0);
                    portsc |= PLC;
                }
            }
            case PLS_RX_DETECT -> {
                if (superSpeed) {
                    portsc &= ~PED;
                    setLinkState(PLS_RX_DETECT);
                    host.portDeviceReset(this);
                }
            }
            default -> { }   // other targets are not software-writable (§5.4.8 table 5-27)
        }
    }

    /** A device wake-up on a suspended link: resume signalling ends in U0 with PLC (§4.15.2). */
    boolean remoteWake() {
        if (device == null || linkState() != PLS_U3) return false;
        setLinkState(PLS_U0);
        portsc |= PLC;
        host.portChanged(this);
        return true;
    }
}
