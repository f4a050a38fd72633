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

    /**
     * A line wired to nothing. A method, not a constant field: a field would give this interface a
     * static initializer, and the JDK's AOT cache keeps no lambda of an interface that has one and
     * default methods — every {@code InterruptLine} lambda was spun again at each start (#19).
     */
    static InterruptLine none() {
        return level -> { };
    }
}
