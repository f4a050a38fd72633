/*
 * Multiboot v1 header (used by the *.mb.elf variant).  Placed first in .text
 * so it lies within the first 8 KiB of the file.  Flags: bit 0 (align
 * modules), bit 1 (memory information wanted).  No a.out kludge: the loader
 * uses the ELF program headers and e_entry (= kit_mb_entry).
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003
    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
