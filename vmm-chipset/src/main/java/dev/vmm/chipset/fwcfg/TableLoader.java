package dev.vmm.chipset.fwcfg;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The firmware's linker/loader script ({@code etc/table-loader}): a sequence of 128-byte
 * little-endian commands telling the firmware to allocate memory for fw_cfg files, patch pointers
 * between them with the addresses it chose, and recompute checksums. This is the format SeaBIOS and
 * OVMF execute (QEMU's {@code bios-linker-loader}):
 *
 * <pre>
 *  +0   u32 command   1 ALLOCATE | 2 ADD_POINTER | 3 ADD_CHECKSUM
 *  ALLOCATE:     +4 file[56]  +60 u32 alignment (power of two)  +64 u8 zone (1 high memory, 2 F-segment)
 *  ADD_POINTER:  +4 dest[56]  +60 src[56]  +116 u32 offset in dest  +120 u8 size (1, 2, 4, 8)
 *                -> dest[offset..offset+size) += address of src (unsigned, little-endian)
 *  ADD_CHECKSUM: +4 file[56]  +60 u32 checksum offset  +64 u32 start  +68 u32 length
 *                -> file[offset] -= sum of file[start..start+length)
 * </pre>
 *
 * File names are NUL-terminated in 56 bytes. ALLOCATE commands come first (the firmware loads a
 * file when it allocates it), then pointers, then checksums in the order they must be computed.
 */
public final class TableLoader {
    public static final int COMMAND_SIZE = 128;
    public static final int ALLOCATE = 1, ADD_POINTER = 2, ADD_CHECKSUM = 3;
    public static final int ZONE_HIGH = 1, ZONE_FSEG = 2;
    static final int NAME_SIZE = FwCfgKeys.MAX_FILE_PATH;

    private final List<byte[]> allocations = new ArrayList<>();
    private final List<byte[]> rest = new ArrayList<>();

    /** Asks the firmware to load {@code file} at an {@code alignment}-aligned address in {@code zone}. */
    public TableLoader allocate(String file, int alignment, int zone) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1) throw new IllegalArgumentException("alignment must be a power of two");
        if (zone != ZONE_HIGH && zone != ZONE_FSEG) throw new IllegalArgumentException("zone must be 1 (high) or 2 (fseg)");
        ByteBuffer b = command(ALLOCATE, file);
        b.putInt(60, alignment);
        b.put(64, (byte) zone);
        return add(allocations, b);
    }

    /** Adds the address of {@code src} to the {@code size}-byte value at {@code offset} of {@code dest}. */
    public TableLoader addPointer(String dest, String src, int offset, int size) {
        if (size != 1 && size != 2 && size != 4 && size != 8) throw new IllegalArgumentException("pointer size 1, 2, 4 or 8");
        if (offset < 0) throw new IllegalArgumentException("negative offset");
        ByteBuffer b = command(ADD_POINTER, dest);
        putName(b, 60, src);
        b.putInt(116, offset);
        b.put(120, (byte) size);
        return add(rest, b);
    }

    /** Makes bytes [start, start+length) of {@code file} sum to zero by adjusting the byte at {@code offset}. */
    public TableLoader addChecksum(String file, int offset, int start, int length) {
        if (offset < 0 || start < 0 || length < 0) throw new IllegalArgumentException("negative checksum field");
        ByteBuffer b = command(ADD_CHECKSUM, file);
        b.putInt(60, offset);
        b.putInt(64, start);
        b.putInt(68, length);
        return add(rest, b);
    }

    /** The script: allocations first, then the other commands in the order they were added. */
    public byte[] bytes() {
        byte[] out = new byte[COMMAND_SIZE * (allocations.size() + rest.size())];
        int at = 0;
        for (byte[] c : allocations) { System.arraycopy(c, 0, out, at, COMMAND_SIZE); at += COMMAND_SIZE; }
        for (byte[] c : rest) { System.arraycopy(c, 0, out, at, COMMAND_SIZE); at += COMMAND_SIZE; }
        return out;
    }

    /** A command of {@code type}; every command names its (first) file at offset 4. */
    private static ByteBuffer command(int type, String file) {
        ByteBuffer b = ByteBuffer.allocate(COMMAND_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, type);
        putName(b, 4, file);
        return b;
    }

    private TableLoader add(List<byte[]> commands, ByteBuffer command) {
        commands.add(command.array());
        return this;
    }

    private static void putName(ByteBuffer b, int at, String name) {
        Objects.requireNonNull(name);
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        if (n.length == 0 || n.length >= NAME_SIZE) throw new IllegalArgumentException("file name must be 1-55 bytes: " + name);
        b.put(at, n);
    }
}
