/*
 * smp: starts every application processor listed in the MADT / MP table with
 * INIT-SIPI-SIPI; each AP enters long mode through the real-mode trampoline
 * and checks in with its APIC id.  Exit 0 when all did, 3 on a timeout.
 *
 * cmdline: timeout_ms=N   per-AP wait for the check-in (default 5000)
 */
#include "kit.h"

#define AP_STACK_SIZE 8192

static uint8_t ap_stacks[KIT_MAX_CPUS][AP_STACK_SIZE] __attribute__((section(".bss.kitstack"), aligned(16)));
static volatile uint32_t checked_in;
static volatile uint32_t checked_ids[KIT_MAX_CPUS];

static void ap_main(uint32_t apic_id)
{
    uint32_t slot = __atomic_fetch_add(&checked_in, 1, __ATOMIC_SEQ_CST);
    if (slot < KIT_MAX_CPUS)
        checked_ids[slot] = apic_id;
    for (;;)
        __asm__ volatile("cli; hlt");
}

static bool wait_checkin(uint32_t want, uint64_t timeout_us)
{
    uint64_t khz = kit_tsc_khz();
    if (!khz)
        khz = 3000000;
    uint64_t start = rdtsc(), limit = timeout_us * khz / 1000;
    while (__atomic_load_n(&checked_in, __ATOMIC_SEQ_CST) < want) {
        if (rdtsc() - start > limit)
            return false;
        cpu_relax();
    }
    return true;
}

static void print_ids(void)
{
    uint32_t n = checked_in < KIT_MAX_CPUS ? checked_in : KIT_MAX_CPUS;
    for (uint32_t i = 0; i < n; i++)
        kit_printf(" %u", checked_ids[i]);
    kit_printf("\n");
}

int main(void)
{
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    uint64_t timeout_us = kit_cmdline_u64("timeout_ms", 5000) * 1000;
    uint32_t bsp = kit_lapic_id();
    if (cpus.count > KIT_MAX_CPUS) {
        kit_printf("smp: %u CPUs listed, only %d supported\n", cpus.count, KIT_MAX_CPUS);
        return KIT_EXIT_FAIL;
    }
    kit_printf("smp: %u CPUs listed (%s), BSP APIC id %u\n", cpus.count, cpus.source, bsp);

    checked_ids[0] = bsp;
    checked_in = 1;
    kit_smp_prepare();
    unsigned stack = 0;
    for (unsigned i = 0; i < cpus.count; i++) {
        uint32_t id = cpus.apic_ids[i];
        if (id == bsp)
            continue;
        if (id > 0xff) {
            kit_printf("smp: APIC id %u needs x2APIC, not supported\n", id);
            return KIT_EXIT_FAIL;
        }
        uint32_t want = checked_in + 1;
        bool started = kit_start_ap(id, ap_stacks[stack++] + AP_STACK_SIZE, ap_main, timeout_us);
        if (!started || !wait_checkin(want, timeout_us)) {
            kit_printf("smp: FAIL: %u/%u CPUs checked in, APIC id %u %s; ids", checked_in, cpus.count, id,
                       started ? "did not check in" : "did not start");
            print_ids();
            return KIT_EXIT_SMP_TIMEOUT;
        }
    }
    kit_printf("smp: %u/%u CPUs checked in: ids", checked_in, cpus.count);
    print_ids();
    return checked_in == cpus.count ? KIT_EXIT_OK : KIT_EXIT_SMP_TIMEOUT;
}
