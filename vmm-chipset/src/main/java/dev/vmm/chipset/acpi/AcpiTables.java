package dev.vmm.chipset.acpi;

import dev.vmm.chipset.apic.ApicAddresses;
import dev.vmm.chipset.firmware.ApicIds;
import dev.vmm.chipset.firmware.TableBytes;
import dev.vmm.chipset.pci.PciInterruptRouter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The ACPI tables of the machine, built as one byte image for a given guest-physical address:
 *
 * <pre>
 *  +0      RSDP  (revision 2: RSDT and XSDT addresses, checksum + extended checksum)
 *  +64     FACS  (64-byte aligned, no checksum)
 *  ...     DSDT, FADT, MADT, [MCFG], XSDT, RSDT   (each 16-byte aligned)
 * </pre>
 *
 * The FADT describes a legacy (not hardware-reduced) PC: PM1a event/control blocks and the PM
 * timer of {@link AcpiPm}, SCI on ISA IRQ 9, the reset register (I/O port 0xCF9, value 0x06), an
 * 8042, the RTC century byte at CMOS 0x32, and no SMI command port (always in ACPI mode). The MADT
 * lists one local APIC per vCPU, the IOAPIC, ISA overrides (IRQ 0 on GSI 2, the SCI level/active
 * high, PCI GSIs below 16 level/active low) and LINT1 = NMI on all processors. The DSDT holds no
 * methods with bodies beyond a constant: {@code \_SB.PCI0} (PNP0A03) with a static {@code _PRT}
 * package and a {@code _CRS} built from the PCI windows, the serial ports, the PS/2 controller, the
 * RTC, optionally the pvpanic device, and {@code \_S5}.
 *
 * <p>Guests search for the RSDP on 16-byte boundaries in 0xE0000-0xFFFFF; PVH guests get its address
 * in {@code hvm_start_info.rsdp_paddr}. Placing the image at 0xE0000 serves both.
 */
public final class AcpiTables {
    public static final int HEADER_SIZE = 36;
    public static final int RSDP_SIZE = 36;
    public static final int FACS_SIZE = 64;
    public static final int FADT_SIZE = 276;
    /** The largest image {@link Builder#build} accepts (the 0xE0000-0xFFFFF BIOS area). */
    public static final int MAX_SIZE = 128 * 1024;
    public static final int RESET_PORT = 0xcf9;
    public static final int RESET_VALUE = 0x06;
    public static final int CMOS_CENTURY_INDEX = 0x32;

    static final int FADT_REVISION = 6, FADT_MINOR = 0, MADT_REVISION = 4, DSDT_REVISION = 2,
            XSDT_REVISION = 1, RSDT_REVISION = 1, MCFG_REVISION = 1, FACS_VERSION = 2, HPET_REVISION = 1;

    // FADT flags (ACPI 6 table 5-35).
    static final int FADT_WBINVD = 1, FADT_PROC_C1 = 1 << 2, FADT_SLP_BUTTON = 1 << 5,
            FADT_TMR_VAL_EXT = 1 << 8, FADT_RESET_REG_SUP = 1 << 10;
    // IAPC_BOOT_ARCH (table 5-36).
    static final int BOOT_LEGACY_DEVICES = 1, BOOT_8042 = 1 << 1, BOOT_VGA_NOT_PRESENT = 1 << 2;
    // MADT entry types.
    static final int MADT_LOCAL_APIC = 0, MADT_IOAPIC = 1, MADT_OVERRIDE = 2, MADT_LOCAL_APIC_NMI = 4;
    /** MPS INTI flags: polarity bits 1-0, trigger mode bits 3-2. */
    static final int INTI_CONFORMING = 0, INTI_ACTIVE_HIGH_LEVEL = 0x0d, INTI_ACTIVE_LOW_LEVEL = 0x0f;
    // Generic Address Structure.
    static final int GAS_SYSTEM_IO = 1, ACCESS_BYTE = 1, ACCESS_WORD = 2, ACCESS_DWORD = 3;

    /**
     * A pointer field in the image: {@code size} bytes (4 or 8, little-endian) at image offset
     * {@code offset} hold the address of image offset {@code targetOffset}. With the checksums this
     * is what a firmware loader (fw_cfg's linker/loader script) needs to relocate the tables.
     */
    public record PointerField(int offset, int size, int targetOffset) { }

    /** A checksum byte at image offset {@code offset} making [start, start+length) sum to zero. */
    public record ChecksumField(int offset, int start, int length) { }

    private final long address;
    private final byte[] bytes;
    private final Map<String, Long> tables;
    private final List<PointerField> pointers;
    private final List<ChecksumField> checksums;

    private AcpiTables(long address, byte[] bytes, Map<String, Long> tables, List<PointerField> pointers,
                       List<ChecksumField> checksums) {
        this.address = address;
        this.bytes = bytes;
        this.tables = Collections.unmodifiableMap(tables);
        this.pointers = List.copyOf(pointers);
        this.checksums = List.copyOf(checksums);
    }

    /** Every pointer between the tables (RSDP, FADT, XSDT, RSDT fields), in image order of the pointing table. */
    public List<PointerField> pointerFields() { return pointers; }

    /**
     * Every checksum: each table's header checksum, then the RSDP's 20-byte checksum and its extended
     * checksum (which covers the first one, so it comes last).
     */
    public List<ChecksumField> checksumFields() { return checksums; }

