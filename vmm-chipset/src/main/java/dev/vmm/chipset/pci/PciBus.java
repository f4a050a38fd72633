package dev.vmm.chipset.pci;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One PCI bus segment: 32 device numbers with 8 functions each. The root bus (number 0) hangs off
 * the host bridge and knows the {@link PciPlatform}; every other bus is the secondary side of a
 * {@link PciBridge} and takes its number from that bridge's secondary bus number register, which
 * the guest programs during enumeration.
 *
 * <p>Config cycles are routed like hardware does: an access for this bus's number goes to the
 * addressed function (a type 0 cycle); an access for another number goes to the bridge on this bus
 * whose [secondary, subordinate] range contains it (a type 1 cycle, converted to type 0 by the bridge
 * whose secondary number matches). A cycle nobody claims reads as all ones, the "no device" answer.
 */
public final class PciBus {
    public static final int SLOTS = 32;
    public static final int FUNCTIONS = 8;

    private final PciPlatform platform;      // root only
    private final PciBridge upstream;        // null for the root
    private final AtomicReferenceArray<PciFunction> functions = new AtomicReferenceArray<>(SLOTS * FUNCTIONS);

    private PciBus(PciPlatform platform, PciBridge upstream) {
        this.platform = platform;
        this.upstream = upstream;
    }

    /** The root bus (number 0) of a hierarchy mapping into {@code platform}. */
    public static PciBus root(PciPlatform platform) {
        return new PciBus(Objects.requireNonNull(platform), null);
    }

    /** The secondary bus of {@code bridge}. */
    static PciBus secondaryOf(PciBridge bridge) {
        return new PciBus(null, bridge);
    }

    public boolean isRoot() { return upstream == null; }

    /** The bridge this bus is the secondary side of, or null for the root bus. */
    public PciBridge upstreamBridge() { return upstream; }

    /** The bus number: 0 for the root, else the upstream bridge's secondary bus number register. */
    public int number() {
        return upstream == null ? 0 : upstream.secondaryBusNumber();
    }

    /** The platform this bus maps into, or null while it is not (yet) connected to a root bus. */
    public PciPlatform platform() {
        if (upstream == null) return platform;
        PciFunction f = upstream.function();
        return f == null ? null : f.bus().platform();
    }

    /**
     * Attaches {@code device} as function {@code fn} of device number {@code slot}.
     * Sets the multi-function bit of function 0 when a slot has several functions.
     *
     * @throws IllegalArgumentException if the place is taken or the device is a bridge that would
     *                                  become its own ancestor
     */
    public PciFunction attach(int slot, int fn, PciDevice device) {
        Objects.requireNonNull(device);
        if (slot < 0 || slot >= SLOTS || fn < 0 || fn >= FUNCTIONS) {
            throw new IllegalArgumentException("device " + slot + " function " + fn + " out of range");
        }
        if (device instanceof PciBridge bridge) {
            for (PciBus b = this; b != null; b = b.upstream == null ? null : b.parentBus()) {
                if (b.upstream == bridge) throw new IllegalArgumentException("a bridge cannot sit below itself");
            }
            if (bridge.function() != null) throw new IllegalArgumentException("bridge already attached at " + bridge.function());
        }
        PciFunction function = new PciFunction(this, slot, fn, device);
        synchronized (this) {
            if (!functions.compareAndSet(slot * FUNCTIONS + fn, null, function)) {
                throw new IllegalArgumentException(String.format("slot %02x.%x is taken by %s", slot, fn, functions.get(slot * FUNCTIONS + fn)));
            }
            updateMultiFunction(slot);
        }
        device.attached(function);
        function.refreshBars();     // a device may come with firmware-assigned BARs and decoding on
        return function;
    }

    /** Attaches {@code device} as function 0 of the lowest free device number. */
    public PciFunction attach(PciDevice device) {
        synchronized (this) {
            for (int slot = 0; slot < SLOTS; slot++) {
                if (isSlotEmpty(slot)) return attach(slot, 0, device);
            }
        }
        throw new IllegalStateException("all 32 slots of bus " + number() + " are taken; put a PciBridge in one");
    }

