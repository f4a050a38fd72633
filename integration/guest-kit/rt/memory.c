/* RAM accounting, a page allocator above the image, page tables above 4 GiB. */
#include "internal.h"

#define PTE_P  0x001ull
#define PTE_W  0x002ull
#define PTE_U  0x004ull
#define PTE_PS 0x080ull
#define GIB    (1ull << 30)

static uint64_t next_free; /* bump pointer for kit_alloc_page */

uint64_t kit_usable_bytes(void)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < kit_boot.mem_count; i++)
        if (kit_boot.mem[i].type == KIT_MEM_USABLE)
            total += kit_boot.mem[i].size;
    return total;
}

bool kit_ram_contains(uint64_t addr, uint64_t len)
{
    for (unsigned i = 0; i < kit_boot.mem_count; i++) {
        const struct kit_mem_region *r = &kit_boot.mem[i];
        if (r->type == KIT_MEM_USABLE && addr >= r->base && addr - r->base <= r->size &&
            len <= r->size - (addr - r->base))
            return true;
    }
    return false;
}

uint64_t kit_free_start(void)
{
    if (!next_free)
        next_free = KIT_ALIGN_UP((uint64_t)_kit_end, 4096);
    return next_free;
}

void *kit_alloc_page(void)
{
    uint64_t p = kit_free_start();
    if (kit_boot.mem_count && !kit_ram_contains(p, 4096)) {
        kit_printf("kit: no usable RAM for a page table page at 0x%lx\n", p);
        kit_exit(KIT_EXIT_BOOT);
    }
    next_free = p + 4096;
    return memset((void *)p, 0, 4096);
}

void *kit_alloc_raw(uint64_t bytes, uint64_t align)
{
    if (align < 4096)
        align = 4096;
    uint64_t p = KIT_ALIGN_UP(kit_free_start(), align);
    bytes = KIT_ALIGN_UP(bytes, 4096);
    if (!kit_ram_contains(p, bytes)) {
        /* The next usable range may lie above a hole (e.g. RAM above 4 GiB). */
        uint64_t best = 0;
        for (unsigned i = 0; i < kit_boot.mem_count && !best; i++) {
            const struct kit_mem_region *r = &kit_boot.mem[i];
            uint64_t s = KIT_ALIGN_UP(r->base, align);
            if (r->type == KIT_MEM_USABLE && s >= p && kit_ram_contains(s, bytes))
                best = s;
        }
        if (!best) {
            kit_printf("kit: no usable RAM for %lu bytes above 0x%lx\n", bytes, p);
            kit_exit(KIT_EXIT_FAIL);
        }
        p = best;
    }
    next_free = p + bytes;
    return (void *)p;
}

/* Identity-maps usable RAM above 4 GiB (the boot map covers 0-4 GiB), up to 512 GiB. */
void kit_paging_extend(void)
{
    uint64_t top = 0;
    for (unsigned i = 0; i < kit_boot.mem_count; i++) {
        const struct kit_mem_region *r = &kit_boot.mem[i];
        if (r->type == KIT_MEM_USABLE && r->base + r->size > top)
            top = r->base + r->size;
    }
    if (top > 512 * GIB) {
        kit_printf("kit: RAM above 512 GiB is not mapped\n");
        top = 512 * GIB;
    }
    bool changed = false;
    for (uint64_t g = 4; g * GIB < top; g++) {
        if (kit_pdpt[g] & PTE_P)
            continue;
        uint64_t *pd = kit_alloc_page();
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = (g * GIB + (i << 21)) | PTE_P | PTE_W | PTE_U | PTE_PS;
        kit_pdpt[g] = (uint64_t)pd | PTE_P | PTE_W | PTE_U;
        changed = true;
    }
    if (changed) {
        uint64_t cr3;
        __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3)::"memory");
    }
}
