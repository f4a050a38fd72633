package dev.vmm.chipset.pci;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The configuration space of one PCI function: 256 bytes (or 4 KiB for a PCI Express function)
 * plus, per bit, whether the guest may write it.
 *
 * <p>Every byte has a write mask (bits the guest may set or clear) and a write-1-to-clear mask
 * (status bits the device sets and the guest acknowledges by writing a 1). All other bits are
 * read-only to the guest. The device side changes anything through the {@code set*} methods, which
 * bypass the masks. This keeps register semantics declarative: a device describes its registers
 * once and then only reacts to the writes it cares about through {@link WriteListener}s.
 *
 * <p>Header layout (type 0 endpoint, type 1 bridge), the capability list and BAR registers follow
 * the PCI Local Bus Specification 3.0 and the PCI-to-PCI Bridge Architecture Specification 1.2.
 *
 * <p>Thread-safe: guest accesses (vCPU threads) and device-side updates (e.g. the INTx status bit
 * from an I/O thread) lock this object. Write listeners run after the lock is released, so a
 * listener may take its own locks and call back in without ordering problems.
 */
public final class PciConfigSpace {
    public static final int SIZE = 256;
    public static final int EXTENDED_SIZE = 4096;

    // Common header (both types).
    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION_ID = 0x08;
    public static final int CLASS_PROG_IF = 0x09;
    public static final int CACHE_LINE_SIZE = 0x0C;
    public static final int LATENCY_TIMER = 0x0D;
    public static final int HEADER_TYPE = 0x0E;
    public static final int BAR0 = 0x10;
    public static final int CAPABILITIES_POINTER = 0x34;
    public static final int INTERRUPT_LINE = 0x3C;
    public static final int INTERRUPT_PIN = 0x3D;
    // Type 0 only.
    public static final int SUBSYSTEM_VENDOR_ID = 0x2C;
    public static final int SUBSYSTEM_ID = 0x2E;
    public static final int EXPANSION_ROM_TYPE0 = 0x30;
    // Type 1 only.
    public static final int PRIMARY_BUS = 0x18;
    public static final int SECONDARY_BUS = 0x19;
    public static final int SUBORDINATE_BUS = 0x1A;
    public static final int SECONDARY_LATENCY_TIMER = 0x1B;
    public static final int IO_BASE = 0x1C;
    public static final int IO_LIMIT = 0x1D;
    public static final int SECONDARY_STATUS = 0x1E;
    public static final int MEMORY_BASE = 0x20;
    public static final int MEMORY_LIMIT = 0x22;
    public static final int PREFETCHABLE_BASE = 0x24;
    public static final int PREFETCHABLE_LIMIT = 0x26;
    public static final int PREFETCHABLE_BASE_UPPER = 0x28;
    public static final int PREFETCHABLE_LIMIT_UPPER = 0x2C;
    public static final int IO_BASE_UPPER = 0x30;
    public static final int IO_LIMIT_UPPER = 0x32;
    public static final int EXPANSION_ROM_TYPE1 = 0x38;
    public static final int BRIDGE_CONTROL = 0x3E;

    public static final int HEADER_TYPE_ENDPOINT = 0;
    public static final int HEADER_TYPE_BRIDGE = 1;
    public static final int HEADER_TYPE_MULTI_FUNCTION = 0x80;

    public static final int COMMAND_IO = 1 << 0;
    public static final int COMMAND_MEMORY = 1 << 1;
    public static final int COMMAND_BUS_MASTER = 1 << 2;
    public static final int COMMAND_PARITY_ERROR_RESPONSE = 1 << 6;
    public static final int COMMAND_SERR = 1 << 8;
    public static final int COMMAND_INTX_DISABLE = 1 << 10;

    public static final int STATUS_INTERRUPT = 1 << 3;
    public static final int STATUS_CAPABILITIES = 1 << 4;
    /** Error bits the guest clears by writing 1: master data parity, signaled/received aborts, SERR, parity. */
    public static final int STATUS_WRITE_ONE_TO_CLEAR = 0xF900;