    /** Where the image goes. */
    public long address() { return address; }

    /** The image to copy to {@link #address()}; a fresh copy on each call. */
    public byte[] bytes() { return bytes.clone(); }

    public int size() { return bytes.length; }

    /** The RSDP's guest-physical address (= {@link #address()}): PVH {@code rsdp_paddr}. */
    public long rsdpAddress() { return address; }

    /** Guest-physical address of each table by signature ("RSD PTR ", "FACS", "DSDT", "FACP", "APIC", "MCFG", "XSDT", "RSDT"). */
    public Map<String, Long> tableAddresses() { return tables; }

    public static Builder builder(int cpus) {
        return new Builder(cpus);
    }

    /** A 16550 UART in the DSDT: {@code _HID PNP0501}, IO base/8 ports, an ISA IRQ. */
    public record SerialPort(int port, int irq) {
        public SerialPort {
            if (port < 0 || port > 0xfff8) throw new IllegalArgumentException("serial port base out of range: " + port);
            if (irq < 0 || irq > 15) throw new IllegalArgumentException("serial IRQ must be an ISA IRQ 0..15: " + irq);
        }
    }

    /** A window of the PCI root bridge: {@code size} bytes at {@code base}. */
    record Window(long base, long size) { }

    public static final class Builder {
        private int[] apicIds;
        private int ioApicId = -1;
        private long ioApicAddress = ApicAddresses.IOAPIC;
        private final List<PciInterruptRouter.Route> routes = new ArrayList<>();
        private int busFirst = 0, busLast = 255;
        private final List<Window> ioWindows = new ArrayList<>();
        private Window mmio32;
        private Window mmio64;
        private int pmBase = AcpiPm.DEFAULT_BASE;
        private int sciIrq = AcpiPm.DEFAULT_SCI_IRQ;
        private boolean pmTimer = true;
        private long ecamBase = -1;
        private int ecamFirstBus, ecamLastBus;
        private List<SerialPort> serialPorts = List.of(new SerialPort(0x3f8, 4));
        private boolean ps2Controller = true;
        private boolean rtc = true;
        private boolean vga = false;
        private int pvpanicPort = -1;
        private String oemId = "VMM";
        private String oemTableId = "JAVA-VMM";
        // Q35 / PCI Express platform (see pciExpress, hpet, gpe0, pmTimerWidth).
        private boolean pciExpress;
        private long hpetBase = -1;
        private long hpetBlockId;
        private int gpe0Offset = -1, gpe0Length;
        // CPU hot-plug (issue 15): register block base and the APIC id of every possible CPU; off when null.
        private int cpuHotplugBase = -1;
        private int pciHotplugBase = -1, pciHotplugSlots;
        private int[] possibleApicIds;
        private int pmTimerBits = 32;
        private boolean sleepS3, sleepS4;

        private Builder(int cpus) {
            if (cpus < 1 || cpus > 255) throw new IllegalArgumentException("cpu count must be 1..255: " + cpus);
            apicIds = new int[cpus];
            for (int i = 0; i < cpus; i++) apicIds[i] = i;
        }

        /** The local APIC id of each vCPU, the bootstrap processor first; distinct, 0..254. */
        public Builder apicIds(int... ids) {
            apicIds = ApicIds.checked(ids, apicIds.length);
            return this;
        }

        /** The IOAPIC's id (default: highest APIC id + 1, as {@code MpTable}) and 4 KiB aligned address. */
        public Builder ioApic(int id, long address) {
            if (id < 0 || id > 0xfe) throw new IllegalArgumentException("IOAPIC id must be 0..254: " + id);
            if (address <= 0 || address > 0xffff_f000L || (address & 0xfff) != 0)
                throw new IllegalArgumentException("IOAPIC address must be a 4 KiB aligned 32-bit address: 0x"
                        + Long.toHexString(address));
            this.ioApicId = id;
            this.ioApicAddress = address;
            return this;
        }

        /**
         * Root-bus INTx routes for {@code _PRT} ({@code PciInterruptRouter.routes()}: every slot and
         * pin). Routes on other buses are rejected: the OS swizzles through bridges itself.
         */
        public Builder pciRoutes(List<PciInterruptRouter.Route> list) {
            for (PciInterruptRouter.Route r : list) {
                if (r.bus() != 0) throw new IllegalArgumentException("_PRT describes the root bus only: " + r);
                if (r.device() < 0 || r.device() > 31 || r.pin() < 1 || r.pin() > 4)
                    throw new IllegalArgumentException("bad PCI route " + r);
                if (r.gsi() < 0 || r.gsi() > 0xfe) throw new IllegalArgumentException("bad GSI in " + r);
                for (PciInterruptRouter.Route o : routes)
                    if (o.device() == r.device() && o.pin() == r.pin())
                        throw new IllegalArgumentException("PCI slot " + r.device() + " pin " + r.pin() + " routed twice");
                routes.add(r);
            }
            return this;
        }

        /** The root bridge's bus numbers ({@code _BBN} = first). Default 0-255. */
        public Builder pciBusRange(int first, int last) {
            if (first < 0 || last > 255 || last < first)
                throw new IllegalArgumentException("bus range must be within 0..255: " + first + "-" + last);
            busFirst = first;
            busLast = last;
            return this;
        }

