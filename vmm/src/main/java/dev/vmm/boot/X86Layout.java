package dev.vmm.boot;

import dev.vmm.chipset.apic.ApicAddresses;

/**
 * Where things live in the guest-physical address space of an x86 machine. Low memory follows
 * the PC conventions guests expect (EBDA below 640 KiB, BIOS area at 0xE0000-0xFFFFF); RAM above
 * 3 GiB is moved above 4 GiB to leave the 32-bit PCI/APIC hole free.
 */
public final class X86Layout {
    private X86Layout() {}

    public static final long GDT_ADDR = 0x500;
    public static final long IDT_ADDR = 0x520;
    /** hvm_start_info or multiboot info, with its memory map and module list after it. */
    public static final long BOOT_INFO_ADDR = 0x6000;
    /** Linux boot_params ("zero page"). */
    public static final long ZERO_PAGE_ADDR = 0x7000;
    public static final long PML4_ADDR = 0x9000;
    public static final long PDPT_ADDR = 0xA000;
    /** Four page directories of 2 MiB pages identity-mapping the first 4 GiB. */
    public static final long PD_ADDR = 0xB000;
    public static final long BOOT_STACK_TOP = 0x8FF0;
    public static final long CMDLINE_ADDR = 0x20000;
    public static final int CMDLINE_MAX = 0x10000;
    /** Extended BIOS data area: the MP table goes here, where guests search first. */
    public static final long EBDA_START = 0x9FC00;
    public static final long LOW_RAM_END = 0xA0000;
    /** ACPI tables and the RSDP, in the BIOS read-only area. */
    public static final long BIOS_AREA_START = 0xE0000;
    public static final long BIOS_AREA_END = 0x100000;
    /** The MP table: in the BIOS area (searched by guests) since it outgrows the 1 KiB EBDA past ~40 CPUs. */
    public static final long MP_TABLE_ADDR = 0xF0000;
    public static final long HIGH_MEMORY_START = 0x100000;

    /** Start of the 32-bit MMIO hole (PCI BARs, IOAPIC, LAPIC, firmware). */
    public static final long MMIO_HOLE_START = 0xC000_0000L;
    public static final long MMIO_HOLE_END = 0x1_0000_0000L;
    public static final long IOAPIC_ADDR = ApicAddresses.IOAPIC;
    public static final long LAPIC_ADDR = ApicAddresses.LOCAL_APIC;
    /** Three pages KVM needs for the real-mode TSS (VT-x), and one for its identity map. */
    public static final long KVM_TSS_ADDR = 0xFFFB_D000L;
    public static final long KVM_IDENTITY_MAP_ADDR = 0xFFFB_C000L;
    public static final long RAM_ABOVE_4G_START = 0x1_0000_0000L;
}
