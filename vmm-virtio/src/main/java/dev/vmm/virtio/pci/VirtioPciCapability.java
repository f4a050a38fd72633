package dev.vmm.virtio.pci;

/**
 * The vendor-specific PCI capabilities (id 0x09) through which a modern virtio driver finds the
 * transport's structures (virtio 1.x §4.1.4):
 *
 * <pre>
 * +0  cap_vndr 0x09      +1  cap_next        +2  cap_len      +3  cfg_type
 * +4  bar                +5  id              +6  padding[2]
 * +8  offset (le32)      +12 length (le32)
 * +16 notify_off_multiplier (le32, NOTIFY only) / pci_cfg_data[4] (PCI_CFG only)
 * </pre>
 *
 * {@link dev.vmm.chipset.pci.PciConfigSpace#addCapability} writes the first two bytes; the methods
 * here build the body that follows them.
 */
public final class VirtioPciCapability {
    private VirtioPciCapability() { }

    public static final int VENDOR_SPECIFIC_ID = 0x09;

    /** The structure a capability points at ({@code cfg_type}). */
    public enum CfgType {
        COMMON, NOTIFY, ISR, DEVICE, PCI;

        /** The {@code cfg_type} value: 1 (common) to 5 (PCI configuration access). */
        public int code() { return ordinal() + 1; }
    }

    /** Offsets from the capability start. */
    public static final int CAP_LEN = 2;
    public static final int CFG_TYPE = 3;
    public static final int BAR = 4;
    public static final int OFFSET = 8;
    public static final int LENGTH = 12;
    public static final int NOTIFY_OFF_MULTIPLIER = 16;
    public static final int PCI_CFG_DATA = 16;

    /** Body (after id/next) of a 16-byte capability pointing at {@code length} bytes at {@code offset} of {@code bar}. */
    static byte[] body(CfgType cfgType, int bar, long offset, long length) {
        return body(cfgType, bar, offset, length, 16);
    }

    /** Body of the 20-byte NOTIFY capability. */
    static byte[] notifyBody(int bar, long offset, long length, int multiplier) {
        byte[] b = body(CfgType.NOTIFY, bar, offset, length, 20);
        putLe32(b, NOTIFY_OFF_MULTIPLIER - 2, multiplier);
        return b;
    }

    /** Body of the 20-byte PCI_CFG capability: bar/offset/length start at 0 for the driver to fill. */
    static byte[] pciCfgBody() {
        return body(CfgType.PCI, 0, 0, 0, 20);
    }

    /** Write mask of the PCI_CFG body: the driver programs bar, offset, length and data. */
    static byte[] pciCfgWriteMask() {
        byte[] m = new byte[18];
        m[BAR - 2] = (byte) 0xFF;
        for (int i = 0; i < 4; i++) {
            m[OFFSET - 2 + i] = (byte) 0xFF;
            m[LENGTH - 2 + i] = (byte) 0xFF;
            m[PCI_CFG_DATA - 2 + i] = (byte) 0xFF;
        }
        return m;
    }

    private static byte[] body(CfgType cfgType, int bar, long offset, long length, int capLen) {
        byte[] b = new byte[capLen - 2];
        b[CAP_LEN - 2] = (byte) capLen;
        b[CFG_TYPE - 2] = (byte) cfgType.code();
        b[BAR - 2] = (byte) bar;
        putLe32(b, OFFSET - 2, (int) offset);
        putLe32(b, LENGTH - 2, (int) length);
        return b;
    }

    private static void putLe32(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) b[at + i] = (byte) (v >>> (8 * i));
    }
}
