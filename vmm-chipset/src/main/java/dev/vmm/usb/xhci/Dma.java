package dev.vmm.usb.xhci;

import dev.vmm.memory.GuestMemory;

/**
 * The controller's bus-master accesses to guest RAM. Every address comes from the guest, so every
 * access is bounds-checked by {@link GuestMemory}; an address outside RAM becomes a {@link Fault}
 * that the caller turns into a completion code or a host system error, never a VMM exception.
 * Buffers that straddle two RAM regions are split at the region end.
 */
final class Dma {
    /** A guest address the controller cannot reach. */
    static final class Fault extends RuntimeException {
        Fault(long gpa, long len) {
            super("xHCI DMA to 0x" + Long.toHexString(gpa) + "+" + len + " outside guest RAM", null, false, false);
        }
    }

    private final GuestMemory memory;

    Dma(GuestMemory memory) {
        this.memory = memory;
    }

    Trb readTrb(long gpa) {
        check(gpa, Trb.SIZE);
        return new Trb(memory.readU64(gpa), memory.readU32(gpa + 8), memory.readU32(gpa + 12), gpa);
    }

    void writeTrb(long gpa, Trb trb) {
        check(gpa, Trb.SIZE);
        memory.writeU64(gpa, trb.parameter());
        memory.writeU32(gpa + 8, trb.status());
        // The control dword last: it holds the cycle bit that hands the TRB to software.
        memory.writeU32(gpa + 12, trb.control());
    }

    int readU32(long gpa) {
        check(gpa, 4);
        return memory.readU32(gpa);
    }

    long readU64(long gpa) {
        check(gpa, 8);
        return memory.readU64(gpa);
    }

    void writeU32(long gpa, int value) {
        check(gpa, 4);
        memory.writeU32(gpa, value);
    }

    void read(long gpa, byte[] dst, int off, int len) {
        forEachChunk(gpa, off, len, (at, o, n) -> memory.read(at, dst, o, n));
    }

    void write(long gpa, byte[] src, int off, int len) {
        forEachChunk(gpa, off, len, (at, o, n) -> memory.write(at, src, o, n));
    }

    private interface ChunkCopy {
        void copy(long gpa, int off, int len);
    }

    /** Splits {@code [gpa, gpa+len)} at RAM region ends (a Fault where it leaves RAM). */
    private void forEachChunk(long gpa, int off, int len, ChunkCopy copy) {
        while (len > 0) {
            int n = chunk(gpa, len);
            copy.copy(gpa, off, n);
            gpa += n;
            off += n;
            len -= n;
        }
    }

    /** Whether all of {@code [gpa, gpa+len)} is RAM (possibly over several regions). */
    boolean valid(long gpa, long len) {
        try {
            while (len > 0) {
                int n = chunk(gpa, (int) Math.min(len, Integer.MAX_VALUE));
                gpa += n;
                len -= n;
            }
            return true;
        } catch (Fault f) {
            return false;
        }
    }

    /** How much of {@code [gpa, gpa+len)} lies in the region holding {@code gpa}. */
    private int chunk(long gpa, int len) {
        for (var r : memory.regions()) {
            if (r.contains(gpa, 1)) return (int) Math.min(len, r.end() - gpa);
        }
        throw new Fault(gpa, len);
    }

    private void check(long gpa, int len) {
        if (gpa < 0 || !memory.isValid(gpa, len)) throw new Fault(gpa, len);
    }
}