        /** An I/O port window forwarded to PCI (e.g. 0x1000, 0xF000); may be called more than once. */
        public Builder pciIoWindow(int base, int size) {
            if (base < 0 || size <= 0 || base + size > 0x1_0000)
                throw new IllegalArgumentException("PCI I/O window must lie in 0..0xFFFF");
            ioWindows.add(new Window(base, size));
            return this;
        }

        /** The 32-bit MMIO window (PCI hole below 4 GiB). */
        public Builder pciMmio32Window(long base, long size) {
            if (base < 0 || size <= 0 || base + size > 0x1_0000_0000L)
                throw new IllegalArgumentException("32-bit PCI MMIO window must lie below 4 GiB");
            mmio32 = new Window(base, size);
            return this;
        }

        /** The 64-bit MMIO window (above RAM). */
        public Builder pciMmio64Window(long base, long size) {
            if (base < 0 || size <= 0 || base + size < 0)
                throw new IllegalArgumentException("bad 64-bit PCI MMIO window");
            mmio64 = new Window(base, size);
            return this;
        }

        /** The I/O base of {@link AcpiPm} (default 0x600) and the SCI's ISA IRQ (default 9). */
        public Builder pm(int base, int sciIrq) {
            if (base <= 0 || base + AcpiPm.SIZE > 0x1_0000 || (base & 3) != 0)
                throw new IllegalArgumentException("PM base must be a dword aligned I/O port: 0x" + Integer.toHexString(base));
            if (sciIrq < 1 || sciIrq > 15 || sciIrq == 2)
                throw new IllegalArgumentException("SCI must be an ISA IRQ 1..15 other than 2: " + sciIrq);
            this.pmBase = base;
            this.sciIrq = sciIrq;
            return this;
        }

        /** Whether the FADT advertises the PM timer (default yes; {@link AcpiPm} implements it). */
        public Builder pmTimer(boolean present) {
            this.pmTimer = present;
            return this;
        }

        /**
         * Adds an MCFG table for segment 0: buses first..last decode at {@code base + (bus << 20)},
         * so {@code base} is the address of bus 0's configuration space even when first > 0.
         */
        public Builder ecam(long base, int firstBus, int lastBus) {
            if (base <= 0 || (base & 0xf_ffffL) != 0) throw new IllegalArgumentException("ECAM base must be 1 MiB aligned");
            if (firstBus < 0 || lastBus > 255 || lastBus < firstBus)
                throw new IllegalArgumentException("ECAM bus range must be within 0..255");
            ecamBase = base;
            ecamFirstBus = firstBus;
            ecamLastBus = lastBus;
            return this;
        }

        /** The 16550s to describe (default: COM1 at 0x3F8, IRQ 4). */
        public Builder serialPorts(List<SerialPort> ports) {
            if (ports.size() > 9) throw new IllegalArgumentException("at most 9 serial ports");
            serialPorts = List.copyOf(ports);
            return this;
        }

        /** Whether to describe the PS/2 controller (PNP0303 at 0x60/0x64, IRQ 1). Default yes. */
        public Builder ps2Controller(boolean present) {
            this.ps2Controller = present;
            return this;
        }

        /** Whether to describe the CMOS RTC (PNP0B00 at 0x70, IRQ 8). Default yes. */
        public Builder rtc(boolean present) {
            this.rtc = present;
            return this;
        }

        /** Whether a VGA device exists (else IAPC_BOOT_ARCH says "VGA not present"). Default no. */
        public Builder vga(boolean present) {
            this.vga = present;
            return this;
        }

        /** Describes the ISA pvpanic device (_HID QEMU0001) at {@code port}. */
        public Builder pvpanic(int port) {
            if (port <= 0 || port > 0xffff) throw new IllegalArgumentException("bad pvpanic port " + port);
            this.pvpanicPort = port;
            return this;
        }

        /**
         * A PCI Express host (Q35): PCI0 becomes PNP0A08 (with _CID PNP0A03) with an {@code _OSC}
         * granting the OS native PCIe hot-plug, SHPC, PME, AER and capability control; the ISA
         * devices (RTC, keyboard, serial ports, HPET) move under {@code PCI0.LPC} (the ICH9 LPC
         * bridge at 00:1f.0); and the ECAM window of {@link #ecam} is reserved by a PNP0C02
         * motherboard-resource device {@code \_SB.MRES} (where Linux looks before using MMCONFIG).
         */
        public Builder pciExpress(boolean express) {
            this.pciExpress = express;
            return this;
        }

        /**
         * An HPET at {@code base} (1 KiB): the ACPI HPET table (event timer block id = the low 32
         * bits of its capabilities register, {@code blockId}) and a PNP0103 device in the DSDT.
         */
        public Builder hpet(long base, long blockId) {
            if (base <= 0 || base > 0xffff_fc00L || (base & 0x3ff) != 0) throw new IllegalArgumentException("HPET base must be 1 KiB aligned below 4 GiB");
            this.hpetBase = base;
            this.hpetBlockId = blockId & 0xffff_ffffL;
            return this;
        }

