package dev.vmm.usb;

/**
 * What a device may ask of the root hub port it is plugged into. Implemented by the host controller.
 */
public interface UsbPort {
    /** The port's number as the guest sees it (1-based, xHCI root hub numbering). */
    int number();

    /**
     * The device has data for an interrupt IN endpoint and no packet is pending: for a suspended
     * link this is a remote wake-up request; otherwise the controller may retry the endpoint.
     */
    void wakeup(int endpoint);

    /** The controller's clock (monotonic nanoseconds): the time base of {@link #pollAt}. */
    default long nanoTime() { return System.nanoTime(); }

    /**
     * A device without threads of its own (the HID idle rate) asks to be polled: at or soon after
     * {@code deadlineNanos} the controller calls {@link UsbDevice#poll} from some thread, without
     * its lock. Calls may be merged (an earlier deadline wins; the device asks again from
     * {@code poll} for a later one) and a poll may come early or for nothing: the device checks its
     * own deadline. Never blocks and takes no controller lock, so a device may call it under its own.
     * A port without a clock (a test host) ignores it.
     */
    default void pollAt(long deadlineNanos) {}
}
