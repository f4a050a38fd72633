package dev.vmm.dump;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Writes a guest's memory and vCPU registers as an x86_64 ELF core in the layout of QEMU's
 * {@code dump-guest-memory} with {@code paging: false} (ELF-64 gABI; Linux's elfcore):
 *
 * <pre>
 *  ELF header (ET_CORE, EM_X86_64)
 *  program headers: PT_NOTE, then one PT_LOAD per RAM block (p_paddr = guest-physical address,
 *                   p_vaddr = 0: no paging information)
 *  notes: one NT_PRSTATUS ("CORE") per vCPU, pr_pid = CPU index + 1, registers in pr_reg
 *  the RAM blocks' bytes, in order
 * </pre>
 *
 * QEMU also writes a "QEMU" CPU-state note per vCPU (segment descriptors, control registers) and
 * vmcoreinfo when the guest publishes it; this writer does not (yet).
 */
public final class ElfCoreWriter {
    static final int EHDR_SIZE = 64, PHDR_SIZE = 56;
    static final int PT_LOAD = 1, PT_NOTE = 4, ET_CORE = 4, EM_X86_64 = 62, NT_PRSTATUS = 1;
    static final int PF_X = 1, PF_W = 2, PF_R = 4;
    /** sizeof(struct elf_prstatus) on x86_64. */
    static final int PRSTATUS_SIZE = 336;
    static final int PR_REG_OFFSET = 112, PR_PID_OFFSET = 32;
    private static final byte[] CORE = "CORE\0".getBytes(StandardCharsets.US_ASCII);

    private ElfCoreWriter() {}

    /** Writes the core to {@code file} (created or truncated). */
    public static void write(Path file, GuestMemory memory, List<X86Registers> cpus) throws IOException {
        List<GuestRegion> blocks = memory.regions();
        ByteBuffer notes = notes(cpus);
        int phnum = 1 + blocks.size();
        if (phnum > 0xfffe) throw new IOException("too many RAM blocks for an ELF core: " + blocks.size());
        long notesOffset = EHDR_SIZE + (long) PHDR_SIZE * phnum;
        long dataOffset = notesOffset + notes.remaining();
        ByteBuffer head = le(EHDR_SIZE + PHDR_SIZE * phnum);
        elfHeader(head, phnum);
        phdr(head, PT_NOTE, 0, notesOffset, 0, 0, notes.remaining(), 0);
        long off = dataOffset;
        for (GuestRegion b : blocks) {
            phdr(head, PT_LOAD, PF_R | PF_W | PF_X, off, 0, b.base(), b.size(), 0);
            off += b.size();
        }
        head.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head);
            writeFully(ch, notes);
            for (GuestRegion b : blocks) writeSegment(ch, b.host());
        }
    }

    private static void elfHeader(ByteBuffer h, int phnum) {
        h.put(new byte[] {0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* EV_CURRENT */, 0 /* SysV */});
        h.put(new byte[8]);
        h.putShort((short) ET_CORE).putShort((short) EM_X86_64).putInt(1);
        h.putLong(0);               // e_entry
        h.putLong(EHDR_SIZE);       // e_phoff
        h.putLong(0);               // e_shoff: no sections
        h.putInt(0);                // e_flags
        h.putShort((short) EHDR_SIZE).putShort((short) PHDR_SIZE).putShort((short) phnum);
        h.putShort((short) 0).putShort((short) 0).putShort((short) 0); // no section headers
    }

    private static void phdr(ByteBuffer h, int type, int flags, long offset, long vaddr, long paddr, long size, long align) {
        h.putInt(type).putInt(flags).putLong(offset).putLong(vaddr).putLong(paddr).putLong(size).putLong(size).putLong(align);
    }

    /** One NT_PRSTATUS per vCPU: namesz, descsz, type, "CORE\0" padded to 4, the prstatus. */
    static ByteBuffer notes(List<X86Registers> cpus) {
        int one = 12 + align4(CORE.length) + PRSTATUS_SIZE;
        ByteBuffer n = le(one * cpus.size());
        for (int i = 0; i < cpus.size(); i++) {
            n.putInt(CORE.length).putInt(PRSTATUS_SIZE).putInt(NT_PRSTATUS);
            n.put(CORE).put(new byte[align4(CORE.length) - CORE.length]);
            int start = n.position();
            n.put(new byte[PRSTATUS_SIZE]);
            n.putInt(start + PR_PID_OFFSET, i + 1); // as QEMU: the CPU index + 1 (gdb shows it as the thread)
            long[] regs = cpus.get(i).userRegs();
            for (int r = 0; r < regs.length; r++) n.putLong(start + PR_REG_OFFSET + 8 * r, regs[r]);
        }
        return n.flip();
    }

    private static int align4(int n) { return (n + 3) & ~3; }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeSegment(FileChannel ch, MemorySegment seg) throws IOException {
        final long chunk = 1L << 24;
        for (long o = 0; o < seg.byteSize(); o += chunk) {
            writeFully(ch, seg.asSlice(o, Math.min(chunk, seg.byteSize() - o)).asByteBuffer());
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
