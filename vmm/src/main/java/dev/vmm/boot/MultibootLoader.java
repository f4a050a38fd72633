package dev.vmm.boot;

import dev.vmm.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Multiboot (v1) for ELF kernels: the header must lie in the first 8 KiB, 4-byte aligned, with a
 * valid checksum. The kernel gets EAX = 0x2BADB002 and EBX = the multiboot information structure
 * (memory sizes, memory map, command line, boot loader name, modules).
 */
public final class MultibootLoader {
    public static final int HEADER_MAGIC = 0x1BADB002;
    public static final int BOOTLOADER_MAGIC = 0x2BADB002;
    private static final int FLAG_MEM = 1 << 0, FLAG_CMDLINE = 1 << 2, FLAG_MODS = 1 << 3, FLAG_MMAP = 1 << 6,
            FLAG_LOADER_NAME = 1 << 9;
    private static final int INFO_SIZE = 88;

    private MultibootLoader() {}

    /** Offset of a valid multiboot header in the first 8 KiB, or -1. */
    public static int findHeader(byte[] f) {
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        for (int o = 0; o + 12 <= Math.min(f.length, 8192); o += 4) {
            if (b.getInt(o) == HEADER_MAGIC && b.getInt(o) + b.getInt(o + 4) + b.getInt(o + 8) == 0) return o;
        }
        return -1;
    }

    public static BootEntry load(BootContext ctx, ElfImage elf, int headerOffset) {
        ByteBuffer h = ByteBuffer.wrap(ctx.kernel()).order(ByteOrder.LITTLE_ENDIAN);
        int flags = h.getInt(headerOffset + 4);
        if ((flags & 0x0000_fff8) != 0) {
            // Bits 0-15 are requirements; we honour 0 (page-aligned modules), 1 (memory info), 2 (video: ignored,
            // as other loaders do). Bit 16 (a.out kludge) is optional for ELF: the ELF headers are used.
            throw new BootException(ctx.kernelName() + ": multiboot header asks for unsupported features (flags 0x"
                    + Integer.toHexString(flags) + ")");
        }
        BootContext.ElfLoaded loaded = ctx.loadElfWithCmdlineAndInitrd(elf);
        GuestMemory m = ctx.memory();
        long cmdline = loaded.cmdline(), initrd = loaded.initrd();

        long info = X86Layout.BOOT_INFO_ADDR;
        long mods = info + INFO_SIZE;
        long mmap = mods + 16;
        long name = mmap + 24L * ctx.e820().entries().size();
        byte[] loaderName = "vmm\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        m.slice(info, name + loaderName.length - info).fill((byte) 0);
        int infoFlags = FLAG_MEM | FLAG_CMDLINE | FLAG_MMAP | FLAG_LOADER_NAME | (initrd >= 0 ? FLAG_MODS : 0);
        m.writeU32(info, infoFlags);
        m.writeU32(info + 4, (int) (X86Layout.EBDA_START / 1024));      // mem_lower (KiB)
        m.writeU32(info + 8, (int) ctx.e820().upperMemoryKib());        // mem_upper (KiB above 1 MiB)
        m.writeU32(info + 16, (int) cmdline);
        if (initrd >= 0) {
            m.writeU32(info + 20, 1);
            m.writeU32(info + 24, (int) mods);
            m.writeU32(mods, (int) initrd);
            m.writeU32(mods + 4, (int) (initrd + ctx.initrd().length));
        }
        long p = mmap;
        for (E820.Entry e : ctx.e820().entries()) {
            m.writeU32(p, 20);                   // size of the entry, not counting this field
            m.writeU64(p + 4, e.addr());
            m.writeU64(p + 12, e.size());
            m.writeU32(p + 20, e.type());
            p += 24;
        }
        m.writeU32(info + 44, (int) (p - mmap));
        m.writeU32(info + 48, (int) mmap);
        m.write(name, loaderName);
        m.writeU32(info + 64, (int) name);
        return new BootEntry(BootEntry.Mode.PROTECTED_32, elf.entry(), BOOTLOADER_MAGIC, info, 0, "multiboot");
    }
}
