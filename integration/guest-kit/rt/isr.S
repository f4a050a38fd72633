/*
 * Interrupt/exception entry stubs, CPL3 entry/return and the AP trampoline.
 */
    .code64
    .text

/*
 * 32 stubs (the exception vectors), 16 bytes apart (kit_isr_stubs + 16 * vector).  Each pushes a
 * dummy error code where the CPU does not, then the vector number.
 */
    .balign 16
    .globl kit_isr_stubs
kit_isr_stubs:
    vec = 0
    .rept 32
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp kit_isr_common
    vec = vec + 1
    .endr

/* Frame layout matches struct kit_trap_frame in rt/internal.h. */
kit_isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call kit_trap
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

/*
 * uint64_t kit_run_user(uint64_t (*fn)(uint64_t), uint64_t arg)
 * Saves the callee-saved registers and %rsp, then iretq to CPL3 with
 * IOPL=3 and IF=0.  Exceptions from CPL3 land on the TSS RSP0 stack, so the
 * saved context stays intact until kit_user_resume restores it.
 */
    .globl kit_run_user
kit_run_user:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, kit_user_saved_rsp(%rip)
    pushq $0x23                         /* SS: user data */
    leaq kit_user_stack_top(%rip), %rax
    pushq %rax                          /* RSP */
    pushq $0x3002                       /* RFLAGS: IOPL=3, IF=0 */
    pushq $0x2b                         /* CS: user code */
    leaq kit_user_trampoline(%rip), %rax
    pushq %rax                          /* RIP */
    iretq

kit_user_trampoline:                    /* CPL3: %rdi = fn, %rsi = arg */
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax
    .globl kit_user_exit_ud2
kit_user_exit_ud2:                      /* recognised by the #UD handler */
    ud2

/* noreturn void kit_user_resume(uint64_t result): back into kit_run_user's caller. */
    .globl kit_user_resume
kit_user_resume:
    movq kit_user_saved_rsp(%rip), %rsp
    movq %rdi, %rax
    movl $0x10, %ecx
    movl %ecx, %ds
    movl %ecx, %es
    movl %ecx, %ss
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    .bss
    .balign 8
kit_user_saved_rsp: .skip 8

    .section .kitstack, "aw", @nobits
    .balign 4096
    .skip 65536
    .globl kit_user_stack_top
kit_user_stack_top:
    .skip 16384
    .globl kit_trap_stack_top
kit_trap_stack_top:                     /* TSS RSP0 */
    .skip 8192
    .globl kit_df_stack_top
kit_df_stack_top:                       /* TSS IST1, double fault */

/*
 * AP trampoline, copied to KIT_TRAMPOLINE_BASE (0x8000) and entered in real
 * mode at 0800:0000 by the SIPI.  Position dependent: every absolute address
 * is computed against TRAMP_BASE.  kit_smp_prepare fills cr3/stack/entry.
 */
#define TRAMP_BASE 0x8000
#define T(sym) (TRAMP_BASE + ((sym) - kit_tramp_start))
    .section .text.trampoline, "ax"
    .globl kit_tramp_start, kit_tramp_end, kit_tramp_cr3, kit_tramp_stack, kit_tramp_entry
    .code16
kit_tramp_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl (tramp_gdtr - kit_tramp_start)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x18, $T(tramp32)

    .code32
tramp32:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl T(kit_tramp_cr3), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010000, %eax
    movl %eax, %cr0
    ljmp $0x08, $T(tramp64)

    .code64
tramp64:
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movq T(kit_tramp_stack), %rsp
    movq T(kit_tramp_entry), %rax
    call *%rax
1:  cli
    hlt
    jmp 1b

    .balign 8
tramp_gdtr:
    .word 8 * 8 - 1                 /* kit_gdt: 8 descriptors (rt/boot.S) */
    .long kit_gdt
    .balign 8
kit_tramp_cr3:   .quad 0
kit_tramp_stack: .quad 0
kit_tramp_entry: .quad 0
kit_tramp_end:
