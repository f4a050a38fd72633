package dev.vmm.virtio.console;

import java.nio.ByteBuffer;

/**
 * The host end of one console port: where the guest's output goes and where its input comes from.
 *
 * <p><b>Guest → host.</b> {@link #write} is called on the device's serving thread (an I/O or vCPU
 * thread) with bytes the guest wrote to the port. It must not block for long: it takes what it can
 * right now and returns the count. Taking fewer bytes than offered is back-pressure: the device
 * keeps the rest of that guest buffer (the guest's writes then block or fill its queue) and stops
 * the port's output until the backend calls {@link PortHandle#outputReady()}.
 *
 * <p><b>Host → guest.</b> The backend pushes input from its own threads through
 * {@link PortHandle#receive}, which blocks while the port's input buffer is full because the guest
 * has posted no receive buffers (or has not opened the port).
 *
 * <p>Life cycle: {@link #attach} once when the port is added to a device (start reader threads
 * there), {@link #close()} when the port is removed or the device closed.
 */
public interface PortBackend extends AutoCloseable {
    /** The port is live; keep {@code port} to push input and report connection state. */
    void attach(PortHandle port);

    /** Guest output: consume up to {@code data.remaining()} bytes without blocking long; returns the count consumed. */
    int write(ByteBuffer data);

    /** The guest opened ({@code true}) or closed its end of the port. Called on the serving thread. */
    default void guestConnected(boolean open) { }

    /** Stops threads and releases resources; later calls to {@link #write} may be ignored. Never throws. */
    @Override
    void close();
}
