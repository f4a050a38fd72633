/*
 * Boot information: copies what the guests need (protocol, command line,
 * memory map, RSDP) out of the loader's structures before anything can
 * overwrite them (QEMU puts the multiboot information right after the image;
 * the SMP trampoline reuses a low page).
 */
#include "internal.h"

#define PVH_MAGIC 0x336ec578u
#define MB_BOOTLOADER_MAGIC 0x2badb002u
#define MB_INFO_MEMORY  (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP    (1u << 6)

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;  /* version >= 1 */
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;  /* KiB */
    uint32_t boot_device;
    uint32_t cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
};

struct multiboot_mmap_entry {
    uint32_t size;                  /* of the rest of the entry */
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

struct kit_boot_info kit_boot;

/* The boot map covers 4 GiB; a pointer handed over in 32-bit registers always fits. */
#define MAX_MAP_ENTRIES 1024       /* more means a corrupt count: refuse */
#define BOOT_MAP_LIMIT (1ull << 32) /* what the boot page tables map */

static void copy_cmdline(uint64_t paddr)
{
    if (!paddr)
        return;
    if (paddr >= BOOT_MAP_LIMIT - KIT_CMDLINE_MAX) {
        kit_printf("kit: command line at 0x%lx is above 4 GiB, ignored\n", paddr);
        return;
    }
    const char *s = (const char *)(uintptr_t)paddr;
    size_t i = 0;
    while (i + 1 < sizeof(kit_boot.cmdline) && s[i]) {
        kit_boot.cmdline[i] = s[i];
        i++;
    }
    kit_boot.cmdline[i] = '\0';
}

static void add_region(uint64_t base, uint64_t size, uint32_t type)
{
    if (kit_boot.mem_count == KIT_MAX_MEM_REGIONS) {
        kit_printf("kit: memory map has more than %d entries, ignoring 0x%lx+0x%lx\n", KIT_MAX_MEM_REGIONS,
                   base, size);
        return;
    }
    kit_boot.mem[kit_boot.mem_count++] = (struct kit_mem_region){ base, size, type };
}

static void parse_pvh(uint32_t info)
{
    const struct hvm_start_info *si = (const void *)(uintptr_t)info;
    if (!info || si->magic != PVH_MAGIC) {
        kit_printf("kit: PVH entry but no hvm_start_info at 0x%x (magic 0x%x)\n", info, info ? si->magic : 0);
        kit_exit(KIT_EXIT_BOOT);
    }
    copy_cmdline(si->cmdline_paddr);
    kit_boot.rsdp = si->rsdp_paddr;
    if (si->version >= 1 && si->memmap_paddr) {
        if (si->memmap_entries > MAX_MAP_ENTRIES ||
            si->memmap_paddr + (uint64_t)si->memmap_entries * sizeof(struct hvm_memmap_entry) > BOOT_MAP_LIMIT) {
            kit_printf("kit: bad PVH memory map: %u entries at 0x%lx\n", si->memmap_entries, si->memmap_paddr);
            kit_exit(KIT_EXIT_BOOT);
        }
        const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
        for (uint32_t i = 0; i < si->memmap_entries; i++)
            add_region(e[i].addr, e[i].size, e[i].type);
    }
}

static void parse_multiboot(uint32_t magic, uint32_t info)
{
    if (magic != MB_BOOTLOADER_MAGIC || !info) {
        kit_printf("kit: multiboot entry with eax=0x%x ebx=0x%x\n", magic, info);
        kit_exit(KIT_EXIT_BOOT);
    }
    const struct multiboot_info *mb = (const void *)(uintptr_t)info;
    if (mb->flags & MB_INFO_CMDLINE)
        copy_cmdline(mb->cmdline);
    if (mb->flags & MB_INFO_MMAP) {
        uint64_t p = mb->mmap_addr, end = p + mb->mmap_length;
        if (mb->mmap_length > MAX_MAP_ENTRIES * sizeof(struct multiboot_mmap_entry)) {
            kit_printf("kit: bad multiboot memory map: %u bytes at 0x%x\n", mb->mmap_length, mb->mmap_addr);
            kit_exit(KIT_EXIT_BOOT);
        }
        while (p + sizeof(struct multiboot_mmap_entry) <= end) {
            const struct multiboot_mmap_entry *e = (const void *)(uintptr_t)p;
            add_region(e->addr, e->len, e->type);
            p += e->size + sizeof(e->size);
        }
    } else if (mb->flags & MB_INFO_MEMORY) {
        add_region(0, (uint64_t)mb->mem_lower << 10, KIT_MEM_USABLE);
        add_region(1 << 20, (uint64_t)mb->mem_upper << 10, KIT_MEM_USABLE);
    }
}

void kit_boot_parse(int protocol, uint32_t magic, uint32_t info)
{
    kit_boot.protocol = protocol;
    if (protocol == KIT_BOOT_PVH) {
        kit_boot.protocol_name = "pvh";
        parse_pvh(info);
    } else {
        kit_boot.protocol_name = "multiboot";
        parse_multiboot(magic, info);
    }
    if (kit_boot.mem_count == 0)
        kit_printf("kit: warning: the loader passed no memory map\n");
}
