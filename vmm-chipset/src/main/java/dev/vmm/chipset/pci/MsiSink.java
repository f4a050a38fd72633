package dev.vmm.chipset.pci;

/**
 * Where message-signalled interrupts leave the device model: the VMM turns them into
 * KVM_SIGNAL_MSI, or (for a vector with an irqfd and a GSI route) writes the irqfd.
 */
@FunctionalInterface
public interface MsiSink {
    /** Deliver {@code vector}'s message: a dword write of {@code data} to {@code address}. */
    void signal(int vector, long address, int data);
}
