/*
 * hello: the smallest guest.  Prints a greeting, the boot protocol and the
 * command line, then exits 0.  Two optional extras for bringing up a VMM:
 *
 * cmdline: user=1     also make one CPL3 round trip (iretq to ring 3, a port
 *                     write from ring 3, back via #UD) and print its result
 *          fault=KIND raise an exception on purpose to check the reporting:
 *                     ud (ud2 at CPL0), pf (read of unmapped 512 GiB),
 *                     user-pf (the same read at CPL3); exits 2
 */
#include "kit.h"

static uint64_t user_fn(uint64_t arg)
{
    outb(0x80, 0x42); /* a port write from ring 3 needs the TSS I/O bitmap on PVM */
    return arg + current_cpl();
}

static uint64_t read_unmapped(uint64_t arg)
{
    (void)arg;
    return *(volatile uint64_t *)(512ull << 30); /* PML4 entry 1 is not present */
}

int main(void)
{
    kit_printf("Hello from the guest kit\n");
    kit_printf("boot protocol: %s\n", kit_boot.protocol_name);
    kit_printf("cmdline: %s\n", kit_boot.cmdline);

    if (kit_cmdline_u64("user", 0)) {
        uint64_t r = kit_run_user(user_fn, 100);
        kit_printf("user mode round trip: %s (returned %lu)\n", r == 103 ? "ok" : "FAILED", r);
        if (r != 103)
            return KIT_EXIT_FAIL;
    }

    char fault[16];
    if (kit_cmdline_str("fault", fault, sizeof(fault))) {
        kit_printf("raising fault: %s\n", fault);
        if (strcmp(fault, "ud") == 0)
            __asm__ volatile("ud2");
        else if (strcmp(fault, "pf") == 0)
            read_unmapped(0);
        else if (strcmp(fault, "user-pf") == 0)
            kit_run_user(read_unmapped, 0);
        kit_printf("unknown fault kind '%s' (ud, pf, user-pf)\n", fault);
        return KIT_EXIT_FAIL;
    }
    return KIT_EXIT_OK;
}
