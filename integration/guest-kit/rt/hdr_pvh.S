/*
 * Xen PVH ELF note (used by the *.pvh.elf variant): XEN_ELFNOTE_PHYS32_ENTRY
 * (type 18) giving the 32-bit protected-mode entry point.  The descriptor is
 * 8 bytes wide: QEMU reads a full 64-bit word from it for ELF64 files, and a
 * loader accepting 4 or 8 bytes (Xen's, ours) reads the same value.
 * The section is 4-byte aligned because QEMU pads the note name to the
 * PT_NOTE segment's p_align.
 */
    .section .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f           /* namesz */
    .long 4f - 3f           /* descsz */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
1:  .asciz "Xen"
2:  .balign 4
3:  .quad kit_pvh_entry
4:  .balign 4
