package dev.vmm.boot;

import dev.vmm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Linux x86 64-bit boot protocol (Documentation/x86/boot.rst): a bzImage's setup header is
 * copied into a boot_params "zero page" with the e820 map, command line and initrd, the
 * protected-mode kernel is loaded, and the vCPU enters at {@code startup_64} in long mode with
 * RSI pointing at boot_params. A plain ELF64 {@code vmlinux} is booted the same way at its entry.
 */
public final class LinuxLoader {
    static final int SETUP_HEADER_OFFSET = 0x1f1;
    static final int HDRS_MAGIC = 0x53726448; // "HdrS"
    // boot_params offsets
    static final int BP_EXT_RAMDISK_IMAGE = 0x0c0, BP_EXT_RAMDISK_SIZE = 0x0c4, BP_EXT_CMD_LINE_PTR = 0x0c8,
            BP_E820_ENTRIES = 0x1e8, BP_E820_TABLE = 0x2d0, E820_MAX = 128;
    // setup header fields, as offsets into boot_params / the bzImage
    static final int SETUP_SECTS = 0x1f1, VID_MODE = 0x1fa, BOOT_FLAG = 0x1fe, HEADER = 0x202, VERSION = 0x206,
            TYPE_OF_LOADER = 0x210, LOADFLAGS = 0x211, RAMDISK_IMAGE = 0x218, RAMDISK_SIZE = 0x21c,
            HEAP_END_PTR = 0x224, CMD_LINE_PTR = 0x228, INITRD_ADDR_MAX = 0x22c, KERNEL_ALIGNMENT = 0x230,
            RELOCATABLE_KERNEL = 0x234, CMDLINE_SIZE = 0x238, XLOADFLAGS = 0x236, PREF_ADDRESS = 0x258,
            INIT_SIZE = 0x260;
    static final int LOADED_HIGH = 0x01, CAN_USE_HEAP = 0x80, XLF_KERNEL_64 = 0x01;

    private LinuxLoader() {}

    public static boolean isBzImage(byte[] f) {
        if (f.length < 0x300) return false;
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        return (b.getShort(BOOT_FLAG) & 0xffff) == 0xAA55 && b.getInt(HEADER) == HDRS_MAGIC;
    }

    public static BootEntry loadBzImage(BootContext ctx) {
        byte[] f = ctx.kernel();
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        int version = b.getShort(VERSION) & 0xffff;
        if (version < 0x020c) {
            throw new BootException(String.format("%s: boot protocol %d.%02d is too old for 64-bit boot (need 2.12)",
                    ctx.kernelName(), version >> 8, version & 0xff));
        }
        if ((b.getShort(XLOADFLAGS) & XLF_KERNEL_64) == 0) {
            throw new BootException(ctx.kernelName() + ": kernel has no 64-bit entry point (XLF_KERNEL_64 not set)");
        }
        if ((f[LOADFLAGS] & LOADED_HIGH) == 0) {
            throw new BootException(ctx.kernelName() + ": zImage (loaded low) kernels are not supported");
        }
        int setupSects = f[SETUP_SECTS] & 0xff;
        if (setupSects == 0) setupSects = 4;
        long kernelOffset = (setupSects + 1L) * 512;
        if (kernelOffset >= f.length) throw new BootException(ctx.kernelName() + ": truncated bzImage (no protected-mode kernel)");
        long kernelSize = f.length - kernelOffset;
        long initSize = b.getInt(INIT_SIZE) & 0xffffffffL;
        long align = b.getInt(KERNEL_ALIGNMENT) & 0xffffffffL;
        boolean relocatable = f[RELOCATABLE_KERNEL] != 0;
        long pref = b.getLong(PREF_ADDRESS);
        // Load where the kernel prefers; a relocatable kernel may go anywhere aligned, but its
        // preferred address avoids a self-relocation copy (which is slow when emulated).
        long loadAddr = pref >= X86Layout.HIGH_MEMORY_START ? pref : X86Layout.HIGH_MEMORY_START;
        if (relocatable && align > 0 && loadAddr % align != 0) loadAddr = (loadAddr + align - 1) / align * align;
        long need = Math.max(kernelSize, initSize);
        GuestMemory m = ctx.memory();
        if (!m.isValid(loadAddr, need)) {
            throw new BootException(String.format("%s needs %d MiB of RAM from 0x%x; give the guest more memory (--memory)",
                    ctx.kernelName(), (need >> 20) + 1, loadAddr));
        }
        m.write(loadAddr, MemorySegment.ofArray(f).asSlice(kernelOffset, kernelSize));

        MemorySegment zp = m.slice(X86Layout.ZERO_PAGE_ADDR, 4096);
        zp.fill((byte) 0);
        // The setup header runs from 0x1f1 to 0x202 + the byte at 0x201 (its own length).
        int hdrEnd = Math.min(0x202 + (f[0x201] & 0xff), f.length);
        zp.asSlice(SETUP_HEADER_OFFSET, hdrEnd - SETUP_HEADER_OFFSET)
                .copyFrom(MemorySegment.ofArray(f).asSlice(SETUP_HEADER_OFFSET, hdrEnd - SETUP_HEADER_OFFSET));
        long cmdlineMax = (b.getInt(CMDLINE_SIZE) & 0xffffffffL);
        if (cmdlineMax > 0 && ctx.cmdline().length() > cmdlineMax) {
            throw new BootException(ctx.kernelName() + ": command line is " + ctx.cmdline().length()
                    + " bytes, the kernel accepts at most " + cmdlineMax);
        }
        long initrdMax = b.getInt(INITRD_ADDR_MAX) & 0xffffffffL;
        fillBootParams(ctx, zp, loadAddr + need, initrdMax == 0 ? 0x37FF_FFFFL : initrdMax);
        return new BootEntry(BootEntry.Mode.LONG_64, loadAddr + 0x200, 0, 0, X86Layout.ZERO_PAGE_ADDR,
                String.format("Linux boot protocol %d.%02d (bzImage)", version >> 8, version & 0xff));
    }

