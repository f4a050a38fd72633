package dev.vmm.chipset.fwcfg;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * QEMU's firmware configuration device (fw_cfg, QEMU {@code docs/specs/fw_cfg.rst}) on the x86
 * I/O ports: selector 0x510 (16-bit, little-endian), data 0x511 (8-bit), DMA address 0x514-0x51B
 * (64-bit big-endian, written as two 32-bit halves, high half first; the write to the low half at
 * 0x518 starts the transfer). One {@link BusDevice} covers 0x510-0x51B ({@link #SIZE} ports).
 *
 * <p>Items are byte arrays under 16-bit keys. Numbered items are set with {@link #setItem}; named
 * files ({@link #addFile}) get keys from {@link FwCfgKeys#FILE_FIRST} on, in name order, and
 * appear in the file directory (key 0x19: big-endian count, then 64-byte entries of big-endian
 * size, big-endian key, reserved, 56-byte NUL-terminated name). The signature "QEMU" (key 0) and
 * the feature bitmap (key 1: traditional + DMA) are always present.
 *
 * <p>DMA: the written address names a 16-byte {@code FWCfgDmaAccess} (big-endian control,
 * length, address) in guest RAM. SELECT (upper 16 bits of control) selects first; then READ copies
 * {@code length} bytes from the item (zeros past its end) to guest RAM, or WRITE copies from guest
 * RAM into a writable item (never past its end), or SKIP advances the offset. The device then
 * stores control = 0, or the ERROR bit when the access descriptor's buffer is not in guest RAM, the
 * item is not writable or the write would run past its end. A descriptor that is itself outside
 * RAM is ignored (there is nowhere to report to). Nothing here throws on guest input.
 *
 * <p>Thread-safe: all state is guarded by this object (vCPUs may race on the ports).
 */
public final class FwCfg implements BusDevice {
    public static final int SELECTOR_PORT = 0x510;
    public static final int DATA_PORT = 0x511;
    public static final int DMA_PORT = 0x514;
    /** Ports covered from {@link #SELECTOR_PORT}: selector, data, two spare, 8-byte DMA register. */
    public static final int SIZE = 12;
    /** Largest item accepted (SeaBIOS and the spec limit sizes to 32 bits; this keeps arrays sane). */
    public static final int MAX_ITEM_SIZE = 1 << 30;

    private static final int DMA_OFFSET = DMA_PORT - SELECTOR_PORT;
    private static final int DESCRIPTOR_SIZE = 16;

    private record Item(byte[] data, boolean writable) { }

    private final GuestMemory memory;
    private final boolean dma;
    private final Map<Integer, Item> numbered = new HashMap<>();
    private final TreeMap<String, Item> files = new TreeMap<>();
    private final Map<Integer, Item> fileByKey = new HashMap<>();
    private byte[] directory;

    private int selected = -1;      // key & ENTRY_MASK, or -1 before the first select
    private long offset;            // data offset in the selected item
    private long dmaAddress;       // the high half written so far

    /**
     * @param memory guest RAM for DMA transfers, or null for a device without the DMA interface
     *               (FW_CFG_ID then says so and the DMA register reads 0)
     */
    public FwCfg(GuestMemory memory) {
        this.memory = memory;
        this.dma = memory != null;
        numbered.put(FwCfgKeys.SIGNATURE, new Item("QEMU".getBytes(StandardCharsets.US_ASCII), false));
        numbered.put(FwCfgKeys.ID, new Item(le32(FwCfgKeys.ID_TRADITIONAL | (dma ? FwCfgKeys.ID_DMA : 0)), false));
        rebuildDirectory();
    }

    /** Registers the device at 0x510-0x51B on the machine's port I/O bus. */
    public void registerPorts(Bus pio) {
        pio.register(SELECTOR_PORT, SIZE, this);
    }

    // ------------------------------------------------------------------ items (VMM side)

    /** Sets a numbered (non-file) item; the signature, id and file directory keys are the device's own. */
    public synchronized void setItem(int key, byte[] data) {
        int k = key & FwCfgKeys.ENTRY_MASK;
        if (k == FwCfgKeys.SIGNATURE || k == FwCfgKeys.ID || k == FwCfgKeys.FILE_DIR)
            throw new IllegalArgumentException("key 0x" + Integer.toHexString(k) + " belongs to the device");
        if ((k & ~FwCfgKeys.ARCH_LOCAL) >= FwCfgKeys.FILE_FIRST && (k & FwCfgKeys.ARCH_LOCAL) == 0)
            throw new IllegalArgumentException("keys from 0x20 on are file keys: use addFile");
        numbered.put(k, new Item(checkSize(data).clone(), false));
    }

    /** Adds (or replaces) a read-only named file. */
    public void addFile(String name, byte[] data) {
        addFile(name, data, false);
    }

    /** Adds (or replaces) a named file; a writable one takes DMA writes within its size. */
    public synchronized void addFile(String name, byte[] data, boolean writable) {
        Objects.requireNonNull(name);
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        if (n.length == 0 || n.length >= FwCfgKeys.MAX_FILE_PATH || !name.chars().allMatch(c -> c > 0x20 && c < 0x7f))
            throw new IllegalArgumentException("fw_cfg file name must be 1-55 printable ASCII characters: '" + name + "'");
        if (!files.containsKey(name) && files.size() >= 0x3fff - FwCfgKeys.FILE_FIRST)
            throw new IllegalStateException("fw_cfg file keys exhausted");
        files.put(name, new Item(checkSize(data).clone(), writable));
        rebuildDirectory();
    }

    /** The key the guest selects for {@code name}, or -1. */
    public synchronized int fileKey(String name) {
        int key = FwCfgKeys.FILE_FIRST;
        for (String n : files.keySet()) {
            if (n.equals(name)) return key;
            key++;
        }
        return -1;
    }

    /** The current contents of a file (after guest writes), or null. */
    public synchronized byte[] file(String name) {
        Item i = files.get(name);
        return i == null ? null : i.data.clone();
    }

    private static byte[] checkSize(byte[] data) {
        Objects.requireNonNull(data);
        if (data.length > MAX_ITEM_SIZE) throw new IllegalArgumentException("fw_cfg item larger than " + MAX_ITEM_SIZE);
        return data;
    }

    private void rebuildDirectory() {
        fileByKey.clear();
        ByteBuffer b = ByteBuffer.allocate(4 + 64 * files.size()); // big-endian by default
        b.putInt(files.size());
        int key = FwCfgKeys.FILE_FIRST;
        for (Map.Entry<String, Item> e : files.entrySet()) {
            fileByKey.put(key, e.getValue());
            b.putInt(e.getValue().data.length);
            b.putShort((short) key);
            b.putShort((short) 0);
            byte[] name = Arrays.copyOf(e.getKey().getBytes(StandardCharsets.US_ASCII), FwCfgKeys.MAX_FILE_PATH);
            b.put(name);
            key++;
        }
        directory = b.array();
    }

    private Item item(int key) {
        if (key < 0) return null;
        if (key == FwCfgKeys.FILE_DIR) return new Item(directory, false);
        Item i = fileByKey.get(key);
        return i != null ? i : numbered.get(key);
    }

    // ------------------------------------------------------------------ guest side

    /**
     * Loads. The DMA register takes 1-8 byte reads and returns the signature; everything else is
     * split into single ports as the ISA bus does (the device accepts only byte reads there, like
     * QEMU's): 0x510 and 0x511 both return the next data byte (QEMU's combined selector/data
     * region), 0x512-0x513 have nothing behind them (0xff); a wider read starting at 0x510 is
     * refused and reads 0. FwCfgQemuOracleTest compares all of this with QEMU 7.2.
     */
    @Override
    public synchronized long read(long off, int size) {
        if (size < 1 || size > 8 || off < 0 || off + size > SIZE) return size >= 8 ? -1L : (1L << (8 * size)) - 1;
        if (off == 0 && size > 1) return 0; // a wide read at 0x510 is rejected by the combined register (QEMU: 0)
        long v = 0;
        for (int i = 0; i < size; i++) v |= (long) portByte((int) off + i) << (8 * i);
        return v;
    }

    private int portByte(int port) {
        if (port <= 1) return nextByte();
        if (port < DMA_OFFSET || !dma) return 0xff;
        return (int) (FwCfgKeys.DMA_SIGNATURE >>> (8 * (7 - (port - DMA_OFFSET)))) & 0xff;
    }

    /**
     * Stores. A 16-bit store at 0x510 selects; stores to the data port are ignored (QEMU >= 2.4;
     * DMA writes instead). The DMA register is big-endian: a 32-bit store at 0x514 sets the high
     * half (and clears the low one), a 32-bit store at 0x518 ORs in the low half and starts the
     * transfer, a 64-bit store at 0x514 sets both and starts it; afterwards the register is 0 again.
     * Other widths and offsets do nothing (as in QEMU).
     */
    @Override
    public synchronized void write(long off, int size, long value) {
        if (off == 0 && size == 2) {
            select((int) value & 0xffff);
            return;
        }
        if (!dma) return;
        if (off == DMA_OFFSET && size == 4) {
            dmaAddress = (Integer.reverseBytes((int) value) & 0xffff_ffffL) << 32;
        } else if (off == DMA_OFFSET + 4 && size == 4) {
            long address = dmaAddress | (Integer.reverseBytes((int) value) & 0xffff_ffffL);
            dmaAddress = 0;
            runDma(address);
        } else if (off == DMA_OFFSET && size == 8) {
            dmaAddress = 0;
            runDma(Long.reverseBytes(value));
        }
    }

    private void select(int key) {
        selected = key & FwCfgKeys.ENTRY_MASK;
        offset = 0;
    }

    private int nextByte() {
        Item i = item(selected);
        if (i == null || offset >= i.data.length) return 0;
        return i.data[(int) offset++] & 0xff;
    }

    /** One DMA operation; returns normally whatever the guest put in the descriptor. */
    private void runDma(long descriptor) {
        byte[] d = new byte[DESCRIPTOR_SIZE];
        if (!copyFromGuest(descriptor, d, 0, DESCRIPTOR_SIZE)) return; // nowhere to report the error
        ByteBuffer b = ByteBuffer.wrap(d);
        int control = b.getInt(0);
        long length = b.getInt(4) & 0xffff_ffffL;
        long address = b.getLong(8);
        if ((control & FwCfgKeys.DMA_SELECT) != 0) select(control >>> 16);
        boolean ok = true;
        if ((control & FwCfgKeys.DMA_READ) != 0) ok = dmaRead(address, length);
        else if ((control & FwCfgKeys.DMA_WRITE) != 0) ok = dmaWrite(address, length);
        else if ((control & FwCfgKeys.DMA_SKIP) != 0) offset = Math.min(offset + length, 1L << 40);
        // Completion: control cleared (or just the error bit), written back big-endian.
        byte[] result = ByteBuffer.allocate(4).putInt(ok ? 0 : FwCfgKeys.DMA_ERROR).array();
        copyToGuest(descriptor, result, 0, 4);
    }

    private boolean dmaRead(long address, long length) {
        Item i = item(selected);
        if (!inRam(address, length)) return false;
        long done = 0;
        while (done < length) {
            int chunk = (int) Math.min(length - done, 1 << 20);
            byte[] buf = new byte[chunk];
            if (i != null && offset < i.data.length) {
                int n = (int) Math.min(chunk, i.data.length - offset);
                System.arraycopy(i.data, (int) offset, buf, 0, n);
            }
            copyToGuest(address + done, buf, 0, chunk);
            offset += chunk;
            done += chunk;
        }
        return true;
    }

    private boolean dmaWrite(long address, long length) {
        Item i = item(selected);
        if (i == null || !i.writable || offset > i.data.length || length > i.data.length - offset) return false;
        if (!inRam(address, length)) return false;
        if (!copyFromGuest(address, i.data, (int) offset, (int) length)) return false;
        offset += length;
        return true;
    }

    // ------------------------------------------------------------------ guest memory, bounds-checked

    /** Whether all of [gpa, gpa+len) is guest RAM (possibly spanning adjacent regions). */
    private boolean inRam(long gpa, long len) {
        if (len == 0) return true;
        if (gpa < 0 || gpa + len < gpa) return false;
        long at = gpa, end = gpa + len;
        while (at < end) {
            GuestRegion r = regionAt(at);
            if (r == null) return false;
            at = Math.min(end, r.end());
        }
        return true;
    }

    private GuestRegion regionAt(long gpa) {
        for (GuestRegion r : memory.regions()) if (gpa >= r.base() && gpa < r.end()) return r;
        return null;
    }

    private boolean copyToGuest(long gpa, byte[] src, int off, int len) {
        return copy(gpa, src, off, len, true);
    }

    private boolean copyFromGuest(long gpa, byte[] dst, int off, int len) {
        return copy(gpa, dst, off, len, false);
    }

    /**
     * Copies {@code len} bytes between {@code buf} at {@code off} and guest RAM at {@code gpa}, region
     * by region (a range may span regions); false, and nothing copied, unless all of it is RAM.
     */
    private boolean copy(long gpa, byte[] buf, int off, int len, boolean toGuest) {
        if (!inRam(gpa, len)) return false;
        MemorySegment heap = MemorySegment.ofArray(buf);
        int done = 0;
        while (done < len) {
            GuestRegion r = regionAt(gpa + done);
            int n = (int) Math.min(len - done, r.end() - (gpa + done));
            long inRegion = gpa + done - r.base();
            if (toGuest) MemorySegment.copy(heap, off + done, r.host(), inRegion, n);
            else MemorySegment.copy(r.host(), inRegion, heap, off + done, n);
            done += n;
        }
        return true;
    }

    static byte[] le32(int v) {
        return new byte[] {(byte) v, (byte) (v >>> 8), (byte) (v >>> 16), (byte) (v >>> 24)};
    }
}
