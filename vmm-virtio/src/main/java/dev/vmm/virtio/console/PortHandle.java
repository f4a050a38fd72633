package dev.vmm.virtio.console;

/**
 * What a {@link PortBackend} sees of its port. Thread-safe: meant to be called from backend threads.
 */
public interface PortHandle {
    /** The port number the guest sees (0 is the console, {@code /dev/hvc0}; others {@code /dev/vportXpN}). */
    int id();

    /** The port's name (what the guest shows under {@code /dev/virtio-ports/}), or null. */
    String name();

    /**
     * Queues {@code len} bytes of host input for the guest. Blocks while the port already has its
     * limit of undelivered input (the guest posted no receive buffers or has the port closed).
     *
     * @return false if the port was removed (the bytes are dropped); the backend should stop reading
     */
    boolean receive(byte[] data, int offset, int length) throws InterruptedException;

    /** The host side connected / disconnected (a socket client came or went): PORT_OPEN to the guest. */
    void setHostConnected(boolean connected);

    /** The backend can take output again after a short {@link PortBackend#write}. */
    void outputReady();
}
