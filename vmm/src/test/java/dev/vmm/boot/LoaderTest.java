package dev.vmm.boot;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Boot loaders against synthetic images in a fake guest memory (no KVM needed). */
class LoaderTest {
    private static final long MEM = 64L << 20;
    private final Arena arena = Arena.ofAuto();
    private final GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(MEM, 4096))));
    private final E820 e820 = E820.forRam(List.of(new long[] {0, MEM}));

    /** An ELF (32 or 64-bit) with one PT_LOAD of {@code code} at {@code paddr} and optional PT_NOTE. */
    static byte[] elf(boolean is64, long paddr, byte[] code, byte[] note, byte[] prefix) {
        int ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;
        int phnum = note == null ? 1 : 2;
        int dataOff = 0x100;
        int noteOff = dataOff + code.length;
        int len = noteOff + (note == null ? 0 : note.length);
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', (byte) (is64 ? 2 : 1), 1, 1, 0});
        b.position(16);
        b.putShort((short) 2).putShort((short) (is64 ? 62 : 3)).putInt(1);
        if (is64) b.putLong(paddr).putLong(ehsize).putLong(0); else b.putInt((int) paddr).putInt(ehsize).putInt(0);
        b.putInt(0).putShort((short) ehsize).putShort((short) phentsize).putShort((short) phnum)
                .putShort((short) 0).putShort((short) 0).putShort((short) 0);
        b.position(ehsize);
        phdr(b, is64, 1, dataOff, paddr, code.length, code.length + 0x1000);
        if (note != null) phdr(b, is64, 4, noteOff, 0, note.length, note.length);
        b.position(dataOff);
        b.put(code);
        if (note != null) b.put(note);
        byte[] out = b.array();
        if (prefix != null) System.arraycopy(prefix, 0, out, dataOff, prefix.length);
        return out;
    }

    private static void phdr(ByteBuffer b, boolean is64, int type, long off, long paddr, long filesz, long memsz) {
        if (is64) {
            b.putInt(type).putInt(7).putLong(off).putLong(paddr).putLong(paddr).putLong(filesz).putLong(memsz).putLong(16);
        } else {
            b.putInt(type).putInt((int) off).putInt((int) paddr).putInt((int) paddr).putInt((int) filesz)
                    .putInt((int) memsz).putInt(7).putInt(16);
        }
    }

    static byte[] pvhNote(long entry) {
        ByteBuffer n = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        n.putInt(4).putInt(8).putInt(18).put(new byte[] {'X', 'e', 'n', 0}).putLong(entry);
        return n.array();
    }

    private BootContext ctx(byte[] kernel, byte[] initrd, String cmdline) {
        return new BootContext(mem, e820, MEM, "k", kernel, initrd, cmdline);
    }

    @Test
    void pvhStartInfoCarriesMemmapCmdlineAndModule() {
        byte[] code = {(byte) 0xf4, 1, 2, 3};
        byte[] k = elf(true, 0x100000, code, pvhNote(0x100000), null);
        byte[] initrd = new byte[5000];
        initrd[0] = 42;
        BootEntry e = KernelLoader.load(ctx(k, initrd, "console=ttyS0 x=1"), 0xE0000);
        assertThat(e.protocol()).isEqualTo("PVH");
        assertThat(e.mode()).isEqualTo(BootEntry.Mode.PROTECTED_32);
        assertThat(e.rip()).isEqualTo(0x100000);
        long si = e.rbx();
        assertThat(mem.readU32(si)).isEqualTo(PvhLoader.HVM_START_MAGIC);
        assertThat(mem.readU32(si + 4)).isEqualTo(1);
        assertThat(mem.readU32(si + 12)).isEqualTo(1);
        long cmd = mem.readU64(si + 24);
        byte[] c = new byte[17];
        mem.read(cmd, c, 0, 17);
        assertThat(new String(c)).isEqualTo("console=ttyS0 x=1");
        assertThat(mem.readU8(cmd + 17)).isZero();
        assertThat(mem.readU64(si + 32)).isEqualTo(0xE0000);
        long mod = mem.readU64(si + 16);
        long initrdAddr = mem.readU64(mod);
        assertThat(mem.readU64(mod + 8)).isEqualTo(5000);
        assertThat(initrdAddr % 4096).isZero();
        assertThat(initrdAddr + 5000).isLessThanOrEqualTo(MEM);
        assertThat(mem.readU8(initrdAddr)).isEqualTo((byte) 42);
        int n = mem.readU32(si + 48);
        assertThat(n).isEqualTo(e820.entries().size());
        long mm = mem.readU64(si + 40);
        assertThat(mem.readU64(mm + 24 * (n - 1)) + mem.readU64(mm + 24 * (n - 1) + 8)).isEqualTo(MEM);
        assertThat(mem.readU8(0x100000)).isEqualTo((byte) 0xf4);
        assertThat(mem.readU8(0x100000 + 4)).isZero(); // bss zeroed
    }

    @Test
    void multibootInfoForElf32WithHeader() {
        ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(MultibootLoader.HEADER_MAGIC).putInt(3).putInt(-(MultibootLoader.HEADER_MAGIC + 3));
        byte[] code = new byte[64];
        byte[] k = elf(false, 0x100000, code, null, h.array());
        BootEntry e = KernelLoader.load(ctx(k, null, "mb"), -1);
        assertThat(e.protocol()).isEqualTo("multiboot");
        assertThat(e.rax()).isEqualTo(MultibootLoader.BOOTLOADER_MAGIC & 0xffffffffL);
        long info = e.rbx();
        int flags = mem.readU32(info);
        assertThat(flags & 0x1).isNotZero();
        assertThat(flags & 0x40).isNotZero();
        assertThat(mem.readU32(info + 4)).isEqualTo(639);
        assertThat(mem.readU32(info + 8)).isEqualTo((int) ((MEM - 0x100000) / 1024));
        int mmapLen = mem.readU32(info + 44);
        assertThat(mmapLen).isEqualTo(24 * e820.entries().size());
    }

    @Test
    void multibootRefusesUnsupportedRequiredFlags() {
        ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(MultibootLoader.HEADER_MAGIC).putInt(0x8).putInt(-(MultibootLoader.HEADER_MAGIC + 8));
        byte[] k = elf(false, 0x100000, new byte[64], null, h.array());
        assertThatThrownBy(() -> KernelLoader.load(ctx(k, null, ""), -1)).isInstanceOf(BootException.class)
                .hasMessageContaining("unsupported features");
    }

    @Test
    void bzImageZeroPage() {
        byte[] k = new byte[0x2000 + 4096];
        ByteBuffer b = ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN);
        k[LinuxLoader.SETUP_SECTS] = 3;                         // setup = 4 sectors => kernel at 0x800
        b.putShort(LinuxLoader.BOOT_FLAG, (short) 0xAA55);
        k[0x201] = 0x6a;                                         // header length
        b.putInt(LinuxLoader.HEADER, LinuxLoader.HDRS_MAGIC);
        b.putShort(LinuxLoader.VERSION, (short) 0x020f);
        k[LinuxLoader.LOADFLAGS] = LinuxLoader.LOADED_HIGH;
        b.putShort(LinuxLoader.XLOADFLAGS, (short) LinuxLoader.XLF_KERNEL_64);
        b.putInt(LinuxLoader.INITRD_ADDR_MAX, 0x7fffffff);
        b.putInt(LinuxLoader.KERNEL_ALIGNMENT, 0x200000);
        k[LinuxLoader.RELOCATABLE_KERNEL] = 1;
        b.putInt(LinuxLoader.CMDLINE_SIZE, 2047);
        b.putLong(LinuxLoader.PREF_ADDRESS, 0x1000000);
        b.putInt(LinuxLoader.INIT_SIZE, 0x100000);
        k[0x800] = (byte) 0x90;
        BootEntry e = KernelLoader.load(ctx(k, new byte[100], "root=/dev/vda"), -1);
        assertThat(e.mode()).isEqualTo(BootEntry.Mode.LONG_64);
        assertThat(e.rip()).isEqualTo(0x1000000 + 0x200);
        assertThat(e.rsi()).isEqualTo(X86Layout.ZERO_PAGE_ADDR);
        assertThat(mem.readU8(0x1000000)).isEqualTo((byte) 0x90);
        long zp = X86Layout.ZERO_PAGE_ADDR;
        assertThat(mem.readU8(zp + LinuxLoader.TYPE_OF_LOADER)).isEqualTo((byte) 0xff);
        assertThat(mem.readU8(zp + LinuxLoader.LOADFLAGS) & 0x81).isEqualTo(0x81);
        assertThat(mem.readU32(zp + LinuxLoader.CMD_LINE_PTR)).isEqualTo((int) X86Layout.CMDLINE_ADDR);
        assertThat(mem.readU32(zp + LinuxLoader.RAMDISK_SIZE)).isEqualTo(100);
        assertThat(mem.readU32(zp + LinuxLoader.RAMDISK_IMAGE) & 0xfff).isZero();
        assertThat(mem.readU8(zp + LinuxLoader.BP_E820_ENTRIES) & 0xff).isEqualTo(e820.entries().size());
        assertThat(mem.readU16(zp + LinuxLoader.BOOT_FLAG)).isEqualTo((short) 0xAA55);
    }

    @Test
    void bzImageCmdlineLimitHonoured() {
        byte[] k = new byte[0x2000];
        ByteBuffer b = ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN);
        k[LinuxLoader.SETUP_SECTS] = 3;
        b.putShort(LinuxLoader.BOOT_FLAG, (short) 0xAA55);
        k[0x201] = 0x6a;
        b.putInt(LinuxLoader.HEADER, LinuxLoader.HDRS_MAGIC);
        b.putShort(LinuxLoader.VERSION, (short) 0x020f);
        k[LinuxLoader.LOADFLAGS] = LinuxLoader.LOADED_HIGH;
        b.putShort(LinuxLoader.XLOADFLAGS, (short) 1);
        b.putInt(LinuxLoader.CMDLINE_SIZE, 10);
        assertThatThrownBy(() -> KernelLoader.load(ctx(k, null, "x".repeat(11)), -1)).isInstanceOf(BootException.class)
                .hasMessageContaining("at most 10");
    }

    @Test
    void hostileElfHeadersAreRejectedCleanly() {
        byte[] good = elf(true, 0x100000, new byte[16], pvhNote(0x100000), null);
        for (int cut : new int[] {4, 40, 63, 100, 0x100 + 3}) {
            byte[] t = java.util.Arrays.copyOf(good, cut);
            assertThatThrownBy(() -> KernelLoader.load(ctx(t, null, ""), -1)).isInstanceOf(BootException.class);
        }
        byte[] hugePhnum = good.clone();
        ByteBuffer.wrap(hugePhnum).order(ByteOrder.LITTLE_ENDIAN).putShort(56, (short) 0xffff);
        assertThatThrownBy(() -> KernelLoader.load(ctx(hugePhnum, null, ""), -1)).isInstanceOf(BootException.class)
                .hasMessageContaining("outside the file");
        byte[] outOfRam = elf(true, MEM - 16, new byte[16], null, null);
        assertThatThrownBy(() -> KernelLoader.load(ctx(outOfRam, null, ""), -1)).isInstanceOf(BootException.class)
                .hasMessageContaining("needs more memory");
    }

    @Test
    void initrdTooLargeForMemory() {
        byte[] k = elf(true, 0x100000, new byte[16], pvhNote(0x100000), null);
        assertThatThrownBy(() -> KernelLoader.load(ctx(k, new byte[(int) MEM], ""), -1))
                .isInstanceOf(BootException.class).hasMessageContaining("initrd");
    }
}
