package dev.vmm.chipset.bus;

/**
 * A level- or edge-triggered interrupt line as a device drives it. The VMM wires it to KVM
 * (KVM_IRQ_LINE on the in-kernel irqchip, or an irqfd); tests wire it to a recorder.
 */
public interface InterruptLine {
    /** Drive the line: {@code true} asserts it, {@code false} deasserts it. */
    void set(boolean level);

    /** An edge: assert then deassert. */
    default void pulse() {
        set(true);
        set(false);
    }

    InterruptLine NONE = level -> { };
}
