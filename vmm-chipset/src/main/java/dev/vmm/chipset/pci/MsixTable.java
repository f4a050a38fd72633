package dev.vmm.chipset.pci;

import java.util.Objects;

/**
 * The MSI-X table and Pending Bit Array of one function (PCI Local Bus 3.0 §6.8.2).
 *
 * <p>The table has 16 bytes per vector: message address low (dword aligned), message address high,
 * message data, vector control (bit 0 = mask). After reset every vector is masked. The PBA has one
 * bit per vector, in 64-bit words, read-only to the guest.
 *
 * <p>Delivery rule: a vector the device {@linkplain #trigger triggers} while it is masked (its own
 * mask bit or the function mask) gets its pending bit set instead; when it becomes unmasked with the
 * bit set, the message is delivered then and the bit cleared. While MSI-X is disabled the function
 * may not use MSI-X at all ({@link #trigger} returns false so the device can fall back to INTx).
 *
 * <p>The spec lets software access the table and PBA only with aligned dword or qword accesses;
 * other accesses read 0 and are dropped.
 *
 * <p>Thread-safe: the guest (vCPU threads) and the device (its I/O thread) both come here. The sink
 * and listener are called with the table locked, in order, and must not call back into it.
 */
public final class MsixTable {
    public static final int ENTRY_SIZE = 16;
    public static final int MAX_VECTORS = 2048;
    static final int VECTOR_MASKED = 1;

    private final int vectors;
    private final int[] addressLow;
    private final int[] addressHigh;
    private final int[] data;
    private final int[] control;
    private final long[] pending;
    private final boolean[] reportedMasked;
    private final MsiSink sink;
    private volatile MsixListener listener;
    private boolean enabled;
    private boolean functionMasked;

    public MsixTable(int vectors, MsiSink sink, MsixListener listener) {
        if (vectors < 1 || vectors > MAX_VECTORS) throw new IllegalArgumentException("MSI-X vectors must be 1..2048, got " + vectors);
        this.vectors = vectors;
        this.sink = Objects.requireNonNull(sink);
        this.listener = listener == null ? MsixListener.NONE : listener;
        addressLow = new int[vectors];
        addressHigh = new int[vectors];
        data = new int[vectors];
        control = new int[vectors];
        pending = new long[(vectors + 63) / 64];
        reportedMasked = new boolean[vectors];
        reset();
    }

    public int vectors() { return vectors; }

    /** Bytes the table takes in its BAR. */
    public long tableSize() { return (long) vectors * ENTRY_SIZE; }

    /** Bytes the PBA takes in its BAR (whole qwords). */
    public long pbaSize() { return pending.length * 8L; }

    public void setListener(MsixListener listener) {
        this.listener = listener == null ? MsixListener.NONE : listener;
    }

    /** Function reset: all vectors masked, nothing pending, MSI-X disabled. */
    public synchronized void reset() {
        for (int v = 0; v < vectors; v++) {
            addressLow[v] = addressHigh[v] = data[v] = 0;
            control[v] = VECTOR_MASKED;
            reportedMasked[v] = true;
        }
        java.util.Arrays.fill(pending, 0);
        enabled = false;
        functionMasked = false;
    }

    // ---------------------------------------------------------------- saved state

    /**
     * The table, PBA and control bits as bytes (snapshots and migration): u32 vectors, u8 enabled,
     * u8 function-masked, then per vector address-low, address-high, data, control (u32 each, big
     * endian), then the PBA words.
     */
    public synchronized byte[] saveState() {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(6 + 16 * vectors + 8 * pending.length);
        b.putInt(vectors).put((byte) (enabled ? 1 : 0)).put((byte) (functionMasked ? 1 : 0));
        for (int v = 0; v < vectors; v++) b.putInt(addressLow[v]).putInt(addressHigh[v]).putInt(data[v]).putInt(control[v]);
        for (long w : pending) b.putLong(w);
        return b.array();
    }

