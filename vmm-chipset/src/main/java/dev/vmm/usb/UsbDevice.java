package dev.vmm.usb;

/**
 * A USB device as a host controller sees it: it answers control transfers on endpoint 0
 * (standard requests — descriptors, SET_ADDRESS, SET_CONFIGURATION — and its class requests) and
 * bulk/interrupt transfers on its other endpoints. It is a state machine with no access to guest
 * memory; slow work (disk I/O) happens on I/O threads and completes the packet later.
 *
 * <p>Threads: {@link #handle} and {@link #reset} are called with the controller's lock held, from a
 * vCPU thread (doorbell) or an I/O thread; a device must not block there, and must not call back
 * into the controller except through {@link UsbPacket#complete} and {@link UsbPort}.
 */
public interface UsbDevice {
    /** The speed it connects at; decides the root hub port kind (USB 2 or USB 3). */
    UsbSpeed speed();

    /** A short name for listings and errors ("usb-storage", "usb-tablet"). */
    String productName();

    /** Called when plugged into a port, before any transfer; the port outlives nothing but the plug. */
    void attach(UsbPort port);

    /** Unplugged: pending packets are completed as {@link UsbPacket.Status#CANCELLED}. */
    void detach();

    /** Bus or port reset: back to the Default state (address 0, unconfigured), pending packets cancelled. */
    void reset();

    /** Starts a transfer; completes it now or later (see {@link UsbPacket}). */
    void handle(UsbPacket packet);

    /** The host gave up on a packet still pending (Stop Endpoint, Reset Endpoint): complete it as CANCELLED. */
    void cancel(UsbPacket packet);

    /**
     * A deadline the device gave {@link UsbPort#pollAt} may have come ({@code nowNanos} on the
     * port's clock): the device does what was due (an idle report) and asks again for its next one.
     * Called without the controller's lock, like a completion from an I/O thread.
     */
    default void poll(long nowNanos) {}
}
