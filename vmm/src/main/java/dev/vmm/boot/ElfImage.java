package dev.vmm.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A parsed ELF32 or ELF64 executable: what a boot loader needs (class, entry, loadable segments,
 * notes). Every header field is validated against the file size before use, so a truncated or
 * hostile file gives a {@link BootException}, never an index error.
 */
public final class ElfImage {
    public static final int PT_LOAD = 1, PT_NOTE = 4;

    /** A PT_LOAD segment: {@code fileSize} bytes from {@code fileOffset} at {@code paddr}, zero-filled to {@code memSize}. */
    public record Segment(int type, long fileOffset, long vaddr, long paddr, long fileSize, long memSize) {}

    /** An ELF note. */
    public record Note(String name, int type, byte[] desc) {}

    private final byte[] file;
    private final boolean is64;
    private final int machine;
    private final long entry;
    private final List<Segment> segments;

    private ElfImage(byte[] file, boolean is64, int machine, long entry, List<Segment> segments) {
        this.file = file;
        this.is64 = is64;
        this.machine = machine;
        this.entry = entry;
        this.segments = segments;
    }

    public static boolean isElf(byte[] f) {
        return f.length >= 4 && f[0] == 0x7f && f[1] == 'E' && f[2] == 'L' && f[3] == 'F';
    }

    public static ElfImage parse(byte[] f, String what) {
        if (!isElf(f)) throw new BootException(what + ": not an ELF file");
        if (f.length < 52) throw new BootException(what + ": truncated ELF header");
        int cls = f[4];
        if (cls != 1 && cls != 2) throw new BootException(what + ": unknown ELF class " + cls);
        if (f[5] != 1) throw new BootException(what + ": not a little-endian ELF file");
        boolean is64 = cls == 2;
        if (is64 && f.length < 64) throw new BootException(what + ": truncated ELF header");
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        int type = b.getShort(16) & 0xffff;
        int machine = b.getShort(18) & 0xffff;
        if (type != 2) throw new BootException(what + ": ELF file is not an executable (e_type " + type + ")");
        if (machine != 3 && machine != 62) throw new BootException(what + ": ELF file is not for x86 (e_machine " + machine + ")");
        long entry = is64 ? b.getLong(24) : b.getInt(24) & 0xffffffffL;
        long phoff = is64 ? b.getLong(32) : b.getInt(28) & 0xffffffffL;
        int phentsize = b.getShort(is64 ? 54 : 42) & 0xffff;
        int phnum = b.getShort(is64 ? 56 : 44) & 0xffff;
        int minEnt = is64 ? 56 : 32;
        if (phnum == 0) throw new BootException(what + ": ELF file has no program headers");
        if (phentsize < minEnt || phoff < 0 || phoff > f.length || (long) phentsize * phnum > f.length - phoff) {
            throw new BootException(what + ": ELF program headers lie outside the file");
        }
        List<Segment> segs = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int o = (int) (phoff + (long) i * phentsize);
            Segment s;
            if (is64) {
                s = new Segment(b.getInt(o), b.getLong(o + 8), b.getLong(o + 16), b.getLong(o + 24), b.getLong(o + 32), b.getLong(o + 40));
            } else {
                s = new Segment(b.getInt(o), b.getInt(o + 4) & 0xffffffffL, b.getInt(o + 8) & 0xffffffffL,
                        b.getInt(o + 12) & 0xffffffffL, b.getInt(o + 16) & 0xffffffffL, b.getInt(o + 20) & 0xffffffffL);
            }
            if (s.type() == PT_LOAD || s.type() == PT_NOTE) {
                if (s.fileOffset() < 0 || s.fileSize() < 0 || s.fileOffset() > f.length || s.fileSize() > f.length - s.fileOffset()) {
                    throw new BootException(what + ": ELF segment " + i + " lies outside the file (truncated?)");
                }
                if (s.type() == PT_LOAD && (s.memSize() < s.fileSize() || s.paddr() < 0 || s.paddr() + s.memSize() < s.paddr())) {
                    throw new BootException(what + ": ELF segment " + i + " has an invalid size or address");
                }
            }
            segs.add(s);
        }
        return new ElfImage(f, is64, machine, entry, segs);
    }

    public boolean is64() { return is64; }

    public int machine() { return machine; }

    public long entry() { return entry; }

    public List<Segment> loadSegments() {
        return segments.stream().filter(s -> s.type() == PT_LOAD && s.memSize() > 0).toList();
    }

    public byte[] file() { return file; }

    /** All notes from PT_NOTE segments (malformed notes end the walk of their segment). */
    public List<Note> notes() {
        List<Note> out = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        for (Segment s : segments) {
            if (s.type() != PT_NOTE) continue;
            long p = s.fileOffset(), end = s.fileOffset() + s.fileSize();
            while (p + 12 <= end) {
                long namesz = b.getInt((int) p) & 0xffffffffL, descsz = b.getInt((int) p + 4) & 0xffffffffL;
                int type = b.getInt((int) p + 8);
                long nameOff = p + 12, descOff = nameOff + align4(namesz), next = descOff + align4(descsz);
                if (namesz > end || descsz > end || next > end) break;
                String name = new String(file, (int) nameOff, (int) Math.max(0, namesz - 1), java.nio.charset.StandardCharsets.US_ASCII);
                byte[] desc = java.util.Arrays.copyOfRange(file, (int) descOff, (int) (descOff + descsz));
                out.add(new Note(name, type, desc));
                p = next;
            }
        }
        return out;
    }

    private static long align4(long v) { return (v + 3) & ~3L; }

    /** The highest physical address + 1 that the loadable segments occupy. */
    public long physEnd() {
        return loadSegments().stream().mapToLong(s -> s.paddr() + s.memSize()).max().orElse(0);
    }
}