    /** Where capabilities start: right after the 64-byte standard header. */
    public static final int FIRST_CAPABILITY_OFFSET = 0x40;

    /** Where PCI Express extended capabilities start (4 KiB config space only). */
    public static final int FIRST_EXTENDED_CAPABILITY_OFFSET = 0x100;

    /** One entry of the capability list. */
    public record Capability(int id, int offset) { }

    /** Told after a guest write has been applied to a watched range. */
    @FunctionalInterface
    public interface WriteListener {
        /** {@code offset}/{@code size} are the guest's access, which overlaps the watched range. */
        void written(int offset, int size);
    }

    private record Watch(int offset, int length, WriteListener listener) {
        boolean overlaps(int off, int size) { return off < offset + length && offset < off + size; }
    }

    private final byte[] bytes;
    private final byte[] writable;
    private final byte[] writeOneToClear;
    private final int headerType;
    private final PciBar[] bars;
    private final List<Watch> watches = new CopyOnWriteArrayList<>();
    private int lastCapability;          // offset of the last capability in the chain, 0 if none
    private int nextCapabilityOffset = FIRST_CAPABILITY_OFFSET;
    private int lastExtendedCapability;  // 0 if none
    private int nextExtendedOffset = FIRST_EXTENDED_CAPABILITY_OFFSET;

    private PciConfigSpace(int size, int headerType) {
        if (size != SIZE && size != EXTENDED_SIZE) throw new IllegalArgumentException("config space size " + size);
        this.bytes = new byte[size];
        this.writable = new byte[size];
        this.writeOneToClear = new byte[size];
        this.headerType = headerType;
        this.bars = new PciBar[headerType == HEADER_TYPE_ENDPOINT ? 6 : 2];
        setByte(HEADER_TYPE, headerType);
        setWritable(COMMAND, 2, COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER
                | COMMAND_PARITY_ERROR_RESPONSE | COMMAND_SERR | COMMAND_INTX_DISABLE);
        setWriteOneToClear(STATUS, 2, STATUS_WRITE_ONE_TO_CLEAR);
        setWritable(CACHE_LINE_SIZE, 1, 0xFF);
        setWritable(LATENCY_TIMER, 1, 0xFF);
        setWritable(INTERRUPT_LINE, 1, 0xFF);
    }

    /**
     * A type 0 (endpoint) header.
     *
     * @param classCode the 24-bit class code: base class, sub-class, programming interface
     */
    public static PciConfigSpace endpoint(int vendorId, int deviceId, int classCode, int revision) {
        PciConfigSpace c = new PciConfigSpace(SIZE, HEADER_TYPE_ENDPOINT);
        c.identify(vendorId, deviceId, classCode, revision);
        return c;
    }

    /** A type 0 header with the 4 KiB PCI Express extended space (reads past 256 see the extra bytes). */
    public static PciConfigSpace expressEndpoint(int vendorId, int deviceId, int classCode, int revision) {
        PciConfigSpace c = new PciConfigSpace(EXTENDED_SIZE, HEADER_TYPE_ENDPOINT);
        c.identify(vendorId, deviceId, classCode, revision);
        return c;
    }

    /**
     * A type 1 (PCI-to-PCI bridge) header with guest-programmable bus numbers and windows: 16-bit
     * I/O decode, 32-bit memory window, 64-bit prefetchable window.
     */
    public static PciConfigSpace bridge(int vendorId, int deviceId, int classCode, int revision) {
        return bridge(SIZE, vendorId, deviceId, classCode, revision);
    }

    /** As {@link #bridge} with the 4 KiB PCI Express space (root and downstream ports). */
    public static PciConfigSpace expressBridge(int vendorId, int deviceId, int classCode, int revision) {
        return bridge(EXTENDED_SIZE, vendorId, deviceId, classCode, revision);
    }

