/*
 * exits: VM-exit round-trip workload.  From CPL3 (native on PVM, so the exit
 * cost dominates) it performs count port writes, then count MMIO writes to
 * an address with nothing behind it, timing each phase with the TSC.
 *
 * cmdline: count=N   exits per phase (default 100000)
 *          pio=PORT  port written (default 0x80, the POST/"null" port)
 *          mmio=ADDR physical address written (default 0xfef00000, unassigned
 *                    in QEMU pc and in the vmm's layout; must not be RAM)
 *          cpl=0|3   privilege level of the loops (default 3; 0 measures the
 *                    exit path of emulated kernel code on the PVM host)
 */
#include "kit.h"

#define DEFAULT_COUNT 100000
#define DEFAULT_PIO   0x80
#define DEFAULT_MMIO  0xfef00000ull

struct job {
    uint64_t count, port, mmio;
};

static uint64_t pio_loop(uint64_t arg)
{
    const struct job *j = (const void *)arg;
    uint16_t port = (uint16_t)j->port;
    for (uint64_t i = 0; i < j->count; i++)
        outb(port, (uint8_t)i);
    return j->count;
}

static uint64_t mmio_loop(uint64_t arg)
{
    const struct job *j = (const void *)arg;
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)j->mmio;
    for (uint64_t i = 0; i < j->count; i++)
        *p = (uint32_t)i;
    return j->count;
}

static void report(const char *what, uint64_t done, uint64_t cycles, uint64_t khz)
{
    uint64_t per = done ? cycles / done : 0;
    if (khz)
        kit_printf("exits: %s: %lu exits, %lu cycles/exit, %lu ns/exit\n", what, done, per,
                   per * 1000000 / khz);
    else
        kit_printf("exits: %s: %lu exits, %lu cycles/exit\n", what, done, per);
}

int main(void)
{
    struct job job = {
        .count = kit_cmdline_u64("count", DEFAULT_COUNT),
        .port = kit_cmdline_u64("pio", DEFAULT_PIO),
        .mmio = kit_cmdline_u64("mmio", DEFAULT_MMIO),
    };
    if (job.port > 0xffff || job.port == KIT_EXIT_PORT || (job.port >= KIT_COM1 && job.port < KIT_COM1 + 8)) {
        kit_printf("exits: pio=0x%lx is not usable (exit port, COM1 or > 0xffff)\n", job.port);
        return KIT_EXIT_FAIL;
    }
    if ((job.mmio & 3) || job.mmio >= (1ull << 32) || kit_ram_contains(job.mmio, 4)) {
        kit_printf("exits: mmio=0x%lx must be a 4-byte aligned address below 4 GiB outside RAM\n", job.mmio);
        return KIT_EXIT_FAIL;
    }
    uint64_t cpl = kit_cmdline_u64("cpl", 3);
    if (cpl != 0 && cpl != 3) {
        kit_printf("exits: cpl=%lu must be 0 or 3\n", cpl);
        return KIT_EXIT_FAIL;
    }
    uint64_t khz = kit_tsc_khz();
    kit_printf("exits: count=%lu pio=0x%lx mmio=0x%lx cpl=%lu tsc_khz=%lu\n", job.count, job.port, job.mmio, cpl,
               khz);

    uint64_t t0 = rdtsc();
    uint64_t pio = cpl ? kit_run_user(pio_loop, (uint64_t)&job) : pio_loop((uint64_t)&job);
    uint64_t t1 = rdtsc();
    uint64_t mmio = cpl ? kit_run_user(mmio_loop, (uint64_t)&job) : mmio_loop((uint64_t)&job);
    uint64_t t2 = rdtsc();

    report("pio", pio, t1 - t0, khz);
    report("mmio", mmio, t2 - t1, khz);
    kit_printf("exits: done pio=%lu mmio=%lu\n", pio, mmio);
    return pio == job.count && mmio == job.count ? KIT_EXIT_OK : KIT_EXIT_FAIL;
}
