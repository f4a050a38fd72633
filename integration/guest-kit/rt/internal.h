/* Runtime-private declarations (not for guests). */
#ifndef KIT_INTERNAL_H
#define KIT_INTERNAL_H

#include "kit.h"

/* Pushed by kit_isr_common (rt/isr.S), lowest address first. */
struct kit_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

void kit_trap(struct kit_trap_frame *f);
__attribute__((noreturn)) void kit_user_resume(uint64_t result);
void kit_idt_init(void);
void kit_idt_load(void);
void kit_boot_parse(int protocol, uint32_t magic, uint32_t info);
void kit_paging_extend(void);

extern char kit_isr_stubs[];
extern char kit_user_exit_ud2[];
extern char kit_trap_stack_top[], kit_df_stack_top[];
extern uint64_t kit_gdt[];
extern uint64_t kit_pml4[], kit_pdpt[];
extern char _kit_start[], _kit_end[];
extern char kit_tramp_start[], kit_tramp_end[];
extern uint64_t kit_tramp_cr3, kit_tramp_stack, kit_tramp_entry;

#endif
