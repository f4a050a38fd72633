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
 * above 4 GiB once the memory map is known.  The tables are initialised data
 * in the image rather than built by a loop: CPL0 code is emulated on the PVM
 * host, and 2048 loop iterations there are visible in the boot time.
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

    /* .bss is not cleared here: like any ELF loader, QEMU and the vmm zero
     * p_memsz beyond p_filesz, and every instruction here is emulated on PVM. */
    rdtsc                           /* for the timing=1 report */
    movl %eax, kit_entry_tsc
    movl %edx, kit_entry_tsc + 4

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

    .bss
    .balign 8
    .globl kit_entry_tsc
kit_entry_tsc: .skip 8

/* ---- page tables (data, see above) ---- */
    .section .data.pagetables, "aw"
    .balign 4096
    .globl kit_pml4, kit_pdpt
kit_pml4:
    .quad kit_pdpt + (PTE_P | PTE_W | PTE_U)
    .fill 511, 8, 0
kit_pdpt:
    .quad kit_boot_pd + 0 * 4096 + (PTE_P | PTE_W | PTE_U)
    .quad kit_boot_pd + 1 * 4096 + (PTE_P | PTE_W | PTE_U)
    .quad kit_boot_pd + 2 * 4096 + (PTE_P | PTE_W | PTE_U)
    .quad kit_boot_pd + 3 * 4096 + (PTE_P | PTE_W | PTE_U)
    .fill 508, 8, 0
kit_boot_pd:                        /* 2048 x 2 MiB = 0 .. 4 GiB */
    pde = 0
    .rept 2048
    .quad (pde << 21) | (PTE_P | PTE_W | PTE_U | PTE_PS)
    pde = pde + 1
    .endr

/* ---- stacks: not zeroed, outside .bss ---- */
    .section .kitstack, "aw", @nobits
    .balign 4096
    .skip 32768
    .globl kit_boot_stack_top
kit_boot_stack_top:
