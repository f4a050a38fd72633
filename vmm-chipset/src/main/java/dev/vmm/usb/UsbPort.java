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
}