    /** A plain ELF64 vmlinux without a PVH note: 64-bit entry with a minimal boot_params. */
    public static BootEntry loadVmlinux(BootContext ctx, ElfImage elf) {
        ctx.loadElfSegments(elf);
        MemorySegment zp = ctx.memory().slice(X86Layout.ZERO_PAGE_ADDR, 4096);
        zp.fill((byte) 0);
        zp.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, BOOT_FLAG, (short) 0xAA55);
        zp.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, HEADER, HDRS_MAGIC);
        zp.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, VERSION, (short) 0x020f);
        zp.set(java.lang.foreign.ValueLayout.JAVA_BYTE, LOADFLAGS, (byte) LOADED_HIGH);
        fillBootParams(ctx, zp, elf.physEnd(), 0x37FF_FFFFL);
        long entry = elf.entry();
        // vmlinux's e_entry is a virtual address in the kernel map; the physical entry is in the segment.
        for (ElfImage.Segment s : elf.loadSegments()) {
            if (entry >= s.vaddr() && entry < s.vaddr() + s.memSize()) {
                entry = entry - s.vaddr() + s.paddr();
                break;
            }
        }
        return new BootEntry(BootEntry.Mode.LONG_64, entry, 0, 0, X86Layout.ZERO_PAGE_ADDR, "Linux 64-bit (ELF vmlinux)");
    }

    private static void fillBootParams(BootContext ctx, MemorySegment zp, long kernelEnd, long initrdMax) {
        var u8 = java.lang.foreign.ValueLayout.JAVA_BYTE;
        var u16 = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
        var u32 = java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
        zp.set(u16, VID_MODE, (short) 0xFFFF);                  // "normal" text mode
        zp.set(u8, TYPE_OF_LOADER, (byte) 0xFF);                // undefined loader
        zp.set(u8, LOADFLAGS, (byte) (zp.get(u8, LOADFLAGS) | CAN_USE_HEAP));
        zp.set(u16, HEAP_END_PTR, (short) (0xFE00));
        long cmdline = ctx.writeCmdline();
        zp.set(u32, CMD_LINE_PTR, (int) cmdline);
        zp.set(u32, BP_EXT_CMD_LINE_PTR, (int) (cmdline >>> 32));
        long initrd = ctx.placeInitrd(kernelEnd, initrdMax + 1);
        if (initrd >= 0) {
            zp.set(u32, RAMDISK_IMAGE, (int) initrd);
            zp.set(u32, RAMDISK_SIZE, ctx.initrd().length);
            zp.set(u32, BP_EXT_RAMDISK_IMAGE, (int) (initrd >>> 32));
        }
        var entries = ctx.e820().entries();
        if (entries.size() > E820_MAX) throw new BootException("too many e820 entries");
        zp.set(u8, BP_E820_ENTRIES, (byte) entries.size());
        for (int i = 0; i < entries.size(); i++) {
            long o = BP_E820_TABLE + 20L * i;
            E820.Entry e = entries.get(i);
            zp.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o, e.addr());
            zp.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 8, e.size());
            zp.set(u32, o + 16, e.type());
        }
    }
}
