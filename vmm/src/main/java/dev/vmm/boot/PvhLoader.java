package dev.vmm.boot;

import dev.vmm.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Xen PVH direct boot: the ELF names a 32-bit entry in a XEN_ELFNOTE_PHYS32_ENTRY note; the VMM
 * loads the segments and passes an {@code hvm_start_info} (version 1, with the memory map) in EBX.
 */
public final class PvhLoader {
    public static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    public static final int HVM_START_MAGIC = 0x336ec578;
    static final int START_INFO_SIZE = 56;
    static final int MODLIST_ENTRY_SIZE = 32;
    static final int MEMMAP_ENTRY_SIZE = 24;

    private PvhLoader() {}

    /** The PVH entry point named by the ELF's notes, or -1. */
    public static long pvhEntry(ElfImage elf) {
        for (ElfImage.Note n : elf.notes()) {
            if (n.name().equals("Xen") && n.type() == XEN_ELFNOTE_PHYS32_ENTRY && n.desc().length >= 4) {
                ByteBuffer d = ByteBuffer.wrap(n.desc()).order(ByteOrder.LITTLE_ENDIAN);
                return n.desc().length >= 8 ? d.getLong(0) & 0xffffffffL : d.getInt(0) & 0xffffffffL;
            }
        }
        return -1;
    }

    public static BootEntry load(BootContext ctx, ElfImage elf, long entry, long rsdpAddr) {
        BootContext.ElfLoaded loaded = ctx.loadElfWithCmdlineAndInitrd(elf);
        GuestMemory m = ctx.memory();
        long cmdline = loaded.cmdline(), initrd = loaded.initrd();

        long info = X86Layout.BOOT_INFO_ADDR;
        long modlist = info + START_INFO_SIZE;
        long memmap = modlist + MODLIST_ENTRY_SIZE;
        int nmods = initrd >= 0 ? 1 : 0;
        m.writeU32(info, HVM_START_MAGIC);
        m.writeU32(info + 4, 1);                 // version 1: has memmap fields
        m.writeU32(info + 8, 0);                 // flags
        m.writeU32(info + 12, nmods);
        m.writeU64(info + 16, nmods > 0 ? modlist : 0);
        m.writeU64(info + 24, cmdline);
        m.writeU64(info + 32, Math.max(rsdpAddr, 0));
        m.writeU64(info + 40, memmap);
        m.writeU32(info + 48, ctx.e820().entries().size());
        m.writeU32(info + 52, 0);
        if (nmods > 0) {
            m.writeU64(modlist, initrd);
            m.writeU64(modlist + 8, ctx.initrd().length);
            m.writeU64(modlist + 16, 0);
            m.writeU64(modlist + 24, 0);
        }
        long p = memmap;
        for (E820.Entry e : ctx.e820().entries()) {
            m.writeU64(p, e.addr());
            m.writeU64(p + 8, e.size());
            m.writeU32(p + 16, e.type());
            m.writeU32(p + 20, 0);
            p += MEMMAP_ENTRY_SIZE;
        }
        return new BootEntry(BootEntry.Mode.PROTECTED_32, entry, 0, info, 0, "PVH");
    }
}
