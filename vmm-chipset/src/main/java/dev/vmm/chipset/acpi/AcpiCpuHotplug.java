package dev.vmm.chipset.acpi;

import dev.vmm.chipset.bus.BusDevice;
import java.util.Objects;

/**
 * QEMU's "modern" ACPI CPU hot-plug register block (QEMU docs/specs/acpi_cpu_hotplug.rst), 12 bytes
 * of I/O at 0x0cd8 on q35 (ICH9-LPC) and 0xaf00 on pc (PIIX-PM). The DSDT's {@code \_SB.CPUS}
 * methods drive it: they select a CPU by index, read its status flags, acknowledge insert/remove
 * events, eject it and report {@code _OST} results.
 *
 * <pre>
 *  offset  write                          read
 *  0 (4)   CPU selector                   command data 2 (cmd 3: APIC id bits 63..32, else 0)
 *  4 (1)   control: bit1 clear insert,    status: bit0 enabled, bit1 insert event,
 *          bit2 clear remove, bit3 eject,         bit2 remove event, bit4 firmware eject request
 *          bit4 hand eject to firmware
 *  5 (1)   command: 0 next CPU with event, 1 OST event, 2 OST status, 3 arch id
 *  8 (4)   command data (cmd 1/2: OST)    command data (cmd 0: selector, cmd 3: APIC id bits 31..0)
 * </pre>
 *
 * A selector outside {@code [0, possible CPUs)} makes every read return 0 and every write other than
 * to the selector be ignored, as the spec says; the guest cannot make this class throw. The VMM calls
 * {@link #plug} / {@link #requestUnplug} and then raises the GPE (bit 2 of GPE0 in QEMU's DSDT) so the
 * OS runs {@code CSCN}; {@link Listener#ejected} tells it when the guest has ejected a CPU.
 */
public final class AcpiCpuHotplug implements BusDevice {
    public static final int SIZE = 12;
    public static final int Q35_BASE = 0x0cd8, PIIX_BASE = 0xaf00;
    /** The GPE0 status bit QEMU's DSDT routes to {@code \_SB.CPUS.CSCN} ({@code \_GPE._E02}). */
    public static final int GPE_BIT = 2;

    public static final int SELECTOR_OFFSET = 0, FLAGS_OFFSET = 4, COMMAND_OFFSET = 5, DATA_OFFSET = 8;
    // Status (read) bits at FLAGS_OFFSET.
    public static final int STS_ENABLED = 1, STS_INSERT = 1 << 1, STS_REMOVE = 1 << 2, STS_FW_EJECT = 1 << 4;
    // Control (write) bits at FLAGS_OFFSET.
    public static final int CTL_CLEAR_INSERT = 1 << 1, CTL_CLEAR_REMOVE = 1 << 2, CTL_EJECT = 1 << 3,
            CTL_FW_EJECT = 1 << 4;
    // Commands.
    public static final int CMD_NEXT_EVENT = 0, CMD_OST_EVENT = 1, CMD_OST_STATUS = 2, CMD_ARCH_ID = 3;

    /** What the guest did through the block; called with the device's lock held: record and return. */
    public interface Listener {
        /** The guest ejected CPU {@code index} (its {@code _EJ0}): the VMM may now destroy the vCPU. */
        void ejected(int index);

        /** The guest's {@code _OST} for CPU {@code index} (QEMU sends ACPI_DEVICE_OST). */
        default void ost(int index, int event, int status) {}
    }

    private final long[] archIds;
    private final boolean[] present, inserting, removing, firmwareEject, unplugRequested;
    private final int[] ostEvent, ostStatus;
    private final Listener listener;
    private long selector;   // as written: may be out of range, which disables the other registers
    private int command;

