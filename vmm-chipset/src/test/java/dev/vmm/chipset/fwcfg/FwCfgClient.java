package dev.vmm.chipset.fwcfg;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.memory.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A guest-side fw_cfg driver written from QEMU's fw_cfg.rst, doing what SeaBIOS does: I/O port
 * accesses on a {@link Bus} and DMA descriptors in guest RAM, nothing that peeks into the device.
 * It also runs the ACPI linker/loader script the way firmware does.
 */
final class FwCfgClient {
    record File(String name, int key, int size) { }

    private final Bus pio;
    private final GuestMemory memory;
    private final long scratch; // 16-byte DMA descriptor lives here

    FwCfgClient(Bus pio, GuestMemory memory, long scratch) {
        this.pio = pio;
        this.memory = memory;
        this.scratch = scratch;
    }

    void select(int key) {
        pio.write(0x510, 2, key);                       // outw(key, 0x510)
    }

    /** Reads through the 8-bit data port, one inb per byte. */
    byte[] readPio(int key, int length) {
        select(key);
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) out[i] = (byte) pio.read(0x511, 1);
        return out;
    }

    boolean signatureOk() {
        return new String(readPio(FwCfgKeys.SIGNATURE, 4), StandardCharsets.US_ASCII).equals("QEMU");
    }

    int features() {
        return ByteBuffer.wrap(readPio(FwCfgKeys.ID, 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    /** The DMA register read as bytes 0x514..0x51B (as an MMIO big-endian read would see them). */
    long dmaSignature() {
        long v = 0;
        for (int port = 0x514; port < 0x51c; port++) v = v << 8 | pio.read(port, 1);
        return v;
    }

    Map<String, File> directory() {
        select(FwCfgKeys.FILE_DIR);
        int count = ByteBuffer.wrap(bytes(4)).getInt();   // big-endian
        Map<String, File> files = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            ByteBuffer e = ByteBuffer.wrap(bytes(64));
            int size = e.getInt();
            int key = e.getShort() & 0xffff;
            e.getShort();
            byte[] name = new byte[56];
            e.get(name);
            int len = 0;
            while (len < 56 && name[len] != 0) len++;
            String n = new String(name, 0, len, StandardCharsets.US_ASCII);
            files.put(n, new File(n, key, size));
        }
        return files;
    }

    private byte[] bytes(int n) {
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) out[i] = (byte) pio.read(0x511, 1);
        return out;
    }

    /**
     * One DMA transfer: descriptor {control, length, address} big-endian at {@code scratch}, its
     * address written as two big-endian halves (high at 0x514, low at 0x518 which triggers it).
     * Returns the control word the device left (0 = done, bit 0 = error).
     */
    int dma(int control, int length, long address) {
        return dma(scratch, control, length, address);
    }

    int dma(long descriptorAddress, int control, int length, long address) {
        byte[] d = ByteBuffer.allocate(16).putInt(control).putInt(length).putLong(address).array();
        if (memory.isValid(descriptorAddress, 16)) memory.write(descriptorAddress, d);
        pio.write(0x514, 4, Integer.reverseBytes((int) (descriptorAddress >>> 32)));   // outl(cpu_to_be32(hi))
        pio.write(0x518, 4, Integer.reverseBytes((int) descriptorAddress));           // outl(cpu_to_be32(lo))
        if (!memory.isValid(descriptorAddress, 16)) return -1;
        return Integer.reverseBytes(memory.readU32(descriptorAddress));
    }

    /** SELECT + READ of a whole file into guest RAM at {@code address}; returns its bytes. */
    byte[] readFileDma(File f, long address) {
        int control = dma(f.key() << 16 | FwCfgKeys.DMA_SELECT | FwCfgKeys.DMA_READ, f.size(), address);
        if (control != 0) throw new IllegalStateException("DMA read of " + f.name() + " ended with control " + control);
        byte[] out = new byte[f.size()];
        memory.read(address, out, 0, out.length);
        return out;
    }

    // ------------------------------------------------------------------ the linker/loader, as firmware runs it

    /** Where each file the script allocated was loaded. */
    record Loaded(Map<String, Long> addresses) { }

    /**
     * Executes {@code etc/table-loader}: ALLOCATE loads files by DMA at aligned addresses (FSEG zone
     * from {@code fsegBase}, HIGH zone from {@code highBase}), ADD_POINTER adds the source file's
     * address to the little-endian field, ADD_CHECKSUM subtracts the byte sum of the range.
     */
    Loaded runLoader(long fsegBase, long fsegEnd, long highBase, long highEnd) {
        Map<String, File> dir = directory();
        File loaderFile = dir.get("etc/table-loader");
        byte[] script = readFileDma(loaderFile, highBase);          // temporary copy, overwritten below
        Map<String, Long> at = new HashMap<>();
        long fseg = fsegBase, high = highBase;
        List<String> order = new ArrayList<>();
        ByteBuffer s = ByteBuffer.wrap(script).order(ByteOrder.LITTLE_ENDIAN);
        if (script.length % 128 != 0) throw new IllegalStateException("script length " + script.length);
        for (int c = 0; c < script.length; c += 128) {
            int command = s.getInt(c);
            switch (command) {
                case 1 -> {
                    String name = name(script, c + 4);
                    int align = s.getInt(c + 60);
                    int zone = script[c + 64];
                    File f = dir.get(name);
                    if (f == null) throw new IllegalStateException("ALLOCATE of missing file " + name);
                    long addr;
                    if (zone == 2) { addr = alignUp(fseg, align); fseg = addr + f.size(); if (fseg > fsegEnd) throw new IllegalStateException("fseg full"); }
                    else if (zone == 1) { addr = alignUp(high, align); high = addr + f.size(); if (high > highEnd) throw new IllegalStateException("high full"); }
                    else throw new IllegalStateException("zone " + zone);
                    readFileDma(f, addr);
                    at.put(name, addr);
                    order.add(name);
                }
                case 2 -> {
                    long dest = at.get(name(script, c + 4));
                    long src = at.get(name(script, c + 60));
                    int offset = s.getInt(c + 116);
                    int size = script[c + 120];
                    long v = 0;
                    for (int i = 0; i < size; i++) v |= (memory.readU8(dest + offset + i) & 0xffL) << (8 * i);
                    v += src;
                    for (int i = 0; i < size; i++) memory.writeU8(dest + offset + i, (byte) (v >>> (8 * i)));
                }
                case 3 -> {
                    long file = at.get(name(script, c + 4));
                    int offset = s.getInt(c + 60), start = s.getInt(c + 64), length = s.getInt(c + 68);
                    int sum = 0;
                    for (int i = 0; i < length; i++) sum += memory.readU8(file + start + i);
                    memory.writeU8(file + offset, (byte) (memory.readU8(file + offset) - sum));
                }
                default -> { } // as SeaBIOS: skip what it does not know (QEMU pads the script with zero entries)
            }
        }
        return new Loaded(at);
    }

    private static String name(byte[] b, int at) {
        int len = 0;
        while (len < 56 && b[at + len] != 0) len++;
        return new String(b, at, len, StandardCharsets.US_ASCII);
    }

    private static long alignUp(long v, int align) {
        return (v + align - 1) & -(long) align;
    }
}
