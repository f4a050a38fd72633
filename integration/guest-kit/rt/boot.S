/*
 * 32-bit entry for both boot protocols, identity-mapped long mode, 64-bit start.
 *
 *  PVH:       kit_pvh_entry, protected mode, paging off, %ebx = struct hvm_start_info.
 *  multiboot: kit_mb_entry,  protected mode, paging off, %eax = 0x2BADB002,
 *             %ebx = struct multiboot_info.
 * Neither protocol provides a stack or a GDT we may keep using.
 *
 * The boot map covers the first 4 GiB with 2 MiB pages, all with the U bit set
 * so that CPL3 code can touch RAM and MMIO; kit_start64 extends it to RAM
 * above 4 GiB once the memory map is known.
 */
#define KIT_BOOT_PVH       1
#define KIT_BOOT_MULTIBOOT 2
#define PTE_P   0x001
#define PTE_W   0x002
#define PTE_U   0x004
#define PTE_PS  0x080
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

    .section .text.entry, "ax"
    .code32
    .globl kit_pvh_entry
kit_pvh_entry:
    movl $KIT_BOOT_PVH, %esi
    jmp 1f

    .globl kit_mb_entry
kit_mb_entry:
    movl $KIT_BOOT_MULTIBOOT, %esi

1:  cli
    cld
    movl %eax, %ebp                 /* boot magic (multiboot) */
    lgdt kit_gdt_ptr32
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $kit_boot_stack_top, %esp

    /* Zero .bss (the loader should have, but a stale page table would be fatal). */
    movl $_kit_bss_start, %edi
    movl $_kit_bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories. */
    movl $kit_pdpt, %eax
    orl $(PTE_P | PTE_W | PTE_U), %eax
    movl %eax, kit_pml4
    movl $kit_boot_pd, %eax
    orl $(PTE_P | PTE_W | PTE_U), %eax
    movl %eax, kit_pdpt
    addl $4096, %eax
    movl %eax, kit_pdpt + 8
    addl $4096, %eax
    movl %eax, kit_pdpt + 16
    addl $4096, %eax
    movl %eax, kit_pdpt + 24

    /* 2048 2 MiB pages: 0 .. 4 GiB. */
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $(PTE_P | PTE_W | PTE_U | PTE_PS), %eax
    movl %eax, kit_boot_pd(, %ecx, 8)
    incl %ecx
    cmpl $2048, %ecx
    jb 2b

    movl $kit_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax                 /* PAE */
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax           /* PG | WP | PE */
    movl %eax, %cr0
    ljmp $0x08, $3f

    .code64
3:  movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movl $kit_boot_stack_top, %esp
    movl %esi, %edi                 /* protocol */
    movl %ebp, %esi                 /* magic */
    movl %ebx, %edx                 /* boot info pointer */
    call kit_start64
4:  cli
    hlt
    jmp 4b

/* ---- GDT: also used by the AP trampoline (its lgdt takes a 32-bit base). ---- */
    .section .data
    .balign 16
    .globl kit_gdt, kit_gdt_end
kit_gdt:
    .quad 0                         /* 0x00 */
    .quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
    .quad 0x00cf92000000ffff        /* 0x10 kernel data */
    .quad 0x00cf9a000000ffff        /* 0x18 kernel code, 32-bit (AP trampoline) */
    .quad 0x00cff2000000ffff        /* 0x20 user data (selector 0x23) */
    .quad 0x00affa000000ffff        /* 0x28 user code, 64-bit (selector 0x2b) */
    .quad 0, 0                      /* 0x30 TSS, filled in by kit_start64 */
kit_gdt_end:

    .balign 8
    .globl kit_gdt_ptr32
kit_gdt_ptr32:
    .word kit_gdt_end - kit_gdt - 1
    .long kit_gdt

/* ---- page tables ---- */
    .section .bss.pagetables, "aw", @nobits
    .balign 4096
    .globl kit_pml4, kit_pdpt
kit_pml4:    .skip 4096
kit_pdpt:    .skip 4096
kit_boot_pd: .skip 4 * 4096

/* ---- stacks: not zeroed, outside .bss ---- */
    .section .kitstack, "aw", @nobits
    .balign 4096
    .skip 32768
    .globl kit_boot_stack_top
kit_boot_stack_top:
