/* 64-bit start: descriptor tables, boot information, then main(). */
#include "internal.h"

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
    /* All-zero I/O permission bitmap (every port allowed) plus the required
     * 0xff terminator.  IOPL=3 alone is not enough on the PVM host: it runs
     * guest user code with IOPL=0 but honours the TSS bitmap. */
    uint8_t iomap[65536 / 8 + 1];
} __attribute__((packed));

static struct tss64 kit_tss __attribute__((aligned(16)));

extern uint64_t kit_entry_tsc;

struct desc_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static void tss_init(void)
{
    kit_tss.rsp[0] = (uint64_t)kit_trap_stack_top;
    kit_tss.ist[0] = (uint64_t)kit_df_stack_top;
    kit_tss.iomap_base = offsetof(struct tss64, iomap);
    kit_tss.iomap[sizeof(kit_tss.iomap) - 1] = 0xff;

    uint64_t base = (uint64_t)&kit_tss;
    uint64_t limit = sizeof(kit_tss) - 1;
    /* 64-bit available TSS (type 9), present, DPL0. */
    kit_gdt[6] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                 (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    kit_gdt[7] = base >> 32;

    struct desc_ptr gdtr = { 8 * 8 - 1, (uint64_t)kit_gdt };
    __asm__ volatile("lgdt %0" ::"m"(gdtr));
    __asm__ volatile("ltr %w0" ::"r"(0x30));
}

static uint64_t main_tsc;
static bool exiting;

void kit_start64(int protocol, uint32_t magic, uint32_t info)
{
    kit_serial_init();
    tss_init();
    kit_idt_init();
    kit_boot_parse(protocol, magic, info);
    kit_paging_extend();
    main_tsc = rdtsc();
    kit_exit(main());
}

__attribute__((noreturn)) void kit_exit(int code)
{
    /* timing=1: TSC cycles spent before main() and in it (the exit path is
     * re-entered if the timing option itself is malformed). */
    if (!exiting) {
        exiting = true;
        if (kit_cmdline_u64("timing", 0)) {
            uint64_t now = rdtsc();
            kit_printf("kit: timing: %lu kcycles entry to main, %lu kcycles in main\n",
                       main_tsc ? (main_tsc - kit_entry_tsc) / 1000 : 0, main_tsc ? (now - main_tsc) / 1000 : 0);
        }
    }
    kit_printf("EXIT %d\n", code);
    for (;;) {
        outb(KIT_EXIT_PORT, (uint8_t)code);
        /* Only reached without an exit device: stop here. */
        if (current_cpl() == 0)
            __asm__ volatile("cli; hlt");
        else
            cpu_relax();
    }
}
