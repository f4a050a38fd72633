package dev.vmm.usb;

import java.util.concurrent.CompletableFuture;

/**
 * Where USB devices are plugged: the host controller's root hub, as the device side sees it. The
 * controller implements it (its free USB 2 / USB 3 ports by the device's speed); the VMM's option
 * and QMP code hand devices to it without knowing the controller.
 */
public interface UsbDeviceSink {
    /**
     * Connects {@code device} to a free root hub port of its kind (USB 3 for SuperSpeed, USB 2
     * otherwise) and signals the port status change to the guest. Returns the port number; throws
     * {@link IllegalStateException} with a one-line reason when no port is free.
     */
    int plug(UsbDevice device);

    /**
     * Disconnects {@code device} (port status change; pending packets cancelled through
     * {@link UsbDevice#detach}). The future completes once the device is detached.
     */
    CompletableFuture<Void> unplug(UsbDevice device);

    /** The device side's view of a controller's root hub: any free port of the device's kind. */
    static UsbDeviceSink of(UsbHub hub) {
        return new UsbDeviceSink() {
            @Override public int plug(UsbDevice device) { return hub.plug(device, 0); }

            @Override public CompletableFuture<Void> unplug(UsbDevice device) {
                hub.unplug(device); // synchronous: pending packets are cancelled before it returns
                return CompletableFuture.completedFuture(null);
            }
        };
    }
}