    /**
     * Puts back {@link #saveState()} output and tells the listener every vector's route and mask,
     * so the VMM re-creates its interrupt routes. Pending bits of unmasked vectors are delivered.
     *
     * @throws IllegalArgumentException if the state is of another table size or malformed
     */
    public synchronized void restoreState(byte[] state) {
        if (state.length != 6 + 16 * vectors + 8 * pending.length) {
            throw new IllegalArgumentException("saved MSI-X state has " + state.length + " bytes, expected "
                    + (6 + 16 * vectors + 8 * pending.length));
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(state);
        int n = b.getInt();
        if (n != vectors) throw new IllegalArgumentException("saved MSI-X table has " + n + " vectors, this one " + vectors);
        int en = b.get(), fm = b.get();
        if ((en & ~1) != 0 || (fm & ~1) != 0) throw new IllegalArgumentException("saved MSI-X control flags are corrupt");
        enabled = en == 1;
        functionMasked = fm == 1;
        for (int v = 0; v < vectors; v++) {
            addressLow[v] = b.getInt() & ~0x3;
            addressHigh[v] = b.getInt();
            data[v] = b.getInt();
            control[v] = b.getInt() & VECTOR_MASKED;
        }
        for (int i = 0; i < pending.length; i++) pending[i] = b.getLong();
        if (vectors % 64 != 0) pending[pending.length - 1] &= (1L << (vectors % 64)) - 1;
        for (int v = 0; v < vectors; v++) {
            boolean masked = effectivelyMasked(v);
            reportedMasked[v] = masked;
            // A never-programmed vector needs no route (as before the save, when the guest had not written it).
            if (address(v) != 0 || data[v] != 0 || !masked) listener.vectorChanged(v, address(v), data[v], masked);
            changed(v);
        }
    }

    // ---------------------------------------------------------------- device side

    /**
     * The device raises {@code vector}. Returns false (and does nothing) when MSI-X is disabled;
     * otherwise delivers it through the sink, or sets its pending bit if it is masked.
     */
    public synchronized boolean trigger(int vector) {
        checkVector(vector);
        if (!enabled) return false;
        if (functionMasked || (control[vector] & VECTOR_MASKED) != 0) {
            pending[vector >>> 6] |= 1L << vector;
        } else {
            sink.signal(vector, address(vector), data[vector]);
        }
        return true;
    }

    /** The device withdraws a pending request (its cause went away while the vector was masked). */
    public synchronized void clearPending(int vector) {
        checkVector(vector);
        pending[vector >>> 6] &= ~(1L << vector);
    }

    public synchronized boolean isPending(int vector) {
        checkVector(vector);
        return (pending[vector >>> 6] & (1L << vector)) != 0;
    }

    public synchronized boolean isEnabled() { return enabled; }

    public synchronized boolean isFunctionMasked() { return functionMasked; }

    /** The vector's own mask bit. */
    public synchronized boolean isVectorMasked(int vector) {
        checkVector(vector);
        return (control[vector] & VECTOR_MASKED) != 0;
    }

    /** The 64-bit message address the guest programmed for {@code vector}. */
    public synchronized long address(int vector) {
        checkVector(vector);
        return ((addressHigh[vector] & 0xFFFF_FFFFL) << 32) | (addressLow[vector] & 0xFFFF_FFFFL);
    }

    public synchronized int data(int vector) {
        checkVector(vector);
        return data[vector];
    }

    /** Called by {@link MsixCapability} when the guest writes the message control enable/function mask bits. */
    synchronized void setControl(boolean enable, boolean maskAll) {
        if (enable == enabled && maskAll == functionMasked) return;
        enabled = enable;
        functionMasked = maskAll;
        for (int v = 0; v < vectors; v++) changed(v);
    }

    private boolean effectivelyMasked(int vector) {
        return !enabled || functionMasked || (control[vector] & VECTOR_MASKED) != 0;
    }

    /** After any change to an entry or the control bits: deliver what became deliverable, tell the listener. */
    private void changed(int vector) {
        boolean masked = effectivelyMasked(vector);
        if (!masked && (pending[vector >>> 6] & (1L << vector)) != 0) {
            pending[vector >>> 6] &= ~(1L << vector);
            sink.signal(vector, address(vector), data[vector]);
        }
        if (masked != reportedMasked[vector]) {
            reportedMasked[vector] = masked;
            listener.vectorChanged(vector, address(vector), data[vector], masked);
        }
    }

    private void checkVector(int vector) {
        if (vector < 0 || vector >= vectors) throw new IllegalArgumentException("MSI-X vector " + vector + " of " + vectors);
    }

    // ---------------------------------------------------------------- guest side (BAR accesses)

    private static boolean validAccess(long offset, int size) {
        return (size == 4 || size == 8) && (offset & (size - 1)) == 0;
    }

    /** A guest load at {@code offset} from the start of the table. */
    public synchronized long readTable(long offset, int size) {
        if (!validAccess(offset, size) || offset < 0 || offset + size > tableSize()) return 0;
        long v = tableDword(offset) & 0xFFFF_FFFFL;
        if (size == 8) v |= (tableDword(offset + 4) & 0xFFFF_FFFFL) << 32;
        return v;
    }

    private int tableDword(long offset) {
        int vector = (int) (offset / ENTRY_SIZE);
        return switch ((int) (offset % ENTRY_SIZE)) {
            case 0 -> addressLow[vector];
            case 4 -> addressHigh[vector];
            case 8 -> data[vector];
            default -> control[vector];
        };
    }

    /** A guest store at {@code offset} from the start of the table. */
    public synchronized void writeTable(long offset, int size, long value) {
        if (!validAccess(offset, size) || offset < 0 || offset + size > tableSize()) return;
        int vector = (int) (offset / ENTRY_SIZE);
        boolean entryChanged = writeTableDword(offset, (int) value);
        if (size == 8) entryChanged |= writeTableDword(offset + 4, (int) (value >>> 32));
        boolean maskedBefore = reportedMasked[vector];
        changed(vector);
        // An address/data rewrite that leaves the mask state alone still changes the route.
        if (entryChanged && maskedBefore == reportedMasked[vector]) {
            listener.vectorChanged(vector, address(vector), data[vector], reportedMasked[vector]);
        }
    }

    /** Returns whether the address or data changed (mask changes are reported by {@link #changed}). */
    private boolean writeTableDword(long offset, int value) {
        int vector = (int) (offset / ENTRY_SIZE);
        switch ((int) (offset % ENTRY_SIZE)) {
            case 0 -> {
                int v = value & ~0x3;                  // message address is dword aligned
                boolean c = addressLow[vector] != v;
                addressLow[vector] = v;
                return c;
            }
            case 4 -> {
                boolean c = addressHigh[vector] != value;
                addressHigh[vector] = value;
                return c;
            }
            case 8 -> {
                boolean c = data[vector] != value;
                data[vector] = value;
                return c;
            }
            default -> {
                control[vector] = value & VECTOR_MASKED;   // other bits reserved: read as 0
                return false;
            }
        }
    }

    /** A guest load at {@code offset} from the start of the PBA. */
    public synchronized long readPba(long offset, int size) {
        if (!validAccess(offset, size) || offset < 0 || offset + size > pbaSize()) return 0;
        long word = pending[(int) (offset >>> 3)];
        return size == 8 ? word : (word >>> (8 * (offset & 4))) & 0xFFFF_FFFFL;
    }

    /** The PBA is read-only: guest stores are dropped. */
    public void writePba(long offset, int size, long value) { }
}