        /**
         * Adds QEMU-style CPU hot-plug AML ({@link CpuHotplugAml}: {@code \_SB.CPUS}, {@code CSCN},
         * per-CPU {@code _STA/_MAT/_EJ0/_OST}, {@code \_GPE._E02}) for an {@link AcpiCpuHotplug}
         * block at I/O port {@code ioBase}; {@code possibleApicIds} lists every possible CPU (maxcpus),
         * index = CPU selector. Without this call the DSDT is unchanged.
         */
        public Builder cpuHotplug(int ioBase, int... possibleApicIds) {
            if (ioBase <= 0 || ioBase > 0xffff - AcpiCpuHotplug.SIZE) throw new IllegalArgumentException("bad CPU hot-plug I/O base " + ioBase);
            if (possibleApicIds.length == 0 || possibleApicIds.length > 0xfff) throw new IllegalArgumentException("1..4095 possible CPUs");
            for (int id : possibleApicIds) if (id < 0 || id > 254) throw new IllegalArgumentException("APIC id 0..254: " + id);
            this.cpuHotplugBase = ioBase;
            this.possibleApicIds = possibleApicIds.clone();
            return this;
        }

        /**
         * Adds the pc ACPI PCI hot-plug AML ({@link PciHotplugAml}: {@code PCST} fields, {@code PCNT},
         * {@code PCEJ}, one {@code Sxx} per hot-pluggable slot of bus 0, {@code \_GPE._E01}) for a
         * {@link Piix4PciHotplug} block at {@code ioBase}; {@code slotMask} bit n = slot n is hot-pluggable.
         * Without this call the DSDT is unchanged.
         */
        public Builder pciHotplug(int ioBase, int slotMask) {
            if (ioBase <= 0 || ioBase > 0xffff - Piix4PciHotplug.SIZE) throw new IllegalArgumentException("bad PCI hot-plug I/O base " + ioBase);
            this.pciHotplugBase = ioBase;
            this.pciHotplugSlots = slotMask;
            return this;
        }

        /** A GPE0 block of {@code length} bytes (even, status then enable) at PM base + {@code offset} in the FADT. */
        public Builder gpe0(int offset, int length) {
            if (offset < 0 || length <= 0 || length > 255 || (length & 1) != 0) throw new IllegalArgumentException("bad GPE0 block");
            this.gpe0Offset = offset;
            this.gpe0Length = length;
            return this;
        }

        /**
         * Offers suspend to RAM ({@code \_S3}) and to disk ({@code \_S4}) with the sleep types
         * {@link AcpiPm} acts on; off by default (only {@code \_S5}). The OS writes its waking
         * vector into the FACS before S3.
         */
        public Builder sleepStates(boolean s3, boolean s4) {
            this.sleepS3 = s3;
            this.sleepS4 = s4;
            return this;
        }

        /** The PM timer's width: 32 (FADT TMR_VAL_EXT set, the default) or 24 bits (as QEMU's). */
        public Builder pmTimerWidth(int bits) {
            if (bits != 24 && bits != 32) throw new IllegalArgumentException("PM timer is 24 or 32 bits wide");
            this.pmTimerBits = bits;
            return this;
        }

        public Builder oemId(String id) {
            this.oemId = TableBytes.checkAscii(id, 6, "OEM id");
            return this;
        }

        public Builder oemTableId(String id) {
            this.oemTableId = TableBytes.checkAscii(id, 8, "OEM table id");
            return this;
        }

        private int effectiveIoApicId() {
            return ioApicId >= 0 ? ioApicId : ApicIds.defaultIoApicId(madtApicIds());
        }

        /**
         * The CPUs the MADT lists: the boot CPUs, or with CPU hot-plug every possible CPU (the boot
         * ones first, enabled; the others disabled, as QEMU does: Linux only hot-adds a CPU it found
         * in the MADT).
         */
        private int[] madtApicIds() {
            if (cpuHotplugBase < 0) return apicIds;
            if (possibleApicIds.length < apicIds.length
                    || !java.util.Arrays.equals(apicIds, java.util.Arrays.copyOf(possibleApicIds, apicIds.length))) {
                throw new IllegalArgumentException("the boot CPUs " + java.util.Arrays.toString(apicIds)
                        + " must be the first of the possible CPUs " + java.util.Arrays.toString(possibleApicIds));
            }
            return possibleApicIds;
        }

