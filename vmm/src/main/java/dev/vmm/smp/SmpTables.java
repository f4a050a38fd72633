package dev.vmm.smp;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.firmware.MpTable;

/**
 * What the topology puts into a machine's firmware tables, for both recipes: the boot CPUs' APIC
 * ids (MADT, MP table) and, when CPUs can be plugged ({@code maxcpus} above the boot count), the
 * hot-plug AML over the register block at {@code hotplugBase} with every possible CPU in the MADT.
 * With today's {@code --cpus N} the tables are byte for byte what they were.
 */
public final class SmpTables {
    private SmpTables() {}

    public static AcpiTables.Builder acpi(AcpiTables.Builder b, SmpTopology t, int hotplugBase) {
        b.apicIds(t.apicIds(t.cpus()));
        if (t.hotpluggable()) b.cpuHotplug(hotplugBase, t.apicIds(t.maxCpus()));
        return b;
    }

    public static MpTable.Builder mp(MpTable.Builder b, SmpTopology t) {
        return b.apicIds(t.apicIds(t.cpus()));
    }
}
