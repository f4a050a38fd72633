package dev.vmm.chipset.pci;

/**
 * Told when what an MSI-X vector would deliver changes: the guest rewrote the entry's address or
 * data, or the vector became masked/unmasked (per-vector mask, function mask or MSI-X enable).
 *
 * <p>The VMM keeps one KVM GSI route (+ irqfd) per vector and updates the route here; while a vector
 * is masked the device must signal through {@link MsixTable#trigger} so the pending bit is set
 * instead of an interrupt being injected.
 */
@FunctionalInterface
public interface MsixListener {
    /**
     * @param masked true if the vector cannot deliver now: its mask bit, the function mask, or
     *               MSI-X being disabled
     */
    void vectorChanged(int vector, long address, int data, boolean masked);

    MsixListener NONE = (v, a, d, m) -> { };
}
