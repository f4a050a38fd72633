package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.InterruptLine;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Legacy INTx routing: which IOAPIC input (GSI) each root-bus device/pin drives.
 *
 * <p>Interrupts from behind bridges arrive here already swizzled to the bridge's root slot and pin,
 * so the routing table only ever needs root-bus entries; that is also all an MP table or an ACPI
 * {@code _PRT} for bus 0 must list (the OS applies the same swizzle below bridges).
 *
 * <p>Two ready-made policies:
 * <ul>
 *   <li>{@link #pirq}: the PIIX-style four PIRQ lines, slot S pin P on PIRQ[(S + P - 1) mod 4]
 *       (SeaBIOS/QEMU i440FX layout), each PIRQ wired to one GSI;</li>
 *   <li>{@link #perSlot}: one GSI per root slot whatever the pin, as Firecracker and Cloud Hypervisor
 *       do, so devices never share a level line.</li>
 * </ul>
 * Several sources on one GSI are wire-ORed: the line is high while any of them asserts.
 */
public final class PciInterruptRouter {
    /** Where an INTx ends up on the root bus (after swizzling). */
    record Target(PciInterruptRouter router, int rootSlot, int rootPin) { }

    /**
     * One routing entry: root-bus {@code device} pin {@code pin} (1 = INTA# .. 4 = INTD#) drives
     * IOAPIC input {@code gsi}.
     */
    public record Route(int bus, int device, int pin, int gsi) {
        /** The MP table's "source bus IRQ" for a PCI interrupt entry: device in bits 6:2, pin-1 in bits 1:0. */
        public int mpSourceBusIrq() { return (device << 2) | (pin - 1); }

        /** The ACPI {@code _PRT} address field: device in the high word, any function (0xFFFF). */
        public long acpiAddress() { return ((long) device << 16) | 0xFFFF; }

        /** The ACPI {@code _PRT} pin field: 0 = INTA# .. 3 = INTD#. */
        public int acpiPin() { return pin - 1; }
    }

    /** Maps a root-bus slot (0..31) and pin (1..4) to a GSI. */
    @FunctionalInterface
    public interface Policy {
        int gsi(int slot, int pin);
    }

    private final Policy policy;
    private final IntFunction<InterruptLine> gsiLines;
    private final Map<Integer, InterruptLine> lines = new HashMap<>();
    private final Map<Integer, Set<Object>> asserted = new HashMap<>();

    /**
     * @param policy   slot/pin to GSI
     * @param gsiLines the VMM's line for a GSI (e.g. KVM_IRQ_LINE on the in-kernel IOAPIC); asked once per GSI
     */
    public PciInterruptRouter(Policy policy, IntFunction<InterruptLine> gsiLines) {
        this.policy = Objects.requireNonNull(policy);
        this.gsiLines = Objects.requireNonNull(gsiLines);
    }

    /** PIIX-style routing over four PIRQ lines wired to {@code pirqGsis[0..3]} (PIRQA..PIRQD). */
    public static PciInterruptRouter pirq(IntFunction<InterruptLine> gsiLines, int... pirqGsis) {
        if (pirqGsis.length != 4) throw new IllegalArgumentException("need four PIRQ GSIs, got " + pirqGsis.length);
        int[] gsis = pirqGsis.clone();
        return new PciInterruptRouter((slot, pin) -> gsis[(slot + pin - 1) & 3], gsiLines);
    }

    /** One GSI per root slot: slot S uses {@code gsiBySlot[S]} for all its pins. */
    public static PciInterruptRouter perSlot(IntFunction<InterruptLine> gsiLines, int[] gsiBySlot) {
        if (gsiBySlot.length != PciBus.SLOTS) throw new IllegalArgumentException("need 32 GSIs, got " + gsiBySlot.length);
        int[] gsis = gsiBySlot.clone();
        return new PciInterruptRouter((slot, pin) -> gsis[slot], gsiLines);
    }

    /** The GSI for root-bus {@code slot}'s {@code pin} (1..4). */
    public int gsi(int slot, int pin) {
        if (slot < 0 || slot >= PciBus.SLOTS || pin < 1 || pin > 4) {
            throw new IllegalArgumentException("slot " + slot + " pin " + pin + " out of range");
        }
        return policy.gsi(slot, pin);
    }

    /** The GSI that {@code function}'s INTx reaches (after bridge swizzles), or -1 if it has no pin or no root. */
    public int gsiOf(PciFunction function) {
        int pin = function.configSpace().interruptPin();
        if (pin == 0) return -1;
        Target t = function.bus().intxTarget(function.slot(), pin);
        return t == null ? -1 : gsi(t.rootSlot(), t.rootPin());
    }

    /** Every root-bus entry: 32 slots × 4 pins (an ACPI {@code _PRT} covering hot-plugged slots too). */
    public List<Route> routes() {
        List<Route> out = new ArrayList<>();
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            for (int pin = 1; pin <= 4; pin++) out.add(new Route(0, slot, pin, gsi(slot, pin)));
        }
        return out;
    }

    /**
     * The entries root bus {@code root} actually uses: for each occupied slot, the pins its functions
     * (or, for a bridge, the devices behind it after swizzling) can raise. For the MP table.
     */
    public List<Route> routes(PciBus root) {
        boolean[][] used = new boolean[PciBus.SLOTS][5];
        for (PciFunction f : root.allFunctions()) {
            int pin = f.configSpace().interruptPin();
            if (pin == 0) continue;
            Target t = f.bus().intxTarget(f.slot(), pin);
            if (t != null) used[t.rootSlot()][t.rootPin()] = true;
        }
        List<Route> out = new ArrayList<>();
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            for (int pin = 1; pin <= 4; pin++) {
                if (used[slot][pin]) out.add(new Route(0, slot, pin, gsi(slot, pin)));
            }
        }
        return out;
    }

    /**
     * Writes each function's routed GSI into its interrupt line register (0x3C), as firmware would,
     * for guests booted without firmware that trust the register. GSIs above 254 are left alone.
     */
    public void assignInterruptLines(PciBus root) {
        for (PciFunction f : root.allFunctions()) {
            int gsi = gsiOf(f);
            if (gsi >= 0 && gsi < 0xFF) f.configSpace().setByte(PciConfigSpace.INTERRUPT_LINE, gsi);
        }
    }

    /** Sets {@code source}'s level on the GSI of root {@code slot}/{@code pin}; the GSI is the OR of its sources. */
    synchronized void drive(Object source, int slot, int pin, boolean level) {
        int gsi = gsi(slot, pin);
        Set<Object> sources = asserted.computeIfAbsent(gsi, g -> new HashSet<>());
        boolean before = !sources.isEmpty();
        if (level) sources.add(source);
        else sources.remove(source);
        boolean after = !sources.isEmpty();
        if (before != after) lines.computeIfAbsent(gsi, gsiLines::apply).set(after);
    }

    /** Whether GSI {@code gsi} is currently driven high by some PCI function. */
    public synchronized boolean isAsserted(int gsi) {
        Set<Object> s = asserted.get(gsi);
        return s != null && !s.isEmpty();
    }
}