        /**
         * Lays the tables out at {@code gpa} (16-byte aligned; the image must end below 4 GiB since
         * the FADT and RSDT hold 32-bit pointers too).
         */
        public AcpiTables build(long gpa) {
            if ((gpa & 15) != 0) throw new IllegalArgumentException("RSDP must be 16-byte aligned: 0x" + Long.toHexString(gpa));
            for (PciInterruptRouter.Route r : routes) {
                if (r.gsi() == sciIrq) throw new IllegalArgumentException("PCI route " + r + " shares the SCI's GSI "
                        + sciIrq + " with the opposite polarity");
                if (r.gsi() == 0 || r.gsi() == 2) throw new IllegalArgumentException("PCI route " + r
                        + " uses GSI " + r.gsi() + " (timer)");
            }
            byte[] facs = facs();
            byte[] dsdt = dsdt();
            byte[] madt = madt();
            byte[] mcfg = ecamBase >= 0 ? mcfg() : null;
            byte[] hpetTable = hpetBase >= 0 ? hpetTable() : null;
            if (pciExpress && ecamBase >= 0 && mmio32 != null) {
                long ecamStart = ecamBase + ((long) ecamFirstBus << 20), ecamEnd = ecamBase + ((long) (ecamLastBus + 1) << 20);
                if (ecamStart < mmio32.base() + mmio32.size() && mmio32.base() < ecamEnd)
                    throw new IllegalArgumentException("the ECAM window overlaps the 32-bit PCI MMIO window");
            }

            Map<String, Long> addr = new LinkedHashMap<>();
            int off = RSDP_SIZE;
            addr.put("RSD PTR ", gpa);
            off = align(gpa, off, 64);
            int facsOff = off;
            addr.put("FACS", gpa + off);
            off += facs.length;
            off = align(gpa, off, 16);
            int dsdtOff = off;
            addr.put("DSDT", gpa + off);
            off = align(gpa, off + dsdt.length, 16);
            int fadtOff = off;
            addr.put("FACP", gpa + off);
            off = align(gpa, off + FADT_SIZE, 16);
            int madtOff = off;
            addr.put("APIC", gpa + off);
            off = align(gpa, off + madt.length, 16);
            int mcfgOff = -1;
            if (mcfg != null) {
                mcfgOff = off;
                addr.put("MCFG", gpa + off);
                off = align(gpa, off + mcfg.length, 16);
            }
            int hpetOff = -1;
            if (hpetTable != null) {
                hpetOff = off;
                addr.put("HPET", gpa + off);
                off = align(gpa, off + hpetTable.length, 16);
            }
            List<Long> pointed = new ArrayList<>(List.of(gpa + fadtOff, gpa + madtOff));
            if (mcfg != null) pointed.add(gpa + mcfgOff);
            if (hpetTable != null) pointed.add(gpa + hpetOff);
            int xsdtOff = off;
            addr.put("XSDT", gpa + off);
            off = align(gpa, off + HEADER_SIZE + 8 * pointed.size(), 16);
            int rsdtOff = off;
            addr.put("RSDT", gpa + off);
            int size = off + HEADER_SIZE + 4 * pointed.size();
            if (size > MAX_SIZE) throw new IllegalArgumentException("ACPI tables take " + size + " bytes, more than "
                    + MAX_SIZE);
            if (gpa < 0 || gpa + size > 0x1_0000_0000L)
                throw new IllegalArgumentException("ACPI tables must lie below 4 GiB: 0x" + Long.toHexString(gpa));

            byte[] image = new byte[size];
            System.arraycopy(facs, 0, image, facsOff, facs.length);
            System.arraycopy(dsdt, 0, image, dsdtOff, dsdt.length);
            System.arraycopy(fadt(gpa + facsOff, gpa + dsdtOff), 0, image, fadtOff, FADT_SIZE);
            System.arraycopy(madt, 0, image, madtOff, madt.length);
            if (mcfg != null) System.arraycopy(mcfg, 0, image, mcfgOff, mcfg.length);
            if (hpetTable != null) System.arraycopy(hpetTable, 0, image, hpetOff, hpetTable.length);
            byte[] xsdt = header("XSDT", HEADER_SIZE + 8 * pointed.size(), XSDT_REVISION);
            ByteBuffer x = le(xsdt).position(HEADER_SIZE);
            for (long p : pointed) x.putLong(p);
            System.arraycopy(finish(xsdt), 0, image, xsdtOff, xsdt.length);
            byte[] rsdt = header("RSDT", HEADER_SIZE + 4 * pointed.size(), RSDT_REVISION);
            ByteBuffer r = le(rsdt).position(HEADER_SIZE);
            for (long p : pointed) r.putInt((int) p);
            System.arraycopy(finish(rsdt), 0, image, rsdtOff, rsdt.length);
            System.arraycopy(rsdp(gpa + rsdtOff, gpa + xsdtOff), 0, image, 0, RSDP_SIZE);

            List<PointerField> ptrs = new ArrayList<>();
            List<ChecksumField> sums = new ArrayList<>();
            ptrs.add(new PointerField(16, 4, rsdtOff));              // RSDP.RsdtAddress
            ptrs.add(new PointerField(24, 8, xsdtOff));              // RSDP.XsdtAddress
            ptrs.add(new PointerField(fadtOff + 36, 4, facsOff));    // FADT.FIRMWARE_CTRL
            ptrs.add(new PointerField(fadtOff + 40, 4, dsdtOff));    // FADT.DSDT
            ptrs.add(new PointerField(fadtOff + 132, 8, facsOff));   // FADT.X_FIRMWARE_CTRL
            ptrs.add(new PointerField(fadtOff + 140, 8, dsdtOff));   // FADT.X_DSDT
            for (int i = 0; i < pointed.size(); i++) {
                int target = (int) (pointed.get(i) - gpa);
                ptrs.add(new PointerField(xsdtOff + HEADER_SIZE + 8 * i, 8, target));
                ptrs.add(new PointerField(rsdtOff + HEADER_SIZE + 4 * i, 4, target));
            }
            sums.add(new ChecksumField(dsdtOff + 9, dsdtOff, dsdt.length));
            sums.add(new ChecksumField(fadtOff + 9, fadtOff, FADT_SIZE));
            sums.add(new ChecksumField(madtOff + 9, madtOff, madt.length));
            if (mcfg != null) sums.add(new ChecksumField(mcfgOff + 9, mcfgOff, mcfg.length));
            if (hpetTable != null) sums.add(new ChecksumField(hpetOff + 9, hpetOff, hpetTable.length));
            sums.add(new ChecksumField(xsdtOff + 9, xsdtOff, xsdt.length));
            sums.add(new ChecksumField(rsdtOff + 9, rsdtOff, rsdt.length));
            sums.add(new ChecksumField(8, 0, 20));
            sums.add(new ChecksumField(32, 0, RSDP_SIZE));
            return new AcpiTables(gpa, image, addr, ptrs, sums);
        }

