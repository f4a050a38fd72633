/* IDT and exception reporting; recognises the CPL3 return point. */
#include "internal.h"

struct idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, reserved;
} __attribute__((packed));

/*
 * Only the 32 exception vectors: interrupts stay disabled, and a stray vector
 * beyond the limit still arrives, as #GP with error code vector * 8 + 2.
 * (Filling 256 gates is measurable as emulated CPL0 work on the PVM host.)
 */
#define IDT_ENTRIES 32
static struct idt_gate kit_idt[IDT_ENTRIES] __attribute__((aligned(16)));

static const char *const names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection",
};

void kit_idt_load(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) idtr = { sizeof(kit_idt) - 1, (uint64_t)kit_idt };
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

void kit_idt_init(void)
{
    for (int v = 0; v < IDT_ENTRIES; v++) {
        uint64_t h = (uint64_t)kit_isr_stubs + 16 * v;
        kit_idt[v].off_lo = h & 0xffff;
        kit_idt[v].sel = 0x08;
        kit_idt[v].ist = v == 8 ? 1 : 0;  /* double fault on its own stack */
        kit_idt[v].type = 0x8e;           /* present, DPL0, 64-bit interrupt gate */
        kit_idt[v].off_mid = (h >> 16) & 0xffff;
        kit_idt[v].off_hi = h >> 32;
    }
    kit_idt_load();
}

void kit_trap(struct kit_trap_frame *f)
{
    if (f->vector == 6 && (f->cs & 3) == 3 && f->rip == (uint64_t)kit_user_exit_ud2)
        kit_user_resume(f->rax);

    if (f->vector == 13 && (f->error & 3) == 2)
        kit_printf("EXCEPTION: interrupt vector %lu arrived (interrupts are not used by the kit)\n", f->error >> 3);
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    const char *name = f->vector < 32 && names[f->vector] ? names[f->vector] : "interrupt";
    kit_printf("EXCEPTION vector=%lu (%s) error=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx cr2=0x%lx cpl=%lu\n",
               f->vector, name, f->error, f->rip, f->cs, f->rflags, f->rsp, cr2, f->cs & 3);
    kit_exit(KIT_EXIT_EXCEPTION);
}
