package dev.vmm.chipset.acpi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A small writer of ACPI Machine Language (ACPI 6.x, section 20 "ACPI Machine Language
 * Specification") for the static parts of a DSDT: scopes, devices, named data objects and methods
 * that only return a constant. It covers what a VMM's DSDT needs and nothing that would make the
 * guest's AML interpreter loop: there are no control-flow opcodes.
 *
 * <p>A builder holds a term list. Nested objects ({@link #scope}, {@link #device}, {@link #method})
 * take a callback that fills their own term list; the builder computes each PkgLength when the
 * callback returns, so sizes are never written by hand.
 *
 * <pre>{@code
 * AmlBuilder aml = new AmlBuilder();
 * aml.scope("\\_SB", sb -> sb.device("COM1", d -> d
 *         .name("_HID", AmlBuilder.eisaId("PNP0501"))
 *         .name("_CRS", new ResourceTemplate().io(0x3f8, 0x3f8, 1, 8).irqNoFlags(4).toData())));
 * byte[] termList = aml.toByteArray();
 * }</pre>
 */
public final class AmlBuilder {
    // Opcodes (ACPI 6.4 section 20.3).
    static final int ZERO_OP = 0x00, ONE_OP = 0x01, ONES_OP = 0xff;
    static final int NAME_OP = 0x08, BYTE_PREFIX = 0x0a, WORD_PREFIX = 0x0b, DWORD_PREFIX = 0x0c,
            STRING_PREFIX = 0x0d, QWORD_PREFIX = 0x0e, SCOPE_OP = 0x10, BUFFER_OP = 0x11,
            PACKAGE_OP = 0x12, VAR_PACKAGE_OP = 0x13, METHOD_OP = 0x14, RETURN_OP = 0xa4,
            EXT_OP_PREFIX = 0x5b, DEVICE_OP = 0x82;
    static final int ROOT_CHAR = '\\', PARENT_PREFIX = '^', DUAL_NAME_PREFIX = 0x2e,
            MULTI_NAME_PREFIX = 0x2f, NULL_NAME = 0x00;
    /** The largest value a PkgLength can hold (28 bits). */
    static final int MAX_PKG_LENGTH = (1 << 28) - 1;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** {@code Name(path, value)}. */
    public AmlBuilder name(String path, Data value) {
        Objects.requireNonNull(value, "value");
        out.write(NAME_OP);
        out.writeBytes(nameString(path));
        value.encodeTo(out);
        return this;
    }

    /** {@code Scope(path) { body }}. */
    public AmlBuilder scope(String path, Consumer<AmlBuilder> body) {
        out.write(SCOPE_OP);
        writeWithPkgLength(out, concat(nameString(path), termList(body)));
        return this;
    }

    /** {@code Device(path) { body }}. */
    public AmlBuilder device(String path, Consumer<AmlBuilder> body) {
        out.write(EXT_OP_PREFIX);
        out.write(DEVICE_OP);
        writeWithPkgLength(out, concat(nameString(path), termList(body)));
        return this;
    }

    /**
     * {@code Method(path, argCount, NotSerialized|Serialized) { body }}, sync level 0. Only the
     * opcodes this builder offers can go in the body, which in practice means a {@link #returnValue}.
     */
    public AmlBuilder method(String path, int argCount, boolean serialized, Consumer<AmlBuilder> body) {
        if (argCount < 0 || argCount > 7) throw new IllegalArgumentException("a method takes 0..7 arguments: " + argCount);
        byte[] name = nameString(path);
        byte[] terms = termList(body);
        byte[] content = new byte[name.length + 1 + terms.length];
        System.arraycopy(name, 0, content, 0, name.length);
        content[name.length] = (byte) (argCount | (serialized ? 0x08 : 0));
        System.arraycopy(terms, 0, content, name.length + 1, terms.length);
        out.write(METHOD_OP);
        writeWithPkgLength(out, content);
        return this;
    }

    /** {@code Return(value)}. */
    public AmlBuilder returnValue(Data value) {
        out.write(RETURN_OP);
        value.encodeTo(out);
        return this;
    }

    /** Appends already encoded AML (another builder's term list). */
    public AmlBuilder raw(byte[] aml) {
        out.writeBytes(aml);
        return this;
    }

    public int size() {
        return out.size();
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }

    private static byte[] termList(Consumer<AmlBuilder> body) {
        AmlBuilder inner = new AmlBuilder();
        body.accept(inner);
        return inner.toByteArray();
    }

    // ---- data objects ----

    /** A data object: something that can be the value of a Name, a package element or a Return. */
    public interface Data {
        void encodeTo(ByteArrayOutputStream out);

        default byte[] encode() {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            encodeTo(b);
            return b.toByteArray();
        }
    }

    /**
     * An integer in its shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set; the DSDT is
     * revision 2, so integers are 64-bit), or Byte/Word/DWord/QWord constant.
     */
    public static Data integer(long value) {
        return out -> {
            if (value == 0) out.write(ZERO_OP);
            else if (value == 1) out.write(ONE_OP);
            else if (value == -1L) out.write(ONES_OP);
            else if ((value & ~0xffL) == 0) { out.write(BYTE_PREFIX); writeLe(out, value, 1); }
            else if ((value & ~0xffffL) == 0) { out.write(WORD_PREFIX); writeLe(out, value, 2); }
            else if ((value & ~0xffff_ffffL) == 0) { out.write(DWORD_PREFIX); writeLe(out, value, 4); }
            else { out.write(QWORD_PREFIX); writeLe(out, value, 8); }
        };
    }

    /** A String constant: ASCII characters 0x01-0x7f, null-terminated in the encoding. */
    public static Data string(String s) {
        Objects.requireNonNull(s);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x01 || c > 0x7f) throw new IllegalArgumentException("AML strings are ASCII without NUL: " + s);
        }
        byte[] bytes = s.getBytes(StandardCharsets.US_ASCII);
        return out -> {
            out.write(STRING_PREFIX);
            out.writeBytes(bytes);
            out.write(0);
        };
    }

    /** {@code Buffer(n) { bytes }} with the buffer size equal to the number of bytes. */
    public static Data buffer(byte[] bytes) {
        byte[] copy = bytes.clone();
        return out -> {
            byte[] size = integer(copy.length).encode();
            out.write(BUFFER_OP);
            writeWithPkgLength(out, concat(size, copy));
        };
    }

    /**
     * {@code Package() { elements }}. Up to 255 elements use PackageOp; more use VarPackageOp
     * (whose element count is an integer term).
     */
    public static Data pkg(Data... elements) {
        return pkg(List.of(elements));
    }

    public static Data pkg(List<? extends Data> elements) {
        List<Data> copy = new ArrayList<>(elements);
        return out -> {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            for (Data d : copy) d.encodeTo(body);
            if (copy.size() <= 255) {
                out.write(PACKAGE_OP);
                writeWithPkgLength(out, concat(new byte[] {(byte) copy.size()}, body.toByteArray()));
            } else {
                out.write(VAR_PACKAGE_OP);
                writeWithPkgLength(out, concat(integer(copy.size()).encode(), body.toByteArray()));
            }
        };
    }

    /**
     * The 32-bit compressed EISA id of a PNP id such as {@code "PNP0A03"} (what ASL's
     * {@code EISAID()} produces): three letters as 5-bit values (letter - 0x40) and four hex
     * digits, stored big-endian in the integer's bytes, encoded as a DWord constant.
     */
    public static Data eisaId(String id) {
        long v = eisaIdValue(id);
        return out -> { out.write(DWORD_PREFIX); writeLe(out, v, 4); };
    }

    static long eisaIdValue(String id) {
        if (id == null || !id.matches("[A-Z]{3}[0-9A-F]{4}"))
            throw new IllegalArgumentException("EISA id must be three capital letters and four hex digits: " + id);
        int vendor = ((id.charAt(0) - 0x40) << 10) | ((id.charAt(1) - 0x40) << 5) | (id.charAt(2) - 0x40);
        int product = Integer.parseInt(id.substring(3), 16);
        // Byte order in memory: vendor high, vendor low, product high, product low.
        return ((long) (vendor >> 8) & 0xff) | ((vendor & 0xffL) << 8)
                | (((long) (product >> 8) & 0xff) << 16) | ((product & 0xffL) << 24);
    }

    // ---- encodings ----

    /**
     * A NameString: an optional root prefix ({@code \}) or parent prefixes ({@code ^}), then zero
     * or more dot-separated NameSegs. Segments shorter than four characters are padded with
     * underscores; a segment starts with A-Z or '_' and continues with A-Z, 0-9 or '_'.
     */
    static byte[] nameString(String path) {
        Objects.requireNonNull(path, "path");
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int i = 0;
        if (path.startsWith("\\")) {
            b.write(ROOT_CHAR);
            i = 1;
        } else {
            while (i < path.length() && path.charAt(i) == '^') {
                b.write(PARENT_PREFIX);
                i++;
            }
        }
        String rest = path.substring(i);
        List<byte[]> segs = new ArrayList<>();
        if (!rest.isEmpty()) for (String s : rest.split("\\.", -1)) segs.add(nameSeg(s, path));
        if (segs.isEmpty()) {
            if (i == 0) throw new IllegalArgumentException("empty AML name");
            b.write(NULL_NAME);
        } else if (segs.size() == 1) {
            b.writeBytes(segs.get(0));
        } else if (segs.size() == 2) {
            b.write(DUAL_NAME_PREFIX);
            b.writeBytes(segs.get(0));
            b.writeBytes(segs.get(1));
        } else {
            if (segs.size() > 255) throw new IllegalArgumentException("AML name has too many segments: " + path);
            b.write(MULTI_NAME_PREFIX);
            b.write(segs.size());
            for (byte[] s : segs) b.writeBytes(s);
        }
        return b.toByteArray();
    }

    static byte[] nameSeg(String seg, String path) {
        if (seg.isEmpty() || seg.length() > 4)
            throw new IllegalArgumentException("AML name segments are 1-4 characters: '" + seg + "' in " + path);
        byte[] out = {'_', '_', '_', '_'};
        for (int k = 0; k < seg.length(); k++) {
            char c = seg.charAt(k);
            boolean ok = (c >= 'A' && c <= 'Z') || c == '_' || (k > 0 && c >= '0' && c <= '9');
            if (!ok) throw new IllegalArgumentException("bad character '" + c + "' in AML name segment " + seg
                    + " of " + path);
            out[k] = (byte) c;
        }
        return out;
    }

    /**
     * The PkgLength encoding of a package whose content (what follows the PkgLength) is
     * {@code contentLength} bytes. The encoded value counts the PkgLength bytes themselves: one
     * byte holds values below 64; otherwise bits 7-6 of the lead byte give the number of following
     * bytes (1-3), its bits 3-0 the low nibble, and the following bytes the next 8-bit groups.
     */
    static byte[] pkgLength(int contentLength) {
        if (contentLength < 0) throw new IllegalArgumentException("negative length");
        for (int n = 1; n <= 4; n++) {
            long total = (long) contentLength + n;
            long limit = n == 1 ? 1L << 6 : 1L << (4 + 8 * (n - 1));
            if (total < limit) {
                byte[] b = new byte[n];
                if (n == 1) {
                    b[0] = (byte) total;
                } else {
                    b[0] = (byte) (((n - 1) << 6) | (total & 0x0f));
                    for (int k = 1; k < n; k++) b[k] = (byte) (total >> (4 + 8 * (k - 1)));
                }
                return b;
            }
        }
        throw new IllegalArgumentException("AML package too large: " + contentLength + " bytes");
    }

    static void writeWithPkgLength(ByteArrayOutputStream out, byte[] content) {
        out.writeBytes(pkgLength(content.length));
        out.writeBytes(content);
    }

    static void writeLe(ByteArrayOutputStream out, long value, int bytes) {
        for (int i = 0; i < bytes; i++) out.write((int) (value >>> (8 * i)) & 0xff);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