    private static PciConfigSpace bridge(int size, int vendorId, int deviceId, int classCode, int revision) {
        PciConfigSpace c = new PciConfigSpace(size, HEADER_TYPE_BRIDGE);
        c.identify(vendorId, deviceId, classCode, revision);
        c.setWritable(PRIMARY_BUS, 4, 0xFFFF_FFFF);            // primary, secondary, subordinate, sec. latency
        c.setWritable(IO_BASE, 1, 0xF0);                      // bits 7:4 = address bits 15:12, 3:0 = 0 (16-bit)
        c.setWritable(IO_LIMIT, 1, 0xF0);
        c.setWriteOneToClear(SECONDARY_STATUS, 2, STATUS_WRITE_ONE_TO_CLEAR);
        c.setWritable(MEMORY_BASE, 2, 0xFFF0);                // bits 15:4 = address bits 31:20
        c.setWritable(MEMORY_LIMIT, 2, 0xFFF0);
        c.setWord(PREFETCHABLE_BASE, 0x1);                    // low nibble 1: 64-bit capable window
        c.setWord(PREFETCHABLE_LIMIT, 0x1);
        c.setWritable(PREFETCHABLE_BASE, 2, 0xFFF0);
        c.setWritable(PREFETCHABLE_LIMIT, 2, 0xFFF0);
        c.setWritable(PREFETCHABLE_BASE_UPPER, 4, 0xFFFF_FFFF);
        c.setWritable(PREFETCHABLE_LIMIT_UPPER, 4, 0xFFFF_FFFF);
        // Bridge control: parity response, SERR, ISA, VGA, VGA16, master abort, secondary reset, fast b2b.
        c.setWritable(BRIDGE_CONTROL, 2, 0x00FF);
        return c;
    }

    private void identify(int vendorId, int deviceId, int classCode, int revision) {
        if ((vendorId & 0xFFFF) == 0xFFFF) throw new IllegalArgumentException("vendor id 0xffff means 'no device'");
        setWord(VENDOR_ID, vendorId);
        setWord(DEVICE_ID, deviceId);
        setByte(REVISION_ID, revision);
        setByte(CLASS_PROG_IF, classCode);
        setWord(CLASS_PROG_IF + 1, classCode >>> 8);
    }

    // ---------------------------------------------------------------- guest access

    /** Size of this space: 256 or 4096 bytes. */
    public int size() { return bytes.length; }

    /**
     * A guest read of 1, 2 or 4 bytes, little-endian. Bytes past the end of the space read as 0
     * (a conventional function behind ECAM has no extended capabilities).
     */
    public synchronized int read(int offset, int size) {
        int v = 0;
        for (int i = 0; i < size; i++) {
            int o = offset + i;
            int b = o >= 0 && o < bytes.length ? bytes[o] & 0xFF : 0;
            v |= b << (8 * i);
        }
        return v;
    }

    /**
     * A guest write: writable bits take the new value, write-1-to-clear bits are cleared where the
     * value has a 1, everything else is kept. Then listeners watching the range are told.
     */
    public void write(int offset, int size, int value) {
        if (offset < 0 || size <= 0 || size > 4 || offset >= bytes.length) return;
        synchronized (this) {
            for (int i = 0; i < size && offset + i < bytes.length; i++) {
                int o = offset + i;
                int v = (value >>> (8 * i)) & 0xFF;
                int old = bytes[o] & 0xFF;
                int wm = writable[o] & 0xFF;
                int next = (old & ~wm) | (v & wm);
                next &= ~(v & writeOneToClear[o] & 0xFF);
                bytes[o] = (byte) next;
            }
        }
        for (Watch w : watches) {
            if (w.overlaps(offset, size)) w.listener.written(offset, size);
        }
    }

    /** Calls {@code listener} after every guest write that touches [offset, offset+length). */
    public void addWriteListener(int offset, int length, WriteListener listener) {
        checkRange(offset, length);
        watches.add(new Watch(offset, length, Objects.requireNonNull(listener)));
    }

    // ---------------------------------------------------------------- device-side access (no masks)

    public synchronized void setByte(int offset, int value) {
        checkRange(offset, 1);
        bytes[offset] = (byte) value;
    }

    public void setWord(int offset, int value) {
        setBytes(bytes, offset, 2, value);
    }

