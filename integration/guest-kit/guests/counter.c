/*
 * counter: a migration workload.  Keeps incrementing one 64-bit counter per
 * 4 KiB page of a RAM area, round-robin, paced by the TSC so that a known
 * fraction of the area is dirtied per second, and prints a numbered progress
 * mark at a fixed interval.  Across a live migration the marks must continue
 * with no gap and no repeat, and at the end every page's counter must hold
 * exactly the number of increments it was given (checked by the guest).
 *
 * cmdline: mib=N       area size (default 16)
 *          rate=P      percent of the area's pages dirtied per second (default 5;
 *                      0 = as fast as possible)
 *          secs=N      run time in seconds, then verify and exit (default 10;
 *                      0 = forever)
 *          mark_ms=N   progress mark interval (default 200)
 *          cpl=0|3     where the increment loop runs (default 3: KVM's dirty log
 *                      sees those writes; 0: emulated on PVM, invisible to it)
 *          catchup=0|1 1 (default): time the vCPU did not run is made up for at once;
 *                      0: it is lost, so the pages dirtied per second follow the
 *                      share of time the vCPU runs (what auto-converge's throttle cuts)
 */
#include "kit.h"

#define MIB ((uint64_t)1 << 20)
#define PAGE 4096

struct work {
    uint64_t base, pages;      /* the area */
    uint64_t next;             /* next page to increment */
    uint64_t total;            /* increments done so far */
    uint64_t per_ms_x1000;     /* pages per millisecond, x1000 (pacing) */
    uint64_t khz;              /* TSC kHz */
    uint64_t until;            /* TSC deadline of this slice */
    uint64_t t0;               /* start: marks are counted from here */
    uint64_t pace_t0, done_at_t0; /* pacing origin */
    uint64_t catchup;          /* 0: a backlog of more than 1 ms is dropped */
};

/* Increments counters until w->until, keeping to the rate. Runs at CPL3 (or 0). */
static uint64_t slice(uint64_t arg)
{
    struct work *w = (void *)arg;
    for (;;) {
        uint64_t now = rdtsc();
        if ((int64_t)(now - w->until) >= 0)
            return 0;
        uint64_t want = w->per_ms_x1000 == 0 ? w->total + 64
                : w->done_at_t0 + (now - w->pace_t0) / w->khz * w->per_ms_x1000 / 1000;
        if (!w->catchup && want > w->total + w->per_ms_x1000 / 1000 + 64) {
            /* The vCPU was stopped for more than a millisecond: start pacing afresh. */
            w->pace_t0 = now;
            w->done_at_t0 = w->total;
            want = w->total;
        }
        while (w->total < want) {
            volatile uint64_t *c = (volatile uint64_t *)(w->base + w->next * PAGE);
            *c = *c + 1;
            w->total++;
            if (++w->next == w->pages)
                w->next = 0;
        }
    }
}

static inline uint64_t fill_pattern(uint64_t addr)
{
    return (addr * 0x9e3779b97f4a7c15ull) | 1;
}

static uint64_t init_area(uint64_t arg)
{
    struct work *w = (void *)arg;
    for (uint64_t p = 0; p < w->pages; p++) {
        volatile uint64_t *pg = (volatile uint64_t *)(w->base + p * PAGE);
        pg[0] = 0;
        for (unsigned i = 1; i < PAGE / 8; i++)
            pg[i] = fill_pattern(w->base + p * PAGE + i * 8);
    }
    return 0;
}

/* 0 if every page's pattern is intact, else 1 + the page number of the first damaged one. */
static uint64_t check_patterns(uint64_t arg)
{
    struct work *w = (void *)arg;
    for (uint64_t p = 0; p < w->pages; p++)
        for (unsigned i = 1; i < PAGE / 8; i++) {
            uint64_t a = w->base + p * PAGE + i * 8;
            if (*(volatile uint64_t *)a != fill_pattern(a))
                return p + 1;
        }
    return 0;
}

static uint64_t tsc_khz(void)
{
    uint64_t k = kit_tsc_khz();
    if (!k)
        k = kit_pit_calibrate_khz();
    return k ? k : 2000000;
}

