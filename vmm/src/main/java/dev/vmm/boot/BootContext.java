package dev.vmm.boot;

import dev.vmm.memory.GuestMemory;

/**
 * What every loader needs: guest RAM, the memory map, the images and the command line.
 * {@code lowRamEnd} is the end of RAM below the 32-bit hole (initrds are placed below it).
 */
public record BootContext(GuestMemory memory, E820 e820, long lowRamEnd, String kernelName, byte[] kernel,
                          byte[] initrd, String cmdline) {
    public BootContext {
        if (cmdline.length() + 1 > X86Layout.CMDLINE_MAX) {
            throw new BootException("kernel command line is too long (" + cmdline.length() + " bytes, max "
                    + (X86Layout.CMDLINE_MAX - 1) + ")");
        }
    }

    /** Writes the NUL-terminated command line at its fixed address; returns that address. */
    long writeCmdline() {
        byte[] c = (cmdline + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        memory.write(X86Layout.CMDLINE_ADDR, c);
        return X86Layout.CMDLINE_ADDR;
    }

    /**
     * Places the initrd page-aligned as high as possible below {@code maxEnd} (and low RAM end), above
     * {@code minAddr}; returns its address, or -1 without an initrd.
     */
    long placeInitrd(long minAddr, long maxEnd) {
        if (initrd == null) return -1;
        long top = Math.min(maxEnd, lowRamEnd);
        long addr = (top - initrd.length) & ~0xFFFL;
        if (addr < minAddr || addr < 0) {
            throw new BootException("initrd (" + (initrd.length >> 10) + " KiB) does not fit in guest memory "
                    + "above the kernel; give the guest more memory (--memory)");
        }
        memory.write(addr, initrd);
        return addr;
    }

    /** Where an ELF kernel's command line and initrd went (initrd -1: none). */
    record ElfLoaded(long cmdline, long initrd) {}

    /**
     * What the PVH and multiboot protocols share: the ELF's segments in place, the command line at
     * its fixed address, the initrd page-aligned above the kernel and below 4 GiB.
     */
    ElfLoaded loadElfWithCmdlineAndInitrd(ElfImage elf) {
        loadElfSegments(elf);
        long cmdline = writeCmdline();
        long initrd = placeInitrd(Math.max(elf.physEnd(), X86Layout.HIGH_MEMORY_START), 0xFFFF_F000L);
        return new ElfLoaded(cmdline, initrd);
    }

    /** Copies the ELF's loadable segments to their physical addresses; checks they fit in RAM. */
    void loadElfSegments(ElfImage elf) {
        for (ElfImage.Segment s : elf.loadSegments()) {
            if (!memory.isValid(s.paddr(), s.memSize())) {
                throw new BootException(String.format("%s: segment at 0x%x (%d KiB) does not fit in guest RAM; "
                        + "the kernel needs more memory than given (--memory)", kernelName, s.paddr(), s.memSize() >> 10));
            }
            var dst = memory.slice(s.paddr(), s.memSize());
            dst.fill((byte) 0);
            if (s.fileSize() > 0) {
                dst.asSlice(0, s.fileSize()).copyFrom(java.lang.foreign.MemorySegment.ofArray(kernel)
                        .asSlice(s.fileOffset(), s.fileSize()));
            }
        }
    }
}
