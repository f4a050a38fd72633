/* Starting application processors: xAPIC INIT-SIPI-SIPI into rt/isr.S's trampoline. */
#include "internal.h"

#define LAPIC_ID      0x020
#define LAPIC_SVR     0x0f0
#define LAPIC_ICR_LO  0x300
#define LAPIC_ICR_HI  0x310
#define ICR_PENDING   (1u << 12)
#define ICR_INIT      0x00004500u /* INIT, level assert */
#define ICR_STARTUP   0x00004600u /* start-up, vector in bits 0-7 */

static uint64_t lapic_base = KIT_LAPIC_DEFAULT_BASE;
static void (*volatile ap_entry)(uint32_t);
static volatile uint32_t ap_started; /* set by each AP once in 64-bit C code */

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic_base + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic_base + reg, v); }

uint32_t kit_lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

/* First C code on an AP (called from the trampoline on the AP's stack). */
static void ap_start64(void)
{
    kit_idt_load();
    uint32_t id = kit_lapic_id();
    void (*entry)(uint32_t) = ap_entry;
    __atomic_store_n(&ap_started, 1, __ATOMIC_SEQ_CST);
    entry(id);
}

void kit_smp_prepare(void)
{
    struct kit_cpus cpus;
    kit_find_cpus(&cpus);
    if (cpus.lapic_base)
        lapic_base = cpus.lapic_base;
    memcpy((void *)(uint64_t)KIT_TRAMPOLINE_BASE, kit_tramp_start, kit_tramp_end - kit_tramp_start);
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x100); /* software-enable */
}

static uint64_t *tramp_field(uint64_t *template_field)
{
    return (uint64_t *)(KIT_TRAMPOLINE_BASE + ((char *)template_field - kit_tramp_start));
}

static bool send_ipi(uint32_t apic_id, uint32_t icr)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr);
    for (int i = 0; i < 1000; i++) {
        if (!(lapic_read(LAPIC_ICR_LO) & ICR_PENDING))
            return true;
        kit_udelay(10);
    }
    return false;
}

static bool wait_started(uint64_t timeout_us)
{
    uint64_t khz = kit_tsc_khz();
    if (!khz)
        khz = 3000000;
    uint64_t start = rdtsc(), limit = timeout_us * khz / 1000;
    while (rdtsc() - start < limit) {
        if (__atomic_load_n(&ap_started, __ATOMIC_SEQ_CST))
            return true;
        cpu_relax();
    }
    return __atomic_load_n(&ap_started, __ATOMIC_SEQ_CST);
}

bool kit_start_ap(uint32_t apic_id, void *stack_top, void (*entry)(uint32_t), uint64_t timeout_us)
{
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    *tramp_field(&kit_tramp_cr3) = cr3;
    *tramp_field(&kit_tramp_stack) = (uint64_t)stack_top & ~15ull;
    *tramp_field(&kit_tramp_entry) = (uint64_t)ap_start64;
    ap_entry = entry;
    __atomic_store_n(&ap_started, 0, __ATOMIC_SEQ_CST);

    uint32_t sipi = ICR_STARTUP | (KIT_TRAMPOLINE_BASE >> 12);
    if (!send_ipi(apic_id, ICR_INIT))
        return false;
    kit_udelay(10000);
    if (!send_ipi(apic_id, sipi))
        return false;
    if (wait_started(1000))
        return true;
    if (!send_ipi(apic_id, sipi))
        return false;
    return wait_started(timeout_us);
}
