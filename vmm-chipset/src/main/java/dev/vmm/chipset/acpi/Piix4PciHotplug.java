package dev.vmm.chipset.acpi;

import dev.vmm.chipset.bus.BusDevice;

/**
 * QEMU's ACPI PCI hot-plug register block of the {@code pc} machine (QEMU
 * {@code docs/specs/acpi_pci_hotplug.rst}; QEMU 7.2's layout, checked by
 * {@code Piix4PciHotplugQemuOracleTest}), 0x18 bytes of I/O at {@link #BASE}, dword accesses only:
 *
 * <pre>
 *  0x00 PCIU  read: slots with a device added, not yet announced (reading clears them)
 *  0x04 PCID  read: slots whose device the host wants removed
 *  0x08 B0EJ  write: eject the devices of these slots (_EJ0); read: feature bits (none)
 *  0x0c PCRM  read: slots whose device may be removed (_RMV / which Sxx objects act)
 *  0x10 BNUM  read/write: bus selector for the registers above (0 = bus 0)
 *  0x14 PIDX  read: ACPI index of the slot written there (none here: 0)
 * </pre>
 *
 * Only bus 0 is hot-pluggable here (devices behind PCI bridges are not, as RHEL 7 documents): with
 * any other selector PCIU/PCID/PCRM read 0 and ejects are ignored (QEMU 7.2 also serves bridges).
 * A slot holding a chipset function or a bridge is not removable. Byte and word accesses read 0
 * and are dropped, as QEMU's.
 *
 * <p>The host side: {@link #plug} (device_add: PCIU bit, then GPE bit 1 → {@code _E01} → {@code PCNT}
 * → Notify(Sxx, 1)), {@link #requestUnplug} (device_del: PCID bit → Notify(Sxx, 3) → the OS runs
 * {@code _EJ0} → B0EJ write → {@link Listener#ejected}). As in QEMU, the guest may also eject a
 * removable device on its own (Windows' "safely remove"); the listener is told either way.
 */
public final class Piix4PciHotplug implements BusDevice {
    public static final int BASE = 0xae00, SIZE = 0x18;
    public static final int PCIU = 0x00, PCID = 0x04, B0EJ = 0x08, PCRM = 0x0c, BNUM = 0x10, PIDX = 0x14;
    /** The GPE0 status bit that announces a PCI hot-plug event ({@code \_GPE._E01}). */
    public static final int GPE_BIT = 1;

    /** What happened on the guest side. Called on the vCPU thread, outside this block's lock: record and return. */
    public interface Listener {
        /** The OS ejected the device in {@code slot} of bus 0; it is gone from the guest's view. */
        void ejected(int slot, boolean requested);
    }

    private final Listener listener;
    private int fixed;          // slots that cannot be removed (chipset functions, bridges)
    private int occupied;       // hot-pluggable slots holding a device
    private int up, down;
    private int selector;

    public Piix4PciHotplug(Listener listener) {
        this.listener = java.util.Objects.requireNonNull(listener, "listener");
    }

    /** A slot whose function is part of the machine (host bridge, ISA bridge, a PCI bridge): never removable. */
    public synchronized void fixedSlot(int slot) {
        fixed |= bit(slot);
        occupied &= ~bit(slot);
    }

    /** A device present at start in {@code slot} (cold-plugged): removable, no event. */
    public synchronized void coldPlugged(int slot) {
        requireFree(slot);
        occupied |= bit(slot);
    }

    /** device_add: the device is in {@code slot}; raise GPE bit {@link #GPE_BIT} afterwards. */
    public synchronized void plug(int slot) {
        requireFree(slot);
        occupied |= bit(slot);
        up |= bit(slot);
        down &= ~bit(slot);
    }

    /** device_del: ask the OS to release the device in {@code slot}; raise GPE bit {@link #GPE_BIT} afterwards. */
    public synchronized void requestUnplug(int slot) {
        if ((occupied & bit(slot)) == 0) throw new IllegalStateException("slot " + slot + " holds no hot-pluggable device");
        down |= bit(slot);
    }

    public synchronized boolean isOccupied(int slot) { return (occupied & bit(slot)) != 0; }

    public synchronized boolean isFixed(int slot) { return (fixed & bit(slot)) != 0; }

    public synchronized boolean unplugRequested(int slot) { return (down & bit(slot)) != 0; }

    /** The saved state: fixed and occupied slots, PCIU (up) and PCID (down) pending, the bus selector. */
    public record State(int fixed, int occupied, int up, int down, int selector) {}

    public synchronized State state() { return new State(fixed, occupied, up, down, selector); }

    /**
     * Puts a saved state back into a block of a machine with the same layout. Refused
     * (IllegalArgumentException, nothing changed) when the fixed slots differ (another machine
     * layout), a fixed slot is occupied, or an announcement/removal is pending for an empty slot.
     */
    public synchronized void restore(State s) {
        if (s.fixed() != fixed) {
            throw new IllegalArgumentException(String.format("fixed slots 0x%08x in the state, 0x%08x here (another machine layout)", s.fixed(), fixed));
        }
        if ((s.occupied() & s.fixed()) != 0) throw new IllegalArgumentException(String.format("fixed slots marked occupied: 0x%08x", s.occupied() & s.fixed()));
        if ((s.down() & ~s.occupied()) != 0) throw new IllegalArgumentException(String.format("removal pending for empty slots 0x%08x", s.down() & ~s.occupied()));
        if ((s.up() & ~s.occupied()) != 0) throw new IllegalArgumentException(String.format("plug pending for empty slots 0x%08x", s.up() & ~s.occupied()));
        occupied = s.occupied();
        up = s.up();
        down = s.down();
        selector = s.selector();
    }

    private void requireFree(int slot) {
        int b = bit(slot);
        if ((fixed & b) != 0) throw new IllegalStateException("slot " + slot + " holds a machine function");
        if ((occupied & b) != 0) throw new IllegalStateException("slot " + slot + " is taken");
    }

    private static int bit(int slot) {
        if (slot < 0 || slot > 31) throw new IllegalArgumentException("slot " + slot);
        return 1 << slot;
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (size != 4) return 0;
        boolean bus0 = selector == 0;
        return switch ((int) offset) {
            case PCIU -> {
                int v = bus0 ? up : 0;
                up = 0;                     // announced once: the GPE handler read it
                yield v & 0xFFFF_FFFFL;
            }
            case PCID -> (bus0 ? down : 0) & 0xFFFF_FFFFL;
            case B0EJ, PIDX -> 0;
            case PCRM -> (bus0 ? ~fixed : 0) & 0xFFFF_FFFFL;
            case BNUM -> selector & 0xFFFF_FFFFL;
            default -> 0;
        };
    }

    @Override
    public void write(long offset, int size, long value) {
        if (size != 4) return;
        int ejected, requested;
        synchronized (this) {
            if (offset == BNUM) {
                selector = (int) value;
                return;
            }
            if (offset != B0EJ || selector != 0) return;
            ejected = (int) value & occupied & ~fixed;
            requested = ejected & down;
            occupied &= ~ejected;
            down &= ~ejected;
            up &= ~ejected;
        }
        for (int slot = 0; slot < 32; slot++) {
            if ((ejected & 1 << slot) != 0) listener.ejected(slot, (requested & 1 << slot) != 0);
        }
    }
}
