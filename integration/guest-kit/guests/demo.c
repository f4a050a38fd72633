/*
 * demo: the VMM's built-in demo guest.  A short banner describing the machine
 * as the guest sees it: boot protocol, memory (from the memory map), CPUs
 * (MADT or MP table) and the CPU vendor (CPUID).
 */
#include "kit.h"

int main(void)
{
    struct kit_cpus cpus;
    char vendor[13];
    kit_find_cpus(&cpus);
    kit_cpu_vendor(vendor);
    uint64_t usable = kit_usable_bytes();

    kit_printf("==== vmm demo guest ====\n");
    kit_printf("boot protocol: %s\n", kit_boot.protocol_name);
    kit_printf("memory: %lu MiB usable (%lu KiB in %u map entries)\n", usable >> 20, usable >> 10,
               kit_boot.mem_count);
    kit_printf("cpus: %u (%s)\n", cpus.count, cpus.source);
    kit_printf("cpu vendor: %s\n", vendor);
    if (kit_boot.cmdline[0])
        kit_printf("cmdline: %s\n", kit_boot.cmdline);
    kit_printf("demo: ok\n");
    return KIT_EXIT_OK;
}
