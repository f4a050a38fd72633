package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbDevice;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.UsbSpeed;

import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * A small USB device for the controller tests: standard requests on endpoint 0 (GET_DESCRIPTOR
 * for its device and configuration descriptors, SET_ADDRESS, SET_CONFIGURATION), bulk OUT on
 * endpoint 1 (bytes recorded), bulk IN on endpoint 2 (answers queued by the test; STALL when a
 * stall is armed), interrupt IN on endpoint 3 (held — a NAK — until the test sends a report, from
 * any thread).
 */
final class FakeUsbDevice implements UsbDevice {
    static final int BULK_OUT = 1, BULK_IN = 2, INTERRUPT_IN = 3;

    final UsbSpeed speed;
    final List<UsbSetup> setups = new ArrayList<>();
    final ByteArrayOutputStream bulkOut = new ByteArrayOutputStream();
    final Deque<byte[]> bulkInAnswers = new ArrayDeque<>();
    final List<UsbPacket> cancelled = new ArrayList<>();
    UsbPort port;
    int address;
    int configuration;
    int resets;
    boolean stallBulkIn;
    boolean stallControl;
    /** Set: SET_ADDRESS is held until the test completes it. */
    boolean holdSetAddress;
    UsbPacket held;
    private UsbPacket interruptPending;

    FakeUsbDevice(UsbSpeed speed) {
        this.speed = speed;
    }

    static byte[] deviceDescriptor(UsbSpeed speed) {
        int mps0 = speed.superSpeed() ? 9 : speed.controlMaxPacket;
        return new byte[] {18, 1, 0x00, (byte) (speed.superSpeed() ? 3 : 2), 0, 0, 0, (byte) mps0,
                0x34, 0x12, 0x78, 0x56, 0x01, 0x00, 1, 2, 0, 1};
    }

    static byte[] configDescriptor() {
        return new byte[] {9, 2, 39, 0, 1, 1, 0, (byte) 0x80, 50,
                9, 4, 0, 0, 3, (byte) 0xFF, 0, 0, 0,
                7, 5, 0x01, 2, 0, 2, 0,
                7, 5, (byte) 0x82, 2, 0, 2, 0,
                7, 5, (byte) 0x83, 3, 8, 0, 10};
    }

    /** The times {@link #poll} was called with. */
    final List<Long> polls = new ArrayList<>();

    @Override public synchronized void poll(long nowNanos) { polls.add(nowNanos); }

    @Override public UsbSpeed speed() { return speed; }
    @Override public String productName() { return "fake-usb"; }
    @Override public synchronized void attach(UsbPort port) { this.port = port; }
    @Override public synchronized void detach() { port = null; cancelAll(); }

    @Override
    public synchronized void reset() {
        resets++;
        address = 0;
        configuration = 0;
        cancelAll();
    }

    private void cancelAll() {
        if (interruptPending != null) interruptPending.complete(UsbPacket.Status.CANCELLED, 0);
        interruptPending = null;
    }

    @Override
    public void handle(UsbPacket p) {
        UsbPacket now = null;
        UsbPacket.Status status = UsbPacket.Status.SUCCESS;
        int length = 0;
        synchronized (this) {
            switch (p.endpoint()) {
                case 0 -> {
                    UsbSetup s = p.setup();
                    setups.add(s);
                    if (stallControl) {
                        status = UsbPacket.Status.STALL;
                    } else if (s.request() == UsbSetup.SET_ADDRESS) {
                        if (holdSetAddress) {
                            held = p;
                            return;
                        }
                        address = s.value();
                    } else if (s.request() == UsbSetup.SET_CONFIGURATION) {
                        configuration = s.value();
                    } else if (s.request() == UsbSetup.GET_DESCRIPTOR && s.in()) {
                        byte[] d = switch (s.value() >>> 8) {
                            case 1 -> deviceDescriptor(speed);
                            case 2 -> configDescriptor();
                            default -> null;
                        };
                        if (d == null) status = UsbPacket.Status.STALL;
                        else length = copy(d, p);
                    } else {
                        status = UsbPacket.Status.STALL;
                    }
                }
                case BULK_OUT -> {
                    bulkOut.write(p.data(), 0, p.data().length);
                    length = p.data().length;
                }
                case BULK_IN -> {
                    if (stallBulkIn) {
                        stallBulkIn = false;
                        status = UsbPacket.Status.STALL;
                    } else {
                        byte[] a = bulkInAnswers.poll();
                        length = a == null ? 0 : copy(a, p);
                    }
                }
                case INTERRUPT_IN -> {
                    interruptPending = p;        // NAK until a report comes
                    return;
                }
                default -> status = UsbPacket.Status.STALL;
            }
            now = p;
        }
        now.complete(status, length);
    }

    private static int copy(byte[] src, UsbPacket p) {
        int n = Math.min(src.length, p.data().length);
        System.arraycopy(src, 0, p.data(), 0, n);
        return n;
    }

    /** Completes the pending interrupt IN packet with {@code report}; false if none is pending. */
    boolean sendReport(byte[] report) {
        UsbPacket p;
        synchronized (this) {
            p = interruptPending;
            interruptPending = null;
        }
        if (p == null) return false;
        System.arraycopy(report, 0, p.data(), 0, Math.min(report.length, p.data().length));
        return p.complete(UsbPacket.Status.SUCCESS, Math.min(report.length, p.data().length));
    }

    synchronized boolean interruptPending() { return interruptPending != null; }

    @Override
    public synchronized void cancel(UsbPacket p) {
        cancelled.add(p);
        if (p == interruptPending) interruptPending = null;
        p.complete(UsbPacket.Status.CANCELLED, 0);
    }
}
