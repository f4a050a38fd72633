package dev.vmm.usb;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A USB device whose state snapshots and migration carry: the host controller saves it with the
 * port it is plugged into and loads it into the destination's device on the same port (built from
 * the same command line). The state never holds a packet: a packet a device was keeping (an
 * interrupt IN with nothing to report, a bulk IN waiting for its data) is not in it, and the
 * controller hands the same TD over again after the restore (the TD is still at its ring's dequeue
 * pointer in guest memory).
 */
public interface SaveableUsbDevice extends UsbDevice {
    /** Version of {@link #saveState}'s format; {@link #loadState} reads this one and older ones. */
    int stateVersion();

    /**
     * Waits until no work runs for the device on another thread (a disk command), so that the
     * state is stable and every packet it will complete has been completed. Called with the vCPUs
     * paused and without the controller's lock (completions take it).
     *
     * @return false if the work did not finish within {@code timeoutNanos}
     */
    default boolean quiesce(long timeoutNanos) throws InterruptedException {
        return true;
    }

    /** Writes the state (after {@link #quiesce}). */
    void saveState(DataOutputStream out) throws IOException;

    /**
     * Reads a state written by {@link #saveState} at {@code version}, checking every value: an
     * impossible one is refused with {@link UsbStateException} and the device is left as it was.
     */
    void loadState(DataInputStream in, int version) throws IOException;
}