    public void setDword(int offset, int value) {
        setBytes(bytes, offset, 4, value);
    }

    /** Sets which bits of the {@code size} bytes at {@code offset} the guest may write. */
    public void setWritable(int offset, int size, int mask) {
        setBytes(writable, offset, size, mask);
    }

    /** Sets which bits of the {@code size} bytes at {@code offset} the guest clears by writing 1. */
    public void setWriteOneToClear(int offset, int size, int mask) {
        setBytes(writeOneToClear, offset, size, mask);
    }

    /** Sets (device side) or clears bits, leaving the others. */
    public synchronized void updateBits(int offset, int size, int mask, boolean set) {
        int v = read(offset, size);
        setBytes(bytes, offset, size, set ? v | mask : v & ~mask);
    }

    private synchronized void setBytes(byte[] target, int offset, int size, int value) {
        checkRange(offset, size);
        for (int i = 0; i < size; i++) target[offset + i] = (byte) (value >>> (8 * i));
    }

    private void checkRange(int offset, int length) {
        if (offset < 0 || length <= 0 || offset + length > bytes.length) {
            throw new IllegalArgumentException(String.format("config range 0x%x+%d outside %d bytes", offset, length, bytes.length));
        }
    }

    // ---------------------------------------------------------------- saved state

    /** A copy of every byte of the space (snapshots and migration). */
    public synchronized byte[] saveBytes() {
        return bytes.clone();
    }

    /**
     * Puts back bytes from {@link #saveBytes()} (device side: no masks, no listeners; the caller
     * re-applies BAR mappings and MSI-X control). The saved space must be of the same function: same
     * size, header type, vendor, device, class and revision, or {@link IllegalArgumentException}.
     */
    public synchronized void restoreBytes(byte[] saved) {
        if (saved.length != bytes.length) {
            throw new IllegalArgumentException("saved config space has " + saved.length + " bytes, this function has " + bytes.length);
        }
        for (int o : new int[] {VENDOR_ID, VENDOR_ID + 1, DEVICE_ID, DEVICE_ID + 1, REVISION_ID, CLASS_PROG_IF,
                CLASS_PROG_IF + 1, CLASS_PROG_IF + 2, HEADER_TYPE}) {
            if (saved[o] != bytes[o]) {
                throw new IllegalArgumentException(String.format(
                        "saved config space is of another function (%04x:%04x class %06x, this is %04x:%04x class %06x)",
                        (saved[0] & 0xFF) | (saved[1] & 0xFF) << 8, (saved[2] & 0xFF) | (saved[3] & 0xFF) << 8,
                        (saved[9] & 0xFF) | (saved[10] & 0xFF) << 8 | (saved[11] & 0xFF) << 16,
                        vendorId(), deviceId(), classCode()));
            }
        }
        System.arraycopy(saved, 0, bytes, 0, bytes.length);
    }

    // ---------------------------------------------------------------- header fields

    public int headerType() { return headerType; }

    public int vendorId() { return read(VENDOR_ID, 2); }

    public int deviceId() { return read(DEVICE_ID, 2); }

    public int classCode() { return read(CLASS_PROG_IF, 4) & 0xFF_FFFF; }

    public int command() { return read(COMMAND, 2); }

    public int status() { return read(STATUS, 2); }

    public void setSubsystem(int subsystemVendorId, int subsystemId) {
        if (headerType != HEADER_TYPE_ENDPOINT) throw new IllegalStateException("subsystem ids are a type 0 field");
        setWord(SUBSYSTEM_VENDOR_ID, subsystemVendorId);
        setWord(SUBSYSTEM_ID, subsystemId);
    }

    /** The legacy interrupt pin: 0 none, 1..4 INTA#..INTD#. Read-only to the guest. */
    public void setInterruptPin(int pin) {
        if (pin < 0 || pin > 4) throw new IllegalArgumentException("interrupt pin must be 0..4, got " + pin);
        setByte(INTERRUPT_PIN, pin);
    }

    public int interruptPin() { return read(INTERRUPT_PIN, 1); }

