package dev.vmm.chipset.firmware;

import dev.vmm.chipset.apic.ApicAddresses;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * An Intel MultiProcessor Specification 1.4 table: the 16-byte floating pointer structure ("_MP_")
 * immediately followed by the configuration table ("PCMP") and its entries, built as one byte
 * image for a given guest-physical address. Guests without ACPI (and Linux with {@code acpi=off})
 * find the CPUs, the IOAPIC and the ISA/PCI interrupt routing here.
 *
 * <p>Linux looks for the floating pointer in the first KiB of the EBDA, the last KiB of base
 * memory and the BIOS area 0xf0000-0xfffff; 0xf0000 is the natural home since the table grows by
 * 20 bytes per CPU. The area must be reserved (not RAM) in the E820 map.
 *
 * <p>What is described: one processor entry per vCPU (the first is the bootstrap processor), PCI
 * bus 0 (and any other PCI bus a route names) and an ISA bus, one IOAPIC, ISA IRQs 0, 1 and 3-15 on
 * IOAPIC pins as on a PC (IRQ 0 on pin 2, the rest identity-mapped; IRQ 2 is the 8259 cascade and
 * has no entry), PCI INTx routes given by the caller (active low, level triggered), and the
 * virtual-wire local interrupts: ExtINT on LINT0 and NMI on LINT1 of every local APIC.
 */
public final class MpTable {
    public static final int IOAPIC_PINS = 24;
    public static final int LAPIC_VERSION = 0x14;
    public static final int SPEC_REV_1_4 = 4;

    public static final int FLOATING_POINTER_SIZE = 16;
    static final int HEADER_SIZE = 44;
    static final int PROCESSOR_ENTRY_SIZE = 20;
    static final int OTHER_ENTRY_SIZE = 8;

    // Entry types.
    static final int PROCESSOR = 0, BUS = 1, IOAPIC = 2, IO_INTERRUPT = 3, LOCAL_INTERRUPT = 4;
    // Interrupt types.
    public static final int INT = 0, NMI = 1, SMI = 2, EXTINT = 3;
    /** Interrupt entry flags: polarity and trigger mode "conform to the bus". */
    public static final int FLAGS_CONFORMING = 0x00;
    /** Polarity active low (bits 0-1 = 3), trigger level (bits 2-3 = 3): PCI INTx. */
    public static final int FLAGS_ACTIVE_LOW_LEVEL = 0x0f;
    static final int CPU_ENABLED = 0x01, CPU_BOOTSTRAP = 0x02;

    private MpTable() { }

    /** A PCI INTx line wired to an IOAPIC input. {@code pin} is 0 for INTA# through 3 for INTD#. */
    public record PciRoute(int bus, int device, int pin, int ioApicPin) {
        public PciRoute {
            if (bus < 0 || bus > 255) throw new IllegalArgumentException("PCI bus out of range: " + bus);
            if (device < 0 || device > 31) throw new IllegalArgumentException("PCI device out of range: " + device);
            if (pin < 0 || pin > 3) throw new IllegalArgumentException("INTx pin must be 0..3 (INTA..INTD): " + pin);
            if (ioApicPin < 0 || ioApicPin >= IOAPIC_PINS)
                throw new IllegalArgumentException("IOAPIC pin out of range: " + ioApicPin);
        }

        /** The MP table's encoding of a PCI interrupt source: device in bits 2-6, pin in bits 0-1. */
        int sourceIrq() {
            return device << 2 | pin;
        }
    }

    public static Builder builder(int cpus) {
        return new Builder(cpus);
    }

    /** Parameters of the table. Defaults: APIC ids 0..cpus-1, IOAPIC id after the CPUs, version 0x20. */
    public static final class Builder {
        private int[] apicIds;
        private int cpuSignature = 0x0600; // family 6, model 0, stepping 0
        private int cpuFeatures = 0x0000_0201; // FPU, APIC
        private int ioApicId = -1;
        private int ioApicVersion = 0x20;
        private long ioApicAddress = ApicAddresses.IOAPIC;
        private final int[] isaPins = new int[16];
        private final List<PciRoute> pciRoutes = new ArrayList<>();
        private String oemId = "VMM";
        private String productId = "JAVA-VMM";

