/*
 * memtest: writes and verifies address-derived patterns over all usable RAM
 * above the kit (image, stacks, page tables), at CPL3 for speed.  Every
 * region is written completely before it is read back, so aliasing (two
 * guest-physical pages backed by the same host page) is caught too.
 *
 * cmdline: passes=N   pattern passes (default 1; each pass writes and checks
 *                     a pattern and its complement)
 *          max_mib=N  stop after N MiB per pass (default 0 = all RAM)
 */
#include "kit.h"

#define MIB ((uint64_t)1 << 20)

struct range {
    uint64_t start, end, seed;
    uint64_t bad_addr, bad_expected, bad_actual; /* first mismatch, if any */
};

static inline uint64_t pattern(uint64_t addr, uint64_t seed)
{
    return (addr * 0x9e3779b97f4a7c15ull) ^ seed;
}

static uint64_t fill(uint64_t arg)
{
    struct range *r = (void *)arg;
    for (uint64_t a = r->start; a < r->end; a += 8)
        *(volatile uint64_t *)a = pattern(a, r->seed);
    return 0;
}

static uint64_t verify(uint64_t arg)
{
    struct range *r = (void *)arg;
    for (uint64_t a = r->start; a < r->end; a += 8) {
        uint64_t v = *(volatile uint64_t *)a, want = pattern(a, r->seed);
        if (v != want) {
            r->bad_addr = a;
            r->bad_expected = want;
            r->bad_actual = v;
            return 1;
        }
    }
    return 0;
}

/* The usable ranges to test, clipped to [floor, ...) and to max bytes in total. */
static unsigned collect(struct range *out, uint64_t floor, uint64_t max)
{
    unsigned n = 0;
    uint64_t total = 0;
    for (unsigned i = 0; i < kit_boot.mem_count; i++) {
        const struct kit_mem_region *m = &kit_boot.mem[i];
        if (m->type != KIT_MEM_USABLE)
            continue;
        uint64_t s = KIT_ALIGN_UP(m->base > floor ? m->base : floor, 4096);
        uint64_t e = KIT_ALIGN_DOWN(m->base + m->size, 4096);
        if (e <= s)
            continue;
        if (max && e - s > max - total)
            e = s + (max - total);
        out[n++] = (struct range){ .start = s, .end = e };
        total += e - s;
        if (max && total >= max)
            break;
    }
    return n;
}

int main(void)
{
    uint64_t passes = kit_cmdline_u64("passes", 1);
    uint64_t max = kit_cmdline_u64("max_mib", 0) * MIB;
    static struct range ranges[KIT_MAX_MEM_REGIONS];
    uint64_t floor = kit_free_start();
    unsigned n = collect(ranges, floor, max);
    uint64_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        kit_printf("memtest: range 0x%lx-0x%lx (%lu KiB)\n", ranges[i].start, ranges[i].end,
                   (ranges[i].end - ranges[i].start) >> 10);
        bytes += ranges[i].end - ranges[i].start;
    }
    if (bytes == 0) {
        kit_printf("memtest: no usable RAM above 0x%lx\n", floor);
        return KIT_EXIT_FAIL;
    }

    uint64_t t0 = rdtsc();
    for (uint64_t pass = 0; pass < passes; pass++) {
        for (int inv = 0; inv < 2; inv++) {
            uint64_t seed = (pass * 0x5bd1e995ull) ^ (inv ? ~0ull : 0);
            for (unsigned i = 0; i < n; i++) {
                ranges[i].seed = seed;
                kit_run_user(fill, (uint64_t)&ranges[i]);
            }
            for (unsigned i = 0; i < n; i++) {
                if (kit_run_user(verify, (uint64_t)&ranges[i])) {
                    kit_printf("memtest: MISMATCH at 0x%lx: expected 0x%016lx, read 0x%016lx (pass %lu)\n",
                               ranges[i].bad_addr, ranges[i].bad_expected, ranges[i].bad_actual, pass + 1);
                    return KIT_EXIT_MEMTEST;
                }
            }
        }
    }
    uint64_t cycles = rdtsc() - t0;
    kit_printf("memtest: %lu MiB tested, %lu pass(es), %lu Mcycles, ok\n", bytes / MIB, passes,
               cycles / 1000000);
    return KIT_EXIT_OK;
}
