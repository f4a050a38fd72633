package dev.vmm.chipset.firmware;

import java.util.Arrays;

/** The local APIC ids the firmware tables (MP table, ACPI MADT) list, one per vCPU. */
public final class ApicIds {
    private ApicIds() {}

    /**
     * A copy of {@code ids}, checked: one per vCPU ({@code cpus}), distinct, and below 0xff (the
     * xAPIC broadcast id).
     */
    public static int[] checked(int[] ids, int cpus) {
        if (ids.length != cpus)
            throw new IllegalArgumentException(ids.length + " APIC ids for " + cpus + " cpus");
        if (Arrays.stream(ids).distinct().count() != ids.length)
            throw new IllegalArgumentException("duplicate APIC id in " + Arrays.toString(ids));
        for (int id : ids)
            if (id < 0 || id > 0xfe) throw new IllegalArgumentException("APIC id must be 0..254: " + id);
        return ids.clone();
    }

    /**
     * The IOAPIC id when none is given: the one after the highest local APIC id, as the IOAPIC's id
     * conventionally follows the CPUs'. With 255 CPUs there is no id left; 0 is then used: since the
     * Pentium 4 dropped the APIC serial bus, IOAPIC and local APIC ids live in separate name spaces,
     * and Linux does not require them to differ.
     */
    public static int defaultIoApicId(int[] apicIds) {
        int max = Arrays.stream(apicIds).max().orElseThrow();
        return max < 0xfe ? max + 1 : 0;
    }
}
