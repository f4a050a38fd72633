package dev.vmm.virtio.pci;

/**
 * Where a {@link VirtioPciDevice} tells the VMM that a queue's notify register appeared at, or
 * disappeared from, a guest-physical address. The VMM implements it with KVM ioeventfds
 * (KVM_IOEVENTFD, no datamatch, MMIO) so a driver's kick becomes an eventfd signal instead of an
 * MMIO exit into the VMM; tests use a recorder.
 *
 * <p>Called on the thread that moved the BAR (a vCPU thread programming the BAR or the command
 * register), with the transport's lock held: implementations must not call back into the
 * transport. Every {@code register} is balanced by an {@code unregister} with the same arguments
 * before the address is reused.
 */
public interface NotifyRegistrar {
    /**
     * Queue {@code queue}'s notify register now decodes at {@code gpa}; the driver writes
     * {@code len} bytes there (the 16-bit queue index).
     */
    void register(int queue, long gpa, int len);

    /** The notify register of {@code queue} no longer decodes at {@code gpa}. */
    void unregister(int queue, long gpa, int len);

    NotifyRegistrar NONE = new NotifyRegistrar() {
        @Override public void register(int queue, long gpa, int len) { }
        @Override public void unregister(int queue, long gpa, int len) { }
    };
}