        private byte[] rsdp(long rsdt, long xsdt) {
            byte[] t = new byte[RSDP_SIZE];
            ByteBuffer b = le(t);
            b.put("RSD PTR ".getBytes(StandardCharsets.US_ASCII));
            b.put((byte) 0); // checksum over the first 20 bytes, below
            b.put(TableBytes.spacePadded(oemId, 6));
            b.put((byte) 2); // revision 2: ACPI 2.0+ structure with XSDT
            b.putInt((int) rsdt);
            b.putInt(RSDP_SIZE);
            b.putLong(xsdt);
            b.put((byte) 0); // extended checksum over all 36 bytes, below
            t[8] = TableBytes.checksum(t, 0, 20);
            t[32] = TableBytes.checksum(t, 0, RSDP_SIZE);
            return t;
        }

        private byte[] facs() {
            byte[] t = new byte[FACS_SIZE];
            ByteBuffer b = le(t);
            b.put("FACS".getBytes(StandardCharsets.US_ASCII));
            b.putInt(FACS_SIZE);
            b.putInt(0);  // hardware signature
            b.putInt(0);  // firmware waking vector: the OS writes it before S3 (AcpiPm S3)
            b.putInt(0);  // global lock
            b.putInt(0);  // flags: no S4BIOS, no 64-bit wake
            b.putLong(0); // X firmware waking vector
            b.put((byte) FACS_VERSION);
            return t;
        }

        private byte[] fadt(long facs, long dsdt) {
            byte[] t = header("FACP", FADT_SIZE, FADT_REVISION);
            ByteBuffer b = le(t);
            b.putInt(36, (int) facs);   // FIRMWARE_CTRL
            b.putInt(40, (int) dsdt);   // DSDT
            t[45] = 0;                  // preferred PM profile: unspecified
            b.putShort(46, (short) sciIrq);
            // 48 SMI_CMD = 0: no mode switch; the hardware is always in ACPI mode (SCI_EN reads 1).
            b.putInt(56, pmBase + AcpiPm.EVT_OFFSET); // PM1a_EVT_BLK
            b.putInt(64, pmBase + AcpiPm.CNT_OFFSET); // PM1a_CNT_BLK
            if (pmTimer) b.putInt(76, pmBase + AcpiPm.TMR_OFFSET); // PM_TMR_BLK
            t[88] = AcpiPm.PM1_EVT_LEN;
            t[89] = AcpiPm.PM1_CNT_LEN;
            t[91] = (byte) (pmTimer ? AcpiPm.PM_TMR_LEN : 0);
            b.putShort(96, (short) 101);  // P_LVL2_LAT > 100: C2 not supported
            b.putShort(98, (short) 1001); // P_LVL3_LAT > 1000: C3 not supported
            t[108] = CMOS_CENTURY_INDEX;
            int bootArch = BOOT_LEGACY_DEVICES | (ps2Controller ? BOOT_8042 : 0) | (vga ? 0 : BOOT_VGA_NOT_PRESENT);
            b.putShort(109, (short) bootArch);
            int flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_RESET_REG_SUP
                    | (pmTimer && pmTimerBits == 32 ? FADT_TMR_VAL_EXT : 0);
            if (gpe0Offset >= 0) {
                b.putInt(80, pmBase + gpe0Offset);    // GPE0_BLK
                t[92] = (byte) gpe0Length;           // GPE0_BLK_LEN
                gas(b, 220, 8 * gpe0Length, ACCESS_BYTE, pmBase + gpe0Offset); // X_GPE0_BLK
            }
            b.putInt(112, flags);
            gas(b, 116, 8, ACCESS_BYTE, RESET_PORT); // RESET_REG
            t[128] = RESET_VALUE;
            t[131] = FADT_MINOR;
            b.putLong(132, facs);  // X_FIRMWARE_CTRL
            b.putLong(140, dsdt);  // X_DSDT
            gas(b, 148, 8 * AcpiPm.PM1_EVT_LEN, ACCESS_WORD, pmBase + AcpiPm.EVT_OFFSET); // X_PM1a_EVT_BLK
            gas(b, 172, 8 * AcpiPm.PM1_CNT_LEN, ACCESS_WORD, pmBase + AcpiPm.CNT_OFFSET); // X_PM1a_CNT_BLK
            if (pmTimer) gas(b, 208, 8 * AcpiPm.PM_TMR_LEN, ACCESS_DWORD, pmBase + AcpiPm.TMR_OFFSET); // X_PM_TMR_BLK
            return finish(t);
        }

        private static void gas(ByteBuffer b, int at, int bitWidth, int accessSize, long address) {
            b.put(at, (byte) GAS_SYSTEM_IO);
            b.put(at + 1, (byte) bitWidth);
            b.put(at + 2, (byte) 0);
            b.put(at + 3, (byte) accessSize);
            b.putLong(at + 4, address);
        }