    public int interruptLine() { return read(INTERRUPT_LINE, 1); }

    // ---------------------------------------------------------------- BARs

    /** Number of BAR registers in this header: 6 for an endpoint, 2 for a bridge. */
    public int barCount() { return bars.length; }

    /**
     * Declares BAR {@code index}. A 64-bit BAR also takes register {@code index + 1}. The address
     * starts at 0 (unassigned); the guest (or firmware) programs it.
     */
    public synchronized void addBar(int index, PciBar bar) {
        Objects.requireNonNull(bar);
        if (index < 0 || index + bar.registers() > bars.length) {
            throw new IllegalArgumentException("BAR " + index + " does not fit in a header with " + bars.length + " BARs");
        }
        for (int i = index; i < index + bar.registers(); i++) {
            if (bars[i] != null || (i > 0 && bars[i - 1] != null && bars[i - 1].registers() == 2)) {
                throw new IllegalArgumentException("BAR register " + i + " is already in use");
            }
        }
        bars[index] = bar;
        int reg = BAR0 + 4 * index;
        setDword(reg, bar.flagBits());
        setWritable(reg, 4, bar.lowWriteMask());
        if (bar.registers() == 2) {
            setDword(reg + 4, 0);
            setWritable(reg + 4, 4, bar.highWriteMask());
        }
    }

    /** The BAR declared at {@code index}, or null (also null for the high half of a 64-bit BAR). */
    public synchronized PciBar bar(int index) {
        return index >= 0 && index < bars.length ? bars[index] : null;
    }

    /**
     * The address the guest programmed into BAR {@code index} (flag bits stripped), regardless of
     * whether decoding is enabled.
     */
    public synchronized long barAddress(int index) {
        PciBar bar = bars[index];
        if (bar == null) throw new IllegalArgumentException("no BAR " + index);
        int reg = BAR0 + 4 * index;
        long low = read(reg, 4) & 0xFFFF_FFFFL;
        return switch (bar.kind()) {
            case IO -> low & ~0x3L;
            case MEMORY32 -> low & ~0xFL;
            case MEMORY64 -> ((read(reg + 4, 4) & 0xFFFF_FFFFL) << 32) | (low & ~0xFL);
        };
    }

    /**
     * Whether the guest is in the middle of sizing BAR {@code index}: a register of it holds all its
     * writable bits set (the "write all ones" step). Such a value is never a placement.
     */
    public synchronized boolean barBeingSized(int index) {
        PciBar bar = bars[index];
        int reg = BAR0 + 4 * index;
        int lowMask = bar.lowWriteMask();
        if (lowMask != 0 && (read(reg, 4) & lowMask) == lowMask) return true;
        if (bar.registers() == 2) {
            int highMask = bar.highWriteMask();
            return (read(reg + 4, 4) & highMask) == highMask;
        }
        return false;
    }

    /** Device-side placement of a BAR (firmware-style pre-assignment); the mapping follows on the next command write. */
    public synchronized void setBarAddress(int index, long address) {
        PciBar bar = bars[index];
        if (bar == null) throw new IllegalArgumentException("no BAR " + index);
        if ((address & (bar.size() - 1)) != 0) throw new IllegalArgumentException("BAR address not aligned to its size");
        int reg = BAR0 + 4 * index;
        setDword(reg, (int) address | bar.flagBits());
        if (bar.registers() == 2) setDword(reg + 4, (int) (address >>> 32));
    }

    // ---------------------------------------------------------------- capabilities

    /**
     * Appends a capability to the list: a two-byte header (id, next pointer) followed by
     * {@code body}. Links it from the capabilities pointer (0x34) or the previous capability and
     * sets status bit 4. The header is read-only; {@code bodyWriteMask} (same length as body, or
     * null for all read-only) says which body bits the guest may write.
     *
     * @return the capability's offset in config space (where its id byte is)
     */
    public int addCapability(int id, byte[] body, byte[] bodyWriteMask) {
        return addCapability(id, body, bodyWriteMask, null);
    }

