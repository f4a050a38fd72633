package dev.vmm.chipset.apic;

/**
 * Where an x86 PC's interrupt controllers sit in guest-physical memory: the architectural
 * defaults that KVM's in-kernel APICs use and that the firmware tables (MP table, ACPI MADT)
 * report. One definition, so the tables and the memory layout cannot disagree.
 */
public final class ApicAddresses {
    private ApicAddresses() {}

    /** Every CPU's local APIC registers (IA32_APIC_BASE's reset value). */
    public static final long LOCAL_APIC = 0xfee0_0000L;
    /** The I/O APIC's registers (the default of the first I/O APIC). */
    public static final long IOAPIC = 0xfec0_0000L;
}