        private Builder(int cpus) {
            if (cpus < 1 || cpus > 255) throw new IllegalArgumentException("cpu count must be 1..255: " + cpus);
            apicIds = new int[cpus];
            for (int i = 0; i < cpus; i++) apicIds[i] = i;
            for (int irq = 0; irq < 16; irq++) isaPins[irq] = irq;
            isaPins[0] = 2;
            isaPins[2] = -1;
        }

        /** The local APIC id of each vCPU, the bootstrap processor first. Ids must be distinct and below 0xff. */
        public Builder apicIds(int... ids) {
            apicIds = ApicIds.checked(ids, apicIds.length);
            return this;
        }

        /**
         * The vCPUs' CPUID leaf 1 for the processor entries: EAX (bits 0-11: stepping, model,
         * family) as the CPU signature, EDX as the feature flags.
         */
        public Builder cpuid(int leaf1Eax, int leaf1Edx) {
            this.cpuSignature = leaf1Eax;
            this.cpuFeatures = leaf1Edx;
            return this;
        }

        public Builder ioApicId(int id) {
            if (id < 0 || id > 0xfe) throw new IllegalArgumentException("IOAPIC id must be 0..254: " + id);
            this.ioApicId = id;
            return this;
        }

        /** 0x11 (82093AA) or 0x20 (the version KVM's in-kernel IOAPIC reports). */
        public Builder ioApicVersion(int version) {
            if (version != 0x11 && version != 0x20)
                throw new IllegalArgumentException("IOAPIC version must be 0x11 or 0x20: 0x" + Integer.toHexString(version));
            this.ioApicVersion = version;
            return this;
        }

        public Builder ioApicAddress(long address) {
            if (address < 0 || address > 0xffff_ffffL || (address & 0xfff) != 0)
                throw new IllegalArgumentException("IOAPIC address must be a 4 KiB aligned 32-bit address: 0x"
                        + Long.toHexString(address));
            this.ioApicAddress = address;
            return this;
        }

        /** Routes ISA IRQ {@code irq} to IOAPIC input {@code pin}, or omits it when {@code pin} is -1. */
        public Builder isaIrqPin(int irq, int pin) {
            if (irq < 0 || irq > 15) throw new IllegalArgumentException("ISA IRQ must be 0..15: " + irq);
            if (pin < -1 || pin >= IOAPIC_PINS) throw new IllegalArgumentException("IOAPIC pin out of range: " + pin);
            isaPins[irq] = pin;
            return this;
        }

        public Builder addPciRoute(PciRoute route) {
            Objects.requireNonNull(route);
            for (PciRoute r : pciRoutes)
                if (r.bus == route.bus && r.device == route.device && r.pin == route.pin)
                    throw new IllegalArgumentException("PCI " + route.bus + ":" + route.device + " INT"
                            + (char) ('A' + route.pin) + " routed twice");
            pciRoutes.add(route);
            return this;
        }

        public Builder addPciRoute(int bus, int device, int pin, int ioApicPin) {
            return addPciRoute(new PciRoute(bus, device, pin, ioApicPin));
        }

        public Builder oemId(String id) {
            this.oemId = TableBytes.checkAscii(id, 8, "OEM id");
            return this;
        }

        public Builder productId(String id) {
            this.productId = TableBytes.checkAscii(id, 12, "product id");
            return this;
        }

        private int effectiveIoApicId() {
            return ioApicId >= 0 ? ioApicId : ApicIds.defaultIoApicId(apicIds);
        }

        private TreeSet<Integer> pciBuses() {
            TreeSet<Integer> buses = new TreeSet<>();
            buses.add(0);
            for (PciRoute r : pciRoutes) buses.add(r.bus);
            return buses;
        }