int main(void)
{
    uint64_t mib = kit_cmdline_u64("mib", 16);
    uint64_t rate = kit_cmdline_u64("rate", 5);
    uint64_t secs = kit_cmdline_u64("secs", 10);
    uint64_t mark_ms = kit_cmdline_u64("mark_ms", 200);
    uint64_t cpl = kit_cmdline_u64("cpl", 3);
    uint64_t catchup = kit_cmdline_u64("catchup", 1);
    if (mib == 0 || mark_ms == 0 || rate > 100000 || (cpl != 0 && cpl != 3) || catchup > 1) {
        kit_printf("counter: FAIL: need mib >= 1, mark_ms >= 1, rate <= 100000, cpl 0 or 3, catchup 0 or 1\n");
        return KIT_EXIT_FAIL;
    }
    static struct work w;
    w.base = KIT_ALIGN_UP(kit_free_start(), PAGE);
    w.pages = mib * MIB / PAGE;
    uint64_t end = w.base + w.pages * PAGE;
    bool fits = false;
    for (unsigned i = 0; i < kit_boot.mem_count; i++) {
        const struct kit_mem_region *m = &kit_boot.mem[i];
        if (m->type == KIT_MEM_USABLE && m->base <= w.base && m->base + m->size >= end)
            fits = true;
    }
    if (!fits) {
        kit_printf("counter: FAIL: %lu MiB at 0x%lx do not fit in one RAM region\n", mib, w.base);
        return KIT_EXIT_FAIL;
    }
    /* Counter word 0, the rest of each page a pattern: every page is a full page for the
     * migration's first pass, and later only 8 bytes of it change (what XBZRLE is for).
     * At CPL3: CPL0 code is emulated on PVM, far too slow for megabytes. */
    kit_run_user(init_area, (uint64_t)&w);
    w.khz = tsc_khz();
    /* pages/ms = pages * rate% / 1000 ms, kept x1000 for precision */
    w.per_ms_x1000 = w.pages * rate / 100;
    kit_printf("counter: %lu pages at 0x%lx, %lu%%/s (%lu pages/s), mark every %lu ms, cpl %lu, tsc %lu kHz\n",
               w.pages, w.base, rate, w.pages * rate / 100, mark_ms, cpl, w.khz);
    w.catchup = catchup;
    w.t0 = w.pace_t0 = rdtsc();
    uint64_t stop = secs ? w.t0 + secs * 1000 * w.khz : 0;
    for (uint64_t mark = 1;; mark++) {
        w.until = w.t0 + mark * mark_ms * w.khz;
        if (stop && (int64_t)(w.until - stop) > 0)
            w.until = stop;
        if (cpl == 3)
            kit_run_user(slice, (uint64_t)&w);
        else
            slice((uint64_t)&w);
        kit_printf("counter: mark %lu total %lu\n", mark, w.total);
        if (stop && w.until == stop)
            break;
    }
    uint64_t bad = kit_run_user(check_patterns, (uint64_t)&w);
    if (bad) {
        kit_printf("counter: MISMATCH page %lu at 0x%lx: pattern damaged\n", bad - 1, w.base + (bad - 1) * PAGE);
        return KIT_EXIT_MEMTEST;
    }
    /* Page p was incremented total/pages times, plus once more if p < total % pages. */
    uint64_t full = w.total / w.pages, extra = w.total % w.pages;
    for (uint64_t p = 0; p < w.pages; p++) {
        uint64_t want = full + (p < extra ? 1 : 0);
        uint64_t got = *(volatile uint64_t *)(w.base + p * PAGE);
        if (got != want) {
            kit_printf("counter: MISMATCH page %lu at 0x%lx: %lu increments, expected %lu\n", p,
                       w.base + p * PAGE, got, want);
            return KIT_EXIT_MEMTEST;
        }
    }
    kit_printf("counter: ok %lu increments over %lu pages\n", w.total, w.pages);
    return KIT_EXIT_OK;
}
