package dev.vmm.bench.xbzrle;

import dev.vmm.migration.xbzrle.Xbzrle;
import dev.vmm.migration.xbzrle.XbzrleFormatException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A test-side reader of the RAM part of a QEMU (7.2) migration stream, written from the stream
 * layout described in QEMU's docs/devel/migration.rst and the RAM page-record flags: the file
 * header (magic "QEVM", version 3), the optional configuration section (machine name), then
 * sections — START/FULL carry section id, id string, instance and version; PART/END only the
 * section id; each is followed by a footer (0x7E + section id) — up to the first device-state
 * (FULL) section, after which only non-iterable device state follows.
 *
 * <p>The "ram" section's data is a sequence of big-endian 64-bit words, page offset | flags:
 * MEM_SIZE (the RAM blocks and their lengths), ZERO (one fill byte), PAGE (a whole page),
 * XBZRLE (encoding byte 1, 16-bit length, the delta against the page's previous contents),
 * CONTINUE (same RAM block as the previous record, else its name follows) and EOS (end of this
 * section's data). Pages are rebuilt as a destination would: a delta is applied with the
 * project's decoder ({@link Xbzrle#decode}) to what the page held before.
 *
 * <p>With an output stream it also writes the stream back out, everything copied as read except
 * the page records, which are re-serialised and — for a page the destination already holds — may
 * be replaced by an XBZRLE record whose delta the project's encoder wrote ({@link #rewrite}).
 *
 * <p>Anything else (compressed pages, multifd, RDMA hooks, postcopy commands, subsections of the
 * configuration) is rejected with a message: the test then says exactly what QEMU sent.
 */
final class QemuMigrationStream {
    static final int PAGE = 4096;

    static final int FILE_MAGIC = 0x5145564d, FILE_VERSION = 3;
    static final int SECTION_EOF = 0x00, SECTION_START = 0x01, SECTION_PART = 0x02, SECTION_END = 0x03,
            SECTION_FULL = 0x04, SECTION_SUBSECTION = 0x05, SECTION_CONFIGURATION = 0x07, SECTION_COMMAND = 0x08,
            SECTION_FOOTER = 0x7e;

    static final long FLAG_ZERO = 0x02, FLAG_MEM_SIZE = 0x04, FLAG_PAGE = 0x08, FLAG_EOS = 0x10, FLAG_CONTINUE = 0x20,
            FLAG_XBZRLE = 0x40, FLAG_HOOK = 0x80, FLAG_COMPRESS_PAGE = 0x100;
    static final int ENCODING_XBZRLE = 0x01;

    /** What was read: the RAM blocks' contents as a destination holds them, and counts. */
    static final class Result {
        final Map<String, Long> blockLengths = new LinkedHashMap<>();
        final Map<String, byte[]> blocks = new LinkedHashMap<>();
        String machine;
        int fullPages, zeroPages, xbzrlePages, ramSections;
        long xbzrleDeltaBytes;
        /** Byte offset in the stream where the first device-state (FULL) section begins. */
        long deviceStateOffset = -1;
        /** Per XBZRLE record: block, page offset and the delta, in stream order. */
        final List<XbzrleRecord> xbzrleRecords = new ArrayList<>();
        /** When rewriting: XBZRLE records written with the project's encoder, of them byte-identical to QEMU's, and full pages turned into deltas. */
        int encodedByUs, identicalToQemu, fullPagesAsDeltas;
    }

    record XbzrleRecord(String block, long offset, byte[] delta) { }

    private final DataInputStream in;
    private final DataOutputStream out; // null: read only
    private final Tee tee;
    private long pos;
    private final java.util.Set<String> held = new java.util.HashSet<>(); // "block@offset" pages the destination has
    private final Result r = new Result();
    private final Map<Integer, String> sections = new LinkedHashMap<>();
    private String lastBlock;

    /** Copies what is read to the output while on. */
    private static final class Tee extends java.io.FilterInputStream {
        final OutputStream copy;
        boolean on = true;

        Tee(InputStream in, OutputStream copy) {
            super(in);
            this.copy = copy;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0 && on && copy != null) copy.write(b);
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0 && on && copy != null) copy.write(b, off, n);
            return n;
        }
    }

    private QemuMigrationStream(InputStream in, OutputStream out) {
        this.out = out == null ? null : new DataOutputStream(out);
        this.tee = new Tee(in, this.out);
        this.in = new DataInputStream(tee);
    }

    static Result read(InputStream in) throws IOException {
        return new QemuMigrationStream(in, null).run();
    }

    /**
     * Reads {@code in} and writes to {@code out} the same stream with every page the destination
     * already holds sent as an XBZRLE record the project's encoder wrote (against the page's
     * previous contents), where the delta fits in a page and is not empty; the rest unchanged.
     */
    static Result rewrite(InputStream in, OutputStream out) throws IOException {
        QemuMigrationStream s = new QemuMigrationStream(in, out);
        Result r = s.run();
        in.transferTo(s.out); // the device state, as QEMU wrote it
        s.out.flush();
        return r;
    }

    private Result run() throws IOException {
        int magic = u32(), version = u32();
        if (magic != FILE_MAGIC) throw bad("file magic 0x%08x, expected 0x%08x", magic, FILE_MAGIC);
        if (version != FILE_VERSION) throw bad("file version %d, expected %d", version, FILE_VERSION);
        while (true) {
            long at = pos;
            int type = u8();
            switch (type) {
                case SECTION_CONFIGURATION -> {
                    r.machine = new String(bytes(u32()), StandardCharsets.US_ASCII);
                }
                case SECTION_START -> {
                    int id = u32();
                    String name = new String(bytes(u8()), StandardCharsets.US_ASCII);
                    int instance = u32(), ver = u32();
                    sections.put(id, name);
                    section(id, name);
                }
                case SECTION_PART, SECTION_END -> {
                    int id = u32();
                    String name = sections.get(id);
                    if (name == null) throw bad("section %s of unknown id %d at %d", type == SECTION_PART ? "PART" : "END", id, at);
                    section(id, name);
                }
                case SECTION_FULL, SECTION_EOF -> {
                    r.deviceStateOffset = at;
                    return r;
                }
                case SECTION_SUBSECTION -> throw bad("a configuration subsection at %d (not expected without validate-uuid etc.)", at);
                case SECTION_COMMAND -> throw bad("a command (postcopy?) at %d", at);
                default -> throw bad("section type 0x%02x at %d", type, at);
            }
        }
    }

    private void section(int id, String name) throws IOException {
        if (!name.equals("ram")) throw bad("iterable section '%s' (only 'ram' is expected with -nodefaults)", name);
        r.ramSections++;
        ramData();
        int footer = u8();
        if (footer != SECTION_FOOTER) throw bad("no section footer after ram section %d (byte 0x%02x at %d)", id, footer, pos - 1);
        int fid = u32();
        if (fid != id) throw bad("footer of section %d closes section %d", fid, id);
    }

    private void ramData() throws IOException {
        tee.on = false; // records are written back one by one (see record())
        try {
            ramRecords();
        } finally {
            tee.on = true;
        }
    }

    private void ramRecords() throws IOException {
        while (true) {
            long word = u64();
            long flags = word & (PAGE - 1);
            long addr = word & ~(long) (PAGE - 1);
            if ((flags & FLAG_MEM_SIZE) != 0) {
                long total = addr, sum = 0;
                while (sum < total) {
                    byte[] name = bytes(u8());
                    String b = new String(name, StandardCharsets.US_ASCII);
                    long len = u64();
                    if (out != null) {
                        if (sum == 0) out.writeLong(word);
                        out.writeByte(name.length);
                        out.write(name);
                        out.writeLong(len);
                    }
                    r.blockLengths.put(b, len);
                    r.blocks.put(b, new byte[Math.toIntExact(len)]);
                    sum += len;
                }
                if (sum != total) throw bad("RAM blocks add up to %d, MEM_SIZE said %d", sum, total);
                if ((flags & ~FLAG_MEM_SIZE) != 0) throw bad("MEM_SIZE record with flags 0x%x", flags);
                continue;
            }
            if ((flags & (FLAG_HOOK | FLAG_COMPRESS_PAGE)) != 0) throw bad("page flags 0x%x (hook/compressed) at %d", flags, pos - 8);
            if ((flags & (FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE)) != 0) {
                byte[] name = (flags & FLAG_CONTINUE) != 0 ? null : bytes(u8());
                String block = name == null ? lastBlock : new String(name, StandardCharsets.US_ASCII);
                if (block == null || !r.blocks.containsKey(block)) throw bad("page of unknown RAM block '%s' at %d", block, pos);
                lastBlock = block;
                byte[] ram = r.blocks.get(block);
                if (addr + PAGE > ram.length) throw bad("page offset 0x%x beyond block %s (%d bytes)", addr, block, ram.length);
                int off = (int) addr;
                byte[] before = Arrays.copyOfRange(ram, off, off + PAGE);
                byte[] qemuDelta = null;
                if ((flags & FLAG_ZERO) != 0) {
                    Arrays.fill(ram, off, off + PAGE, (byte) u8());
                    r.zeroPages++;
                } else if ((flags & FLAG_PAGE) != 0) {
                    in.readFully(ram, off, PAGE);
                    pos += PAGE;
                    r.fullPages++;
                } else {
                    int enc = u8();
                    if (enc != ENCODING_XBZRLE) throw bad("XBZRLE encoding byte 0x%02x at %d", enc, pos - 1);
                    byte[] delta = bytes(u16());
                    byte[] page = Arrays.copyOfRange(ram, off, off + PAGE);
                    try {
                        Xbzrle.decode(delta, delta.length, page);
                    } catch (XbzrleFormatException e) {
                        throw bad("the project's decoder rejected QEMU's delta for %s+0x%x (%d bytes): %s", block, addr, delta.length, e.getMessage());
                    }
                    System.arraycopy(page, 0, ram, off, PAGE);
                    r.xbzrlePages++;
                    r.xbzrleDeltaBytes += delta.length;
                    r.xbzrleRecords.add(new XbzrleRecord(block, addr, delta));
                    qemuDelta = delta;
                }
                if (out != null) writeRecord(word, name, block, off, before, Arrays.copyOfRange(ram, off, off + PAGE), qemuDelta, ram);
                held.add(block + "@" + addr);
                continue;
            }
            if ((flags & FLAG_EOS) != 0) {
                if (out != null) out.writeLong(word);
                return;
            }
            throw bad("unexpected RAM record 0x%x at %d", word, pos - 8);
        }
    }

    /** One page record out: an XBZRLE delta of ours where the destination holds the page, else as QEMU sent it. */
    private void writeRecord(long word, byte[] name, String block, int off, byte[] before, byte[] after, byte[] qemuDelta, byte[] ram)
            throws IOException {
        long addr = word & ~(long) (PAGE - 1), flags = word & (PAGE - 1);
        byte[] delta = null;
        if (held.contains(block + "@" + addr)) {
            byte[] dst = new byte[PAGE];
            int n = Xbzrle.encode(before, after, dst, PAGE);
            if (n > 0) delta = Arrays.copyOf(dst, n);
        }
        if (delta == null && qemuDelta != null) throw bad("our encoder found no delta (overflow or unchanged) where QEMU sent one for %s+0x%x", block, addr);
        if (delta == null) { // as QEMU sent it
            out.writeLong(word);
            if (name != null) { out.writeByte(name.length); out.write(name); }
            if ((flags & FLAG_ZERO) != 0) out.writeByte(after[0]);
            else out.write(after);
            return;
        }
        out.writeLong(addr | (flags & FLAG_CONTINUE) | FLAG_XBZRLE);
        if (name != null) { out.writeByte(name.length); out.write(name); }
        out.writeByte(ENCODING_XBZRLE);
        out.writeShort(delta.length);
        out.write(delta);
        r.encodedByUs++;
        if (qemuDelta == null) r.fullPagesAsDeltas++;
        else if (Arrays.equals(qemuDelta, delta)) r.identicalToQemu++;
    }

    private int u8() throws IOException {
        int b = in.read();
        if (b < 0) throw new EOFException("stream ends at " + pos);
        pos++;
        return b;
    }

    private int u16() throws IOException {
        pos += 2;
        return in.readUnsignedShort();
    }

    private int u32() throws IOException {
        pos += 4;
        return in.readInt();
    }

    private long u64() throws IOException {
        pos += 8;
        return in.readLong();
    }

    private byte[] bytes(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        pos += n;
        return b;
    }

    private static IOException bad(String fmt, Object... args) {
        return new IOException("QEMU migration stream: " + String.format(fmt, args));
    }
}