        private int entryCount() {
            int isa = (int) Arrays.stream(isaPins).filter(p -> p >= 0).count();
            return apicIds.length + pciBuses().size() + 1 + 1 + isa + pciRoutes.size() + 2;
        }

        /** Bytes {@link #build} produces. */
        public int size() {
            return FLOATING_POINTER_SIZE + HEADER_SIZE + apicIds.length * PROCESSOR_ENTRY_SIZE
                    + (entryCount() - apicIds.length) * OTHER_ENTRY_SIZE;
        }

        /**
         * The floating pointer at {@code gpa} (16-byte aligned, below 4 GiB) followed by the
         * configuration table at {@code gpa + 16}.
         */
        public byte[] build(long gpa) {
            if ((gpa & 15) != 0) throw new IllegalArgumentException("MP floating pointer must be 16-byte aligned: 0x"
                    + Long.toHexString(gpa));
            int size = size();
            if (gpa < 0 || gpa + size > 0x1_0000_0000L)
                throw new IllegalArgumentException("MP table must lie below 4 GiB: 0x" + Long.toHexString(gpa));
            ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);

            // Floating pointer structure.
            b.put("_MP_".getBytes(StandardCharsets.US_ASCII));
            b.putInt((int) (gpa + FLOATING_POINTER_SIZE));
            b.put((byte) 1); // length in 16-byte paragraphs
            b.put((byte) SPEC_REV_1_4);
            b.put((byte) 0); // checksum, below
            b.put((byte) 0); // feature 1: 0 = a configuration table is present
            b.put((byte) 0); // feature 2: IMCRP clear = virtual wire mode, no IMCR
            b.put(new byte[3]);
            b.put(10, TableBytes.checksum(b.array(), 0, FLOATING_POINTER_SIZE));

            // Configuration table header.
            int base = FLOATING_POINTER_SIZE;
            int tableLength = size - FLOATING_POINTER_SIZE;
            b.put("PCMP".getBytes(StandardCharsets.US_ASCII));
            b.putShort((short) tableLength);
            b.put((byte) SPEC_REV_1_4);
            b.put((byte) 0); // checksum, below
            b.put(TableBytes.spacePadded(oemId, 8));
            b.put(TableBytes.spacePadded(productId, 12));
            b.putInt(0); // no OEM table
            b.putShort((short) 0);
            b.putShort((short) entryCount());
            b.putInt((int) ApicAddresses.LOCAL_APIC);
            b.putShort((short) 0); // no extended entries...
            b.put((byte) 0); // ...so their checksum is 0
            b.put((byte) 0);

            for (int i = 0; i < apicIds.length; i++) {
                b.put((byte) PROCESSOR);
                b.put((byte) apicIds[i]);
                b.put((byte) LAPIC_VERSION);
                b.put((byte) (CPU_ENABLED | (i == 0 ? CPU_BOOTSTRAP : 0)));
                b.putInt(cpuSignature);
                b.putInt(cpuFeatures);
                b.put(new byte[8]);
            }

            TreeSet<Integer> pciBuses = pciBuses();
            int isaBus = pciBuses.last() + 1;
            if (isaBus > 255) throw new IllegalArgumentException("no bus id left for ISA after PCI bus 255");
            for (int bus : pciBuses) putBus(b, bus, "PCI");
            putBus(b, isaBus, "ISA");

            int ioApic = effectiveIoApicId();
            b.put((byte) IOAPIC);
            b.put((byte) ioApic);
            b.put((byte) ioApicVersion);
            b.put((byte) 0x01); // enabled
            b.putInt((int) ioApicAddress);

