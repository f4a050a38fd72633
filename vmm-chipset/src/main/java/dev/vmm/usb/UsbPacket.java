package dev.vmm.usb;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One transfer between the host controller and a device: a control transfer on endpoint 0 (with its
 * {@link #setup()}), or a bulk/interrupt transfer on another endpoint. The controller gathers an OUT
 * transfer's bytes from guest memory into {@link #data()} before handing it over, and scatters an IN
 * transfer's first {@link #actualLength()} bytes back after completion, so devices never see guest
 * memory.
 *
 * <p>A device completes each packet exactly once, from any thread and at any later time: at once
 * for a descriptor request, from an I/O thread when a disk read finishes, or when a report exists
 * for an interrupt IN endpoint (a packet with nothing to send yet is simply kept: that is USB's NAK).
 * A second completion is ignored and reported by {@link #complete} returning false.
 */
public final class UsbPacket {
    /** How a transfer ended; the controller maps these to its completion codes. */
    public enum Status {
        /** All or part of the data moved ({@code actualLength} says how much; short IN is fine). */
        SUCCESS,
        /** The device refused the request or the endpoint is halted (xHCI: Stall Error). */
        STALL,
        /** The device sent more than the host asked for (xHCI: Babble Detected). */
        BABBLE,
        /** The transfer failed on the bus or in the device (xHCI: USB Transaction Error). */
        ERROR,
        /** Cancelled by the host before it completed (endpoint stopped or device unplugged). */
        CANCELLED
    }

    private final int endpoint;
    private final boolean in;
    private final UsbSetup setup;
    private final byte[] data;
    private final Consumer<UsbPacket> onComplete;
    private final AtomicBoolean done = new AtomicBoolean();
    private volatile Status status;
    private volatile int actualLength;

    /**
     * @param endpoint   0 for control, 1..15 otherwise
     * @param in         device to host
     * @param setup      the SETUP stage for endpoint 0, else null
     * @param data       OUT: the bytes to send; IN: a buffer of the requested length
     * @param onComplete called once, on the completing thread
     */
    public UsbPacket(int endpoint, boolean in, UsbSetup setup, byte[] data, Consumer<UsbPacket> onComplete) {
        if (endpoint < 0 || endpoint > 15) throw new IllegalArgumentException("endpoint " + endpoint);
        if ((endpoint == 0) != (setup != null)) throw new IllegalArgumentException("setup only and always on endpoint 0");
        this.endpoint = endpoint;
        this.in = in;
        this.setup = setup;
        this.data = Objects.requireNonNull(data);
        this.onComplete = Objects.requireNonNull(onComplete);
    }

    public int endpoint() { return endpoint; }
    public boolean in() { return in; }
    public UsbSetup setup() { return setup; }
    /** OUT: the host's bytes. IN: where the device writes its answer (at most {@code data().length}). */
    public byte[] data() { return data; }
    public Status status() { return status; }
    public int actualLength() { return actualLength; }
    public boolean completed() { return done.get(); }

    /**
     * Ends the transfer. For IN, {@code length} bytes of {@link #data()} are the answer; a device
     * with more to say than fits completes with {@link Status#BABBLE}. Returns false (and does
     * nothing) if the packet was already completed or cancelled.
     */
    public boolean complete(Status status, int length) {
        if (length < 0 || length > data.length) throw new IllegalArgumentException("length " + length + " of " + data.length);
        if (!done.compareAndSet(false, true)) return false;
        this.actualLength = length;
        this.status = Objects.requireNonNull(status);
        onComplete.accept(this);
        return true;
    }

    @Override
    public String toString() {
        return "UsbPacket[ep" + endpoint + (in ? " in" : " out") + ", " + data.length + " bytes"
                + (setup != null ? ", " + setup : "") + (done.get() ? ", " + status + " " + actualLength : "") + "]";
    }
}
