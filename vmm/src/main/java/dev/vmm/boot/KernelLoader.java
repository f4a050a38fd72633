package dev.vmm.boot;

/**
 * Recognises a kernel image by its content (never by its name) and hands it to the loader of its
 * boot protocol: multiboot for ELF32 kernels with a multiboot header, PVH for ELF kernels with a
 * PVH entry note, the Linux 64-bit protocol for bzImages and other ELF64 kernels.
 */
public final class KernelLoader {
    private KernelLoader() {}

    public static BootEntry load(BootContext ctx, long rsdpAddr) {
        byte[] k = ctx.kernel();
        if (k.length == 0) throw new BootException(ctx.kernelName() + ": empty file");
        if (ElfImage.isElf(k)) {
            ElfImage elf = ElfImage.parse(k, ctx.kernelName());
            int mb = MultibootLoader.findHeader(k);
            if (!elf.is64() && mb >= 0) return MultibootLoader.load(ctx, elf, mb);
            long pvh = PvhLoader.pvhEntry(elf);
            if (pvh >= 0) return PvhLoader.load(ctx, elf, pvh, rsdpAddr);
            if (mb >= 0) return MultibootLoader.load(ctx, elf, mb);
            if (elf.is64()) return LinuxLoader.loadVmlinux(ctx, elf);
            throw new BootException(ctx.kernelName() + ": 32-bit ELF without a multiboot header or PVH note");
        }
        if (LinuxLoader.isBzImage(k)) return LinuxLoader.loadBzImage(ctx);
        throw new BootException(ctx.kernelName() + ": not a kernel (not ELF, not a bzImage)");
    }
}