            for (int irq = 0; irq < 16; irq++) {
                if (isaPins[irq] >= 0) putInterrupt(b, IO_INTERRUPT, INT, FLAGS_CONFORMING, isaBus, irq, ioApic, isaPins[irq]);
            }
            for (PciRoute r : pciRoutes) {
                putInterrupt(b, IO_INTERRUPT, INT, FLAGS_ACTIVE_LOW_LEVEL, r.bus, r.sourceIrq(), ioApic, r.ioApicPin);
            }
            // Virtual wire: the 8259's INTR on LINT0, NMI on LINT1, for all local APICs (0xff).
            putInterrupt(b, LOCAL_INTERRUPT, EXTINT, FLAGS_CONFORMING, isaBus, 0, 0xff, 0);
            putInterrupt(b, LOCAL_INTERRUPT, NMI, FLAGS_CONFORMING, isaBus, 0, 0xff, 1);

            if (b.position() != size) throw new IllegalStateException("MP table size mismatch");
            b.put(base + 7, TableBytes.checksum(b.array(), base, tableLength));
            return b.array();
        }
    }

    private static void putBus(ByteBuffer b, int id, String type) {
        b.put((byte) BUS);
        b.put((byte) id);
        b.put(TableBytes.spacePadded(type, 6));
    }

    private static void putInterrupt(ByteBuffer b, int entry, int type, int flags, int bus, int irq, int dest, int pin) {
        b.put((byte) entry);
        b.put((byte) type);
        b.putShort((short) flags);
        b.put((byte) bus);
        b.put((byte) irq);
        b.put((byte) dest);
        b.put((byte) pin);
    }

    // ---- parsing (used by tests and diagnostics) ----

    public record Processor(int apicId, int apicVersion, boolean enabled, boolean bootstrap, int signature, int features) { }

    public record Bus(int id, String type) { }

    public record IoApic(int id, int version, boolean enabled, long address) { }

    /** An I/O (entry type 3) or local (type 4) interrupt assignment. */
    public record Interrupt(int type, int flags, int sourceBus, int sourceIrq, int destinationId, int destinationPin) { }

    public record Parsed(long floatingPointerAddress, long configTableAddress, int specRev, boolean imcrPresent,
                         String oemId, String productId, long localApicAddress,
                         List<Processor> processors, List<Bus> buses, List<IoApic> ioApics,
                         List<Interrupt> ioInterrupts, List<Interrupt> localInterrupts) { }

    /**
     * Finds the floating pointer (at a 16-byte boundary) in {@code memory}, which holds guest
     * memory starting at {@code memoryGpa}, and decodes the configuration table it points to.
     * Every checksum, signature and length is verified; a violation throws
     * {@link IllegalArgumentException}.
     */
    public static Parsed parse(byte[] memory, long memoryGpa) {
        int fp = -1;
        for (int off = (int) (-memoryGpa & 15); off + FLOATING_POINTER_SIZE <= memory.length; off += 16) {
            if (memory[off] == '_' && memory[off + 1] == 'M' && memory[off + 2] == 'P' && memory[off + 3] == '_') {
                fp = off;
                break;
            }
        }
        if (fp < 0) throw new IllegalArgumentException("no _MP_ floating pointer found");
        ByteBuffer b = ByteBuffer.wrap(memory).order(ByteOrder.LITTLE_ENDIAN);
        if (memory[fp + 8] != 1) throw new IllegalArgumentException("floating pointer length is not 1 paragraph");
        if (!TableBytes.sumsToZero(memory, fp, FLOATING_POINTER_SIZE))
            throw new IllegalArgumentException("floating pointer checksum mismatch");
        int fpRev = memory[fp + 9];
        if (memory[fp + 11] != 0) throw new IllegalArgumentException("default configuration " + memory[fp + 11]
                + " instead of a table");
        boolean imcr = (memory[fp + 12] & 0x80) != 0;
        long tableAddr = Integer.toUnsignedLong(b.getInt(fp + 4));
        long tableOff = tableAddr - memoryGpa;
        if (tableOff < 0 || tableOff + HEADER_SIZE > memory.length)
            throw new IllegalArgumentException("configuration table 0x" + Long.toHexString(tableAddr) + " outside memory");
        int t = (int) tableOff;
        if (!new String(memory, t, 4, StandardCharsets.US_ASCII).equals("PCMP"))
            throw new IllegalArgumentException("no PCMP signature");
        int length = Short.toUnsignedInt(b.getShort(t + 4));
        int specRev = memory[t + 6];
        if (specRev != fpRev) throw new IllegalArgumentException("spec revisions differ: " + fpRev + " vs " + specRev);
        if (length < HEADER_SIZE || t + length > memory.length)
            throw new IllegalArgumentException("bad base table length " + length);
        if (!TableBytes.sumsToZero(memory, t, length)) throw new IllegalArgumentException("base table checksum mismatch");
        String oem = new String(memory, t + 8, 8, StandardCharsets.US_ASCII).stripTrailing();
        String product = new String(memory, t + 16, 12, StandardCharsets.US_ASCII).stripTrailing();
        int count = Short.toUnsignedInt(b.getShort(t + 34));
        long lapic = Integer.toUnsignedLong(b.getInt(t + 36));
        int extLength = Short.toUnsignedInt(b.getShort(t + 40));
        int extChecksum = memory[t + 42];
        if (t + length + extLength > memory.length) throw new IllegalArgumentException("extended table outside memory");
        int extSum = 0;
        for (int i = 0; i < extLength; i++) extSum += memory[t + length + i];
        if (((extSum + extChecksum) & 0xff) != 0) throw new IllegalArgumentException("extended table checksum mismatch");

        List<Processor> cpus = new ArrayList<>();
        List<Bus> buses = new ArrayList<>();
        List<IoApic> ioApics = new ArrayList<>();
        List<Interrupt> ioInts = new ArrayList<>();
        List<Interrupt> localInts = new ArrayList<>();
        int p = t + HEADER_SIZE;
        int end = t + length;
        int lastType = -1;
        for (int i = 0; i < count; i++) {
            if (p >= end) throw new IllegalArgumentException("entry " + i + " beyond the table length");
            int type = memory[p] & 0xff;
            if (type < lastType) throw new IllegalArgumentException("entries not in ascending type order");
            lastType = type;
            int entrySize = type == PROCESSOR ? PROCESSOR_ENTRY_SIZE : OTHER_ENTRY_SIZE;
            if (p + entrySize > end) throw new IllegalArgumentException("entry " + i + " truncated");
            switch (type) {
                case PROCESSOR -> cpus.add(new Processor(memory[p + 1] & 0xff, memory[p + 2] & 0xff,
                        (memory[p + 3] & CPU_ENABLED) != 0, (memory[p + 3] & CPU_BOOTSTRAP) != 0,
                        b.getInt(p + 4), b.getInt(p + 8)));
                case BUS -> buses.add(new Bus(memory[p + 1] & 0xff,
                        new String(memory, p + 2, 6, StandardCharsets.US_ASCII).stripTrailing()));
                case IOAPIC -> ioApics.add(new IoApic(memory[p + 1] & 0xff, memory[p + 2] & 0xff,
                        (memory[p + 3] & 1) != 0, Integer.toUnsignedLong(b.getInt(p + 4))));
                case IO_INTERRUPT, LOCAL_INTERRUPT -> {
                    Interrupt e = new Interrupt(memory[p + 1] & 0xff, Short.toUnsignedInt(b.getShort(p + 2)),
                            memory[p + 4] & 0xff, memory[p + 5] & 0xff, memory[p + 6] & 0xff, memory[p + 7] & 0xff);
                    (type == IO_INTERRUPT ? ioInts : localInts).add(e);
                }
                default -> throw new IllegalArgumentException("unknown entry type " + type);
            }
            p += entrySize;
        }
        if (p != end) throw new IllegalArgumentException("base table length " + length + " but entries end at " + (p - t));
        return new Parsed(memoryGpa + fp, tableAddr, specRev, imcr, oem, product, lapic,
                List.copyOf(cpus), List.copyOf(buses), List.copyOf(ioApics), List.copyOf(ioInts), List.copyOf(localInts));
    }
}