    /**
     * @param archIds  the APIC id of every possible CPU, index = CPU selector (maxcpus entries)
     * @param present  how many CPUs (from index 0) are present at power-on
     */
    public AcpiCpuHotplug(long[] archIds, int present, Listener listener) {
        if (archIds.length == 0 || archIds.length > 1024) throw new IllegalArgumentException("1..1024 possible CPUs: " + archIds.length);
        if (present < 1 || present > archIds.length) throw new IllegalArgumentException("present CPUs 1.." + archIds.length + ": " + present);
        this.archIds = archIds.clone();
        this.listener = Objects.requireNonNull(listener, "listener");
        int n = archIds.length;
        this.present = new boolean[n];
        inserting = new boolean[n];
        removing = new boolean[n];
        firmwareEject = new boolean[n];
        unplugRequested = new boolean[n];
        ostEvent = new int[n];
        ostStatus = new int[n];
        for (int i = 0; i < present; i++) this.present[i] = true;
    }

    public int possibleCpus() { return archIds.length; }

    /** Host side of {@code device_add}: CPU {@code index} becomes present with an insert event. */
    public synchronized void plug(int index) {
        check(index);
        if (present[index]) throw new IllegalStateException("CPU " + index + " is already present");
        present[index] = true;
        inserting[index] = true;
        removing[index] = false;
    }

    /** Host side of {@code device_del}: a remove event the guest answers with {@code _EJ0}. */
    public synchronized void requestUnplug(int index) {
        check(index);
        if (!present[index]) throw new IllegalStateException("CPU " + index + " is not present");
        removing[index] = true;
        unplugRequested[index] = true;
    }

    public synchronized boolean isPresent(int index) { check(index); return present[index]; }

    public synchronized boolean isInserting(int index) { check(index); return inserting[index]; }

    public synchronized boolean isRemoving(int index) { check(index); return removing[index]; }

    /** The last {@code _OST} event and status codes the guest reported for CPU {@code index}. */
    public synchronized int[] ost(int index) { check(index); return new int[] {ostEvent[index], ostStatus[index]}; }

    public synchronized long selector() { return selector; }

    @Override
    public synchronized long read(long offset, int size) {
        int cpu = selected();
        if (cpu < 0) return 0;
        long value = switch ((int) offset) {
            case SELECTOR_OFFSET -> command == CMD_ARCH_ID ? archIds[cpu] >>> 32 : 0;
            case FLAGS_OFFSET -> (present[cpu] ? STS_ENABLED : 0) | (inserting[cpu] ? STS_INSERT : 0)
                    | (removing[cpu] ? STS_REMOVE : 0) | (firmwareEject[cpu] ? STS_FW_EJECT : 0);
            case DATA_OFFSET -> switch (command) {
                case CMD_NEXT_EVENT -> cpu;
                case CMD_ARCH_ID -> archIds[cpu] & 0xffff_ffffL;
                default -> 0;
            };
            default -> 0;   // reserved bytes
        };
        return size >= 8 ? value : value & ((1L << (8 * size)) - 1);
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (offset == SELECTOR_OFFSET) {
            selector = value & 0xffff_ffffL;
            return;
        }
        int cpu = selected();
        if (cpu < 0) return;
        switch ((int) offset) {
            case FLAGS_OFFSET -> control(cpu, (int) value & 0xff);
            case COMMAND_OFFSET -> command(cpu, (int) value & 0xff);
            case DATA_OFFSET -> data(cpu, (int) value);
            default -> { }  // reserved: ignored
        }
    }

    private void control(int cpu, int bits) {
        if ((bits & CTL_CLEAR_INSERT) != 0) inserting[cpu] = false;
        if ((bits & CTL_CLEAR_REMOVE) != 0) removing[cpu] = false;
        if ((bits & CTL_FW_EJECT) != 0 && present[cpu]) firmwareEject[cpu] = true;
        if ((bits & CTL_EJECT) != 0 && present[cpu]) {
            // Only a CPU the host asked to remove (device_del) goes: the guest cannot pull a CPU by
            // itself (e.g. the boot CPU through sysfs), so the VMM never loses a vCPU it did not release.
            if (!unplugRequested[cpu]) return;
            present[cpu] = false;
            // The insert/remove events stay until the guest acknowledges them (CSCN does), as in QEMU 7.2
            // (CpuHotplugRegistersQemuOracleTest: status reads "remove" after an eject before the acknowledge).
            firmwareEject[cpu] = unplugRequested[cpu] = false;
            listener.ejected(cpu);
        }
    }

