package dev.vmm.chipset.pci;

import java.util.Objects;

/**
 * The MSI-X capability (id 0x11) of a function, wired to its {@link MsixTable}.
 *
 * <p>Layout after the id/next header: message control (bits 10:0 table size N-1, read-only; bit 14
 * function mask; bit 15 MSI-X enable), then table offset/BIR and PBA offset/BIR dwords (offset in
 * bits 31:3, BAR indicator in bits 2:0), both read-only.
 *
 * <p>The device's BAR handler passes table/PBA accesses here:
 * <pre>{@code
 * public long barRead(int bar, long offset, int size) {
 *     if (msix.covers(bar, offset)) return msix.barRead(bar, offset, size);
 *     ...
 * }
 * }</pre>
 */
public final class MsixCapability {
    public static final int CAPABILITY_ID = 0x11;
    public static final int CONTROL_ENABLE = 1 << 15;
    public static final int CONTROL_FUNCTION_MASK = 1 << 14;

    private final PciConfigSpace config;
    private final MsixTable table;
    private final int offset;
    private final int tableBar;
    private final long tableOffset;
    private final int pbaBar;
    private final long pbaOffset;

    private MsixCapability(PciConfigSpace config, MsixTable table, int offset,
                           int tableBar, long tableOffset, int pbaBar, long pbaOffset) {
        this.config = config;
        this.table = table;
        this.offset = offset;
        this.tableBar = tableBar;
        this.tableOffset = tableOffset;
        this.pbaBar = pbaBar;
        this.pbaOffset = pbaOffset;
    }

    /**
     * Adds the capability to {@code config} for {@code table}, with the table at {@code tableOffset}
     * in BAR {@code tableBar} and the PBA at {@code pbaOffset} in BAR {@code pbaBar}. The BARs must
     * already be declared memory BARs large enough to hold them; offsets must be 8-byte aligned;
     * table and PBA must not overlap.
     */
    public static MsixCapability install(PciConfigSpace config, MsixTable table,
                                         int tableBar, long tableOffset, int pbaBar, long pbaOffset) {
        Objects.requireNonNull(config);
        Objects.requireNonNull(table);
        checkPlacement(config, "table", tableBar, tableOffset, table.tableSize());
        checkPlacement(config, "PBA", pbaBar, pbaOffset, table.pbaSize());
        if (tableBar == pbaBar && tableOffset < pbaOffset + table.pbaSize() && pbaOffset < tableOffset + table.tableSize()) {
            throw new IllegalArgumentException("MSI-X table and PBA overlap");
        }
        int control = table.vectors() - 1;
        int tableDword = (int) tableOffset | tableBar;
        int pbaDword = (int) pbaOffset | pbaBar;
        byte[] body = {
                (byte) control, (byte) (control >>> 8),
                (byte) tableDword, (byte) (tableDword >>> 8), (byte) (tableDword >>> 16), (byte) (tableDword >>> 24),
                (byte) pbaDword, (byte) (pbaDword >>> 8), (byte) (pbaDword >>> 16), (byte) (pbaDword >>> 24),
        };
        byte[] mask = new byte[body.length];
        mask[1] = (byte) ((CONTROL_ENABLE | CONTROL_FUNCTION_MASK) >>> 8);
        int offset = config.addCapability(CAPABILITY_ID, body, mask);
        MsixCapability cap = new MsixCapability(config, table, offset, tableBar, tableOffset, pbaBar, pbaOffset);
        config.addWriteListener(offset + 2, 2, (o, s) -> cap.controlWritten());
        return cap;
    }

    private static void checkPlacement(PciConfigSpace config, String what, int bar, long off, long size) {
        PciBar b = config.bar(bar);
        if (b == null || !b.kind().isMemory()) throw new IllegalArgumentException("MSI-X " + what + " needs memory BAR " + bar);
        if ((off & 7) != 0 || off < 0 || off > 0xFFFF_FFF8L) throw new IllegalArgumentException("MSI-X " + what + " offset must be 8-byte aligned and 32-bit");
        if (off + size > b.size()) throw new IllegalArgumentException("MSI-X " + what + " does not fit in BAR " + bar);
    }

    private void controlWritten() {
        int control = config.read(offset + 2, 2);
        table.setControl((control & CONTROL_ENABLE) != 0, (control & CONTROL_FUNCTION_MASK) != 0);
    }

    /** Offset of the capability in config space. */
    public int offset() { return offset; }

    public MsixTable table() { return table; }

    public int tableBar() { return tableBar; }

    public long tableOffset() { return tableOffset; }

    public int pbaBar() { return pbaBar; }

    public long pbaOffset() { return pbaOffset; }

    /** Whether the guest enabled MSI-X (then the function must not use INTx). */
    public boolean isEnabled() { return table.isEnabled(); }

    /** Whether a BAR access at {@code offset} of {@code bar} falls in the table or the PBA. */
    public boolean covers(int bar, long offset) {
        return inTable(bar, offset) || inPba(bar, offset);
    }

    private boolean inTable(int bar, long off) {
        return bar == tableBar && off >= tableOffset && off - tableOffset < table.tableSize();
    }

    private boolean inPba(int bar, long off) {
        return bar == pbaBar && off >= pbaOffset && off - pbaOffset < table.pbaSize();
    }

    public long barRead(int bar, long off, int size) {
        if (inTable(bar, off)) return table.readTable(off - tableOffset, size);
        if (inPba(bar, off)) return table.readPba(off - pbaOffset, size);
        return 0;
    }

    public void barWrite(int bar, long off, int size, long value) {
        if (inTable(bar, off)) table.writeTable(off - tableOffset, size, value);
    }
}