        private byte[] madt() {
            List<int[]> overrides = new ArrayList<>(); // {source irq, gsi, flags}
            overrides.add(new int[] {0, 2, INTI_CONFORMING});
            overrides.add(new int[] {sciIrq, sciIrq, INTI_ACTIVE_HIGH_LEVEL});
            // _PRT entries name GSIs directly, which means level/active low; a GSI below 16 is an
            // ISA IRQ whose default (edge/high) must be overridden to match.
            routes.stream().mapToInt(PciInterruptRouter.Route::gsi).filter(g -> g < 16).distinct().sorted()
                    .forEach(g -> overrides.add(new int[] {g, g, INTI_ACTIVE_LOW_LEVEL}));
            int[] listed = madtApicIds();
            int length = HEADER_SIZE + 8 + 8 * listed.length + 12 + 10 * overrides.size() + 6;
            byte[] t = header("APIC", length, MADT_REVISION);
            ByteBuffer b = le(t).position(HEADER_SIZE);
            b.putInt((int) ApicAddresses.LOCAL_APIC);
            b.putInt(1); // PCAT_COMPAT: dual 8259s present (KVM's in-kernel PIC)
            for (int i = 0; i < listed.length; i++) {
                b.put((byte) MADT_LOCAL_APIC).put((byte) 8).put((byte) i).put((byte) listed[i]);
                b.putInt(i < apicIds.length ? 1 : 0); // enabled: present at boot
            }
            b.put((byte) MADT_IOAPIC).put((byte) 12).put((byte) effectiveIoApicId()).put((byte) 0);
            b.putInt((int) ioApicAddress);
            b.putInt(0); // GSI base
            for (int[] o : overrides) {
                b.put((byte) MADT_OVERRIDE).put((byte) 10).put((byte) 0 /* ISA */).put((byte) o[0]);
                b.putInt(o[1]);
                b.putShort((short) o[2]);
            }
            // NMI on LINT1 of every processor (UID 0xFF), as the virtual-wire wiring of a PC.
            b.put((byte) MADT_LOCAL_APIC_NMI).put((byte) 6).put((byte) 0xff);
            b.putShort((short) 0);
            b.put((byte) 1);
            if (b.position() != length) throw new IllegalStateException("MADT length mismatch");
            return finish(t);
        }

        /** IA-PC HPET table: event timer block id, base address (system memory GAS), HPET number 0, min tick, no page protection. */
        private byte[] hpetTable() {
            byte[] t = header("HPET", HEADER_SIZE + 20, HPET_REVISION);
            ByteBuffer b = le(t).position(HEADER_SIZE);
            b.putInt((int) hpetBlockId);
            b.put((byte) 0).put((byte) 64).put((byte) 0).put((byte) 0); // GAS: system memory, 64-bit registers
            b.putLong(hpetBase);
            b.put((byte) 0);                 // HPET number
            b.putShort((short) 0x80);        // minimum periodic tick in counter ticks
            b.put((byte) 0);                 // no page protection
            return finish(t);
        }

        private byte[] mcfg() {
            byte[] t = header("MCFG", HEADER_SIZE + 8 + 16, MCFG_REVISION);
            ByteBuffer b = le(t).position(HEADER_SIZE + 8);
            b.putLong(ecamBase); // where bus 0's configuration space is (or would be): the OS adds bus << 20
            b.putShort((short) 0);
            b.put((byte) ecamFirstBus);
            b.put((byte) ecamLastBus);
            return finish(t);
        }

        byte[] dsdtBody() {
            AmlBuilder aml = new AmlBuilder();
            aml.scope("\\_SB", sb -> {
                sb.device("PCI0", d -> {
                    if (pciExpress) {
                        d.name("_HID", AmlBuilder.eisaId("PNP0A08"));
                        d.name("_CID", AmlBuilder.eisaId("PNP0A03"));
                    } else {
                        d.name("_HID", AmlBuilder.eisaId("PNP0A03"));
                    }
                    d.name("_UID", AmlBuilder.integer(0));
                    d.name("_BBN", AmlBuilder.integer(busFirst));
                    d.name("_CRS", pciCrs().toData());
                    List<AmlBuilder.Data> prt = new ArrayList<>();
                    for (PciInterruptRouter.Route r : routes) {
                        prt.add(AmlBuilder.pkg(AmlBuilder.integer(r.acpiAddress()), AmlBuilder.integer(r.acpiPin()),
                                AmlBuilder.integer(0), AmlBuilder.integer(r.gsi())));
                    }
                    d.name("_PRT", AmlBuilder.pkg(prt));
                    if (pciHotplugBase >= 0) PciHotplugAml.pci0(d, pciHotplugBase, pciHotplugSlots);
                    if (pciExpress) {
                        d.raw(PcieOsc.method());
                        d.device("LPC", lpc -> {
                            lpc.name("_ADR", AmlBuilder.integer(0x001F_0000L));
                            isaDevices(lpc);
                        });
                    }
                });
                if (!pciExpress) isaDevices(sb);
                if (cpuHotplugBase >= 0) CpuHotplugAml.cpus(sb, cpuHotplugBase, possibleApicIds);
                if (pciExpress && ecamBase >= 0) {
                    long start = ecamBase + ((long) ecamFirstBus << 20);
                    long size = (long) (ecamLastBus - ecamFirstBus + 1) << 20;
                    sb.device("MRES", d -> d
                            .name("_HID", AmlBuilder.eisaId("PNP0C02"))
                            .name("_UID", AmlBuilder.integer(1))
                            .name("_CRS", new ResourceTemplate().memory32Fixed(start, size).toData()));
                }
            });
            if (cpuHotplugBase >= 0) CpuHotplugAml.gpe(aml);
            if (pciHotplugBase >= 0) PciHotplugAml.gpe(aml);
            // Sleep states: SLP_TYPa, SLP_TYPb, two reserved; the values are AcpiPm's.
            if (sleepS3) aml.name("\\_S3", AmlBuilder.pkg(AmlBuilder.integer(AcpiPm.SLP_TYP_S3), AmlBuilder.integer(AcpiPm.SLP_TYP_S3),
                    AmlBuilder.integer(0), AmlBuilder.integer(0)));
            if (sleepS4) aml.name("\\_S4", AmlBuilder.pkg(AmlBuilder.integer(AcpiPm.SLP_TYP_S4), AmlBuilder.integer(AcpiPm.SLP_TYP_S4),
                    AmlBuilder.integer(0), AmlBuilder.integer(0)));
            aml.name("\\_S5", AmlBuilder.pkg(AmlBuilder.integer(AcpiPm.SLP_TYP_S5), AmlBuilder.integer(AcpiPm.SLP_TYP_S5),
                    AmlBuilder.integer(0), AmlBuilder.integer(0)));
            return aml.toByteArray();
        }