    /** Removes a function (hot-unplug): unmaps its BARs and deasserts its INTx. Returns it, or null. */
    public PciFunction detach(int slot, int fn) {
        PciFunction f = functions.getAndSet(slot * FUNCTIONS + fn, null);
        if (f != null) {
            f.intx().set(false);
            f.unmapAll();
            synchronized (this) { updateMultiFunction(slot); }
        }
        return f;
    }

    private void updateMultiFunction(int slot) {
        PciFunction f0 = functions.get(slot * FUNCTIONS);
        if (f0 == null) return;
        boolean multi = false;
        for (int fn = 1; fn < FUNCTIONS; fn++) multi |= functions.get(slot * FUNCTIONS + fn) != null;
        f0.configSpace().updateBits(PciConfigSpace.HEADER_TYPE, 1, PciConfigSpace.HEADER_TYPE_MULTI_FUNCTION, multi);
    }

    public boolean isSlotEmpty(int slot) {
        for (int fn = 0; fn < FUNCTIONS; fn++) if (functions.get(slot * FUNCTIONS + fn) != null) return false;
        return true;
    }

    /** The function at slot/fn, or null. */
    public PciFunction function(int slot, int fn) {
        if (slot < 0 || slot >= SLOTS || fn < 0 || fn >= FUNCTIONS) return null;
        return functions.get(slot * FUNCTIONS + fn);
    }

    /** All attached functions of this bus in slot/function order. */
    public List<PciFunction> functions() {
        List<PciFunction> out = new ArrayList<>();
        for (int i = 0; i < SLOTS * FUNCTIONS; i++) {
            PciFunction f = functions.get(i);
            if (f != null) out.add(f);
        }
        return out;
    }

    /** This bus's functions and, recursively, those behind its bridges, depth first. */
    public List<PciFunction> allFunctions() {
        List<PciFunction> out = new ArrayList<>();
        for (PciFunction f : functions()) {
            out.add(f);
            if (f.device() instanceof PciBridge bridge) out.addAll(bridge.secondaryBus().allFunctions());
        }
        return out;
    }

    private PciBus parentBus() {
        PciFunction f = upstream.function();
        return f == null ? null : f.bus();
    }

    // ---------------------------------------------------------------- config cycles

    /** The function a config cycle for bus/slot/fn reaches from this bus, or null. */
    PciFunction route(int busNumber, int slot, int fn) {
        if (busNumber == number()) return function(slot, fn);
        for (int i = 0; i < SLOTS * FUNCTIONS; i++) {
            PciFunction f = functions.get(i);
            if (f != null && f.device() instanceof PciBridge bridge && bridge.claims(busNumber)) {
                return bridge.secondaryBus().route(busNumber, slot, fn);
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- BAR decoding through bridges

    /** Whether a BAR at [addr, addr+size) on this bus is reachable from the host. */
    boolean forwards(PciBar.Kind kind, long addr, long size) {
        if (upstream == null) return true;
        PciBus parent = parentBus();
        return parent != null && upstream.forwardsDownstream(kind, addr, size) && parent.forwards(kind, addr, size);
    }

    /** Re-evaluates every BAR on this bus and below (a bridge window or command changed). */
    void refreshBars() {
        for (PciFunction f : functions()) {
            f.refreshBars();
            if (f.device() instanceof PciBridge bridge) bridge.secondaryBus().refreshBars();
        }
    }

    // ---------------------------------------------------------------- INTx

    /**
     * Where INTx pin {@code pin} (1..4) of device {@code slot} on this bus arrives at the root bus,
     * applying the bridge swizzle at each level; null if this bus is not below a root.
     */
    PciInterruptRouter.Target intxTarget(int slot, int pin) {
        if (upstream == null) return new PciInterruptRouter.Target(platform.router(), slot, pin);
        PciFunction bridgeFunction = upstream.function();
        if (bridgeFunction == null) return null;
        return bridgeFunction.bus().intxTarget(bridgeFunction.slot(), PciBridge.swizzle(slot, pin));
    }
}