    private void command(int cpu, int cmd) {
        command = cmd;
        if (cmd != CMD_NEXT_EVENT) return;
        // Search from the current CPU, wrapping, for one with a pending event; none: selector unchanged.
        int n = archIds.length;
        for (int step = 0; step < n; step++) {
            int i = (cpu + step) % n;
            if (inserting[i] || removing[i]) {
                selector = i;
                return;
            }
        }
    }

    private void data(int cpu, int value) {
        if (command == CMD_OST_EVENT) {
            ostEvent[cpu] = value;
        } else if (command == CMD_OST_STATUS) {
            ostStatus[cpu] = value;
            listener.ost(cpu, ostEvent[cpu], value);
        }
    }

    private int selected() {
        return selector < archIds.length ? (int) selector : -1;
    }

    // ------------------------------------------------------------ saved state (snapshots, migration)

    private static final int F_PRESENT = 1, F_INSERT = 2, F_REMOVE = 4, F_FW_EJECT = 8, F_UNPLUG_REQUESTED = 16;

    /**
     * The block's state: per CPU one flag byte (present, insert/remove event pending, firmware
     * eject, host asked to remove) and its last {@code _OST} event and status (8 bytes, big-endian),
     * the selector as written and the last command.
     */
    public record State(byte[] flags, byte[] ost, long selector, int command) {}

    public synchronized State state() {
        int n = archIds.length;
        byte[] flags = new byte[n];
        java.nio.ByteBuffer ost = java.nio.ByteBuffer.allocate(8 * n);
        for (int i = 0; i < n; i++) {
            flags[i] = (byte) ((present[i] ? F_PRESENT : 0) | (inserting[i] ? F_INSERT : 0) | (removing[i] ? F_REMOVE : 0)
                    | (firmwareEject[i] ? F_FW_EJECT : 0) | (unplugRequested[i] ? F_UNPLUG_REQUESTED : 0));
            ost.putInt(ostEvent[i]).putInt(ostStatus[i]);
        }
        return new State(flags, ost.array(), selector, command);
    }

    /**
     * Puts a saved state back. Refused (IllegalArgumentException, nothing changed) when it is for
     * another number of possible CPUs, has undefined flags, an event or request on an absent CPU
     * that cannot have one, or a selector/command no guest write can produce.
     */
    public synchronized void restore(State s) {
        int n = archIds.length;
        if (s.flags().length != n || s.ost().length != 8 * n) {
            throw new IllegalArgumentException("state is for " + s.flags().length + " possible CPUs, this machine has " + n);
        }
        if (s.selector() < 0 || s.selector() > 0xffff_ffffL) throw new IllegalArgumentException("CPU selector " + s.selector());
        if (s.command() < 0 || s.command() > 0xff) throw new IllegalArgumentException("command " + s.command());
        for (int i = 0; i < n; i++) {
            int f = s.flags()[i] & 0xff;
            if ((f & ~(F_PRESENT | F_INSERT | F_REMOVE | F_FW_EJECT | F_UNPLUG_REQUESTED)) != 0) {
                throw new IllegalArgumentException("CPU " + i + ": undefined flags 0x" + Integer.toHexString(f));
            }
            if ((f & F_PRESENT) == 0 && (f & (F_FW_EJECT | F_UNPLUG_REQUESTED)) != 0) {
                throw new IllegalArgumentException("CPU " + i + ": an eject request for an absent CPU");
            }
        }
        java.nio.ByteBuffer ost = java.nio.ByteBuffer.wrap(s.ost());
        for (int i = 0; i < n; i++) {
            int f = s.flags()[i];
            present[i] = (f & F_PRESENT) != 0;
            inserting[i] = (f & F_INSERT) != 0;
            removing[i] = (f & F_REMOVE) != 0;
            firmwareEject[i] = (f & F_FW_EJECT) != 0;
            unplugRequested[i] = (f & F_UNPLUG_REQUESTED) != 0;
            ostEvent[i] = ost.getInt();
            ostStatus[i] = ost.getInt();
        }
        selector = s.selector();
        command = s.command();
    }

    private void check(int index) {
        if (index < 0 || index >= archIds.length) throw new IllegalArgumentException("CPU index 0.." + (archIds.length - 1) + ": " + index);
    }
}