        /** RTC, keyboard, serial ports, HPET, pvpanic: in \\_SB on a PC, in PCI0.LPC on Q35. */
        private void isaDevices(AmlBuilder sb) {
            for (int i = 0; i < serialPorts.size(); i++) {
                SerialPort p = serialPorts.get(i);
                int uid = i + 1;
                sb.device("COM" + uid, d -> d
                        .name("_HID", AmlBuilder.eisaId("PNP0501"))
                        .name("_UID", AmlBuilder.integer(uid))
                        .name("_CRS", new ResourceTemplate().io(p.port(), p.port(), 1, 8).irqNoFlags(p.irq()).toData()));
            }
            if (ps2Controller) {
                sb.device("KBD", d -> d
                        .name("_HID", AmlBuilder.eisaId("PNP0303"))
                        .name("_CRS", new ResourceTemplate().io(0x60, 0x60, 1, 1).io(0x64, 0x64, 1, 1)
                                .irqNoFlags(1).toData()));
            }
            if (rtc) {
                sb.device("RTC", d -> d
                        .name("_HID", AmlBuilder.eisaId("PNP0B00"))
                        .name("_CRS", new ResourceTemplate().io(0x70, 0x70, 1, 2).irqNoFlags(8).toData()));
            }
            if (pvpanicPort >= 0) {
                sb.device("PEVT", d -> d
                        .name("_HID", AmlBuilder.string("QEMU0001"))
                        .name("_CRS", new ResourceTemplate().io(pvpanicPort, pvpanicPort, 1, 1).toData()));
            }
            if (hpetBase >= 0) {
                sb.device("HPET", d -> d
                        .name("_HID", AmlBuilder.eisaId("PNP0103"))
                        .name("_UID", AmlBuilder.integer(0))
                        .name("_CRS", new ResourceTemplate().memory32Fixed(hpetBase, 0x400).toData()));
            }
        }

        ResourceTemplate pciCrs() {
            ResourceTemplate crs = new ResourceTemplate().wordBusNumber(busFirst, busLast);
            crs.io(0xcf8, 0xcf8, 1, 8); // the configuration mechanism #1 ports, consumed by the bridge
            for (Window w : ioWindows) crs.wordIo((int) w.base(), (int) (w.base() + w.size() - 1));
            if (mmio32 != null) crs.dwordMemory(mmio32.base(), mmio32.base() + mmio32.size() - 1);
            if (mmio64 != null) crs.qwordMemory(mmio64.base(), mmio64.base() + mmio64.size() - 1);
            return crs;
        }

        private byte[] dsdt() {
            byte[] body = dsdtBody();
            byte[] t = header("DSDT", HEADER_SIZE + body.length, DSDT_REVISION);
            System.arraycopy(body, 0, t, HEADER_SIZE, body.length);
            return finish(t);
        }

        private byte[] header(String signature, int length, int revision) {
            byte[] t = new byte[length];
            ByteBuffer b = le(t);
            b.put(signature.getBytes(StandardCharsets.US_ASCII));
            b.putInt(length);
            b.put((byte) revision);
            b.put((byte) 0); // checksum, set by finish()
            b.put(TableBytes.spacePadded(oemId, 6));
            b.put(TableBytes.spacePadded(oemTableId, 8));
            b.putInt(1); // OEM revision
            b.put("JVMM".getBytes(StandardCharsets.US_ASCII)); // creator id
            b.putInt(1); // creator revision
            return t;
        }
    }

    private static byte[] finish(byte[] table) {
        table[9] = 0;
        table[9] = TableBytes.checksum(table, 0, table.length);
        return table;
    }

    private static int align(long gpa, int off, int alignment) {
        long a = gpa + off;
        long aligned = (a + alignment - 1) & -alignment;
        return (int) (aligned - gpa);
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

}