    /** As {@link #addCapability(int, byte[], byte[])} with write-1-to-clear body bits too. */
    public synchronized int addCapability(int id, byte[] body, byte[] bodyWriteMask, byte[] bodyWriteOneToClear) {
        Objects.requireNonNull(body);
        if (id <= 0 || id > 0xFF) throw new IllegalArgumentException("capability id " + id);
        if (bodyWriteMask != null && bodyWriteMask.length != body.length) throw new IllegalArgumentException("mask length differs from body");
        if (bodyWriteOneToClear != null && bodyWriteOneToClear.length != body.length) throw new IllegalArgumentException("w1c mask length differs from body");
        int offset = nextCapabilityOffset;
        int length = 2 + body.length;
        if (offset + length > SIZE) {
            throw new IllegalStateException("no room for a " + length + "-byte capability at 0x" + Integer.toHexString(offset));
        }
        setByte(offset, id);
        setByte(offset + 1, 0);
        for (int i = 0; i < body.length; i++) {
            bytes[offset + 2 + i] = body[i];
            writable[offset + 2 + i] = bodyWriteMask == null ? 0 : bodyWriteMask[i];
            writeOneToClear[offset + 2 + i] = bodyWriteOneToClear == null ? 0 : bodyWriteOneToClear[i];
        }
        if (lastCapability == 0) setByte(CAPABILITIES_POINTER, offset);
        else setByte(lastCapability + 1, offset);
        lastCapability = offset;
        nextCapabilityOffset = (offset + length + 3) & ~3;     // capabilities are dword aligned
        updateBits(STATUS, 2, STATUS_CAPABILITIES, true);
        return offset;
    }

    /**
     * Walks the capability list as a guest would (pointer at 0x34, low two bits ignored), stopping
     * at a null pointer, a pointer into the header, or after 48 entries (a loop guard).
     */
    public List<Capability> capabilities() {
        List<Capability> out = new ArrayList<>();
        if ((status() & STATUS_CAPABILITIES) == 0) return out;
        int p = read(CAPABILITIES_POINTER, 1) & ~3;
        while (p >= FIRST_CAPABILITY_OFFSET && p < SIZE && out.size() < 48) {
            out.add(new Capability(read(p, 1), p));
            p = read(p + 1, 1) & ~3;
        }
        return out;
    }

    /**
     * Appends a PCI Express extended capability (4 KiB spaces only): a dword header with the 16-bit
     * id, 4-bit version and 12-bit next pointer, followed by {@code body}; the header is read-only.
     *
     * @return the capability's offset (0x100 for the first)
     */
    public synchronized int addExtendedCapability(int id, int version, byte[] body, byte[] bodyWriteMask) {
        Objects.requireNonNull(body);
        if (bytes.length != EXTENDED_SIZE) throw new IllegalStateException("extended capabilities need a 4 KiB config space");
        if (id <= 0 || id > 0xFFFF || version < 0 || version > 0xF) throw new IllegalArgumentException("extended capability id/version");
        if (bodyWriteMask != null && bodyWriteMask.length != body.length) throw new IllegalArgumentException("mask length differs from body");
        int offset = nextExtendedOffset;
        if (offset + 4 + body.length > EXTENDED_SIZE) throw new IllegalStateException("no room for extended capability");
        setDword(offset, id | version << 16);
        for (int i = 0; i < body.length; i++) {
            bytes[offset + 4 + i] = body[i];
            writable[offset + 4 + i] = bodyWriteMask == null ? 0 : bodyWriteMask[i];
        }
        if (lastExtendedCapability != 0) {
            int header = read(lastExtendedCapability, 4);
            setDword(lastExtendedCapability, (header & 0x000F_FFFF) | offset << 20);
        }
        lastExtendedCapability = offset;
        nextExtendedOffset = (offset + 4 + body.length + 3) & ~3;
        return offset;
    }

    /** Offset of the first capability with {@code id}, or -1. */
    public int findCapability(int id) {
        for (Capability c : capabilities()) if (c.id() == id) return c.offset();
        return -1;
    }
}
