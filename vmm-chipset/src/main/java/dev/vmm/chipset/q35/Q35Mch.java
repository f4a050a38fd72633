package dev.vmm.chipset.q35;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.BarlessFunction;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciEcam;
import dev.vmm.chipset.pci.PciHostBridge;
import java.lang.System.Logger.Level;
import java.util.Objects;

/**
 * The Q35 memory controller hub's host bridge function (Intel 82G33/P35 MCH, 8086:29c0, class
 * 0x0600) at 00:00.0, with the registers firmware programs:
 *
 * <ul>
 *   <li><b>PCIEXBAR</b> (0x60, 64-bit): bit 0 enable, bits 2:1 length (00 = 256 buses / 256 MiB,
 *       01 = 128, 10 = 64, 11 reserved = off), base in bits 35:28 (35:27, 35:26 for the smaller
 *       lengths). While enabled the ECAM window ({@link PciEcam}) is registered on the MMIO bus at
 *       the base; it moves or goes away on every change. Power-on value 0xB0000000, disabled, which
 *       SeaBIOS then enables; {@link #enableEcam} does the same for firmware-less boot.</li>
 *   <li><b>PAM0-6</b> (0x90-0x96): {@link PamRegisters}.</li>
 *   <li><b>SMRAM</b> (0x9D, power-on 0x02: compatible SMRAM at 0xA0000, closed) and ESMRAMC
 *       (0x9E, 0x38) store what the guest writes, as QEMU's q35 with {@code smm=off} does, but
 *       <b>there is no SMM</b>: SMRAM never opens, no TSEG, 0xA0000 stays the VGA/MMIO hole.</li>
 *   <li><b>TOLUD</b> (0xB0, 16-bit): top of low usable DRAM, bits 15:4 = address bits 31:20;
 *       firmware-readable, writable as on hardware.</li>
 * </ul>
 *
 * Created with {@link #attach}, which also creates the {@link PciHostBridge} (0xCF8/0xCFC) whose
 * function 00:00.0 this is.
 */
public final class Q35Mch extends BarlessFunction {
    public static final int VENDOR_ID = 0x8086, DEVICE_ID = 0x29c0, CLASS_CODE = 0x060000;
    public static final int PCIEXBAR = 0x60, PAM0 = 0x90, SMRAM = 0x9d, ESMRAMC = 0x9e, TOLUD = 0xb0;
    public static final long DEFAULT_ECAM_BASE = 0xB000_0000L;
    public static final int PCIEXBAR_ENABLE = 1;
    public static final int SMRAM_DEFAULT = 0x02;
    public static final int SMRAM_D_OPEN = 0x40, SMRAM_D_LCK = 0x10;
    /** SM_CACHE, SM_L1, SM_L2 read as 1 (the power-on value QEMU shows too). */
    public static final int ESMRAMC_DEFAULT = 0x38;

    private static final System.Logger LOG = System.getLogger(Q35Mch.class.getName());

    /** Told when the ECAM window moves; {@code -1} base = not mapped. */
    @FunctionalInterface
    public interface EcamListener {
        void ecamChanged(long oldBase, long oldSize, long newBase, long newSize);
    }

    private final PamRegisters pam = new PamRegisters();
    private final Bus mmio;
    private PciHostBridge host;
    private volatile EcamListener ecamListener = (a, b, c, d) -> { };
    private long ecamBase = -1, ecamSize;
    private PciEcam ecam;

    private Q35Mch(Bus mmio, long ramBelow4g) {
        super(PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, 0), "q35-mch");
        this.mmio = Objects.requireNonNull(mmio);
        config.setSubsystem(0x1af4, 0x1100);
        config.setWord(PciConfigSpace.COMMAND, PciConfigSpace.COMMAND_MEMORY);
        config.setWritable(PciConfigSpace.COMMAND, 2, 0);
        // As QEMU's MCH, the device-specific area 0x40-0xFF is plain storage except the registers below.
        for (int off = 0x40; off < 0x100; off += 4) config.setWritable(off, 4, 0xFFFF_FFFF);
        config.setDword(PCIEXBAR, (int) DEFAULT_ECAM_BASE);
        config.setWritable(PCIEXBAR, 4, 0xFC00_0007);          // base bits 31:26, length, enable
        config.setWritable(PCIEXBAR + 4, 4, 0x0000_000F);      // base bits 35:32
        config.addWriteListener(PCIEXBAR, 8, (o, s) -> updateEcam());
        // PAM bytes store all bits, as QEMU's do; only bits 5:4 and 1:0 decode.
        for (int i = 0; i < PamRegisters.COUNT; i++) config.setWritable(PAM0 + i, 1, 0xFF);
        config.addWriteListener(PAM0, PamRegisters.COUNT, (o, s) -> {
            for (int i = 0; i < PamRegisters.COUNT; i++) pam.write(i, config.read(PAM0 + i, 1));
        });
        // SMRAM/ESMRAMC hold what the guest writes (as QEMU's q35 with smm=off) but never open
        // anything: there is no SMM, 0xA0000 stays the legacy VGA/MMIO hole and no TSEG exists.
        config.setByte(SMRAM, SMRAM_DEFAULT);
        config.setWritable(SMRAM, 1, 0x78);                    // D_OPEN, D_CLS, D_LCK, G_SMRAME: stored only
        config.addWriteListener(SMRAM, 1, (o, sz) -> {
            // D_LCK: D_OPEN reads 0 and the register is frozen, as the MCH spec and QEMU have it.
            if ((config.read(SMRAM, 1) & SMRAM_D_LCK) != 0) {
                config.updateBits(SMRAM, 1, SMRAM_D_OPEN, false);
                config.setWritable(SMRAM, 1, 0);
            }
        });
        config.setByte(ESMRAMC, ESMRAMC_DEFAULT);
        config.setWritable(ESMRAMC, 1, 0x87);                  // H_SMRAME, TSEG size, T_EN: stored only
        config.setWord(TOLUD, (int) (Math.min(ramBelow4g, 0xFFF0_0000L) >>> 16) & 0xFFF0);
        config.setWritable(TOLUD, 2, 0xFFFF);
    }

    /**
     * Creates the MCH, attaches it at 00:00.0 of {@code root} through a new {@link PciHostBridge}
     * (register its ports with {@code host().registerPorts(pio)}), and maps ECAM on {@code mmio}
     * whenever PCIEXBAR enables it.
     */
    public static Q35Mch attach(PciBus root, Bus mmio, long ramBelow4g) {
        Q35Mch mch = new Q35Mch(mmio, ramBelow4g);
        mch.host = new PciHostBridge(root, mch);
        return mch;
    }

    public PciHostBridge host() { return host; }

    public PamRegisters pam() { return pam; }

    public void setEcamListener(EcamListener l) {
        this.ecamListener = Objects.requireNonNull(l);
    }

    /** Device-side PCIEXBAR programming (what SeaBIOS does), for firmware-less boot: 256 buses at {@code base}. */
    public void enableEcam(long base) {
        if ((base & 0x0FFF_FFFFL) != 0 || base <= 0 || base >= 1L << 36) throw new IllegalArgumentException("ECAM base must be 256 MiB aligned below 64 GiB");
        config.setDword(PCIEXBAR + 4, (int) (base >>> 32));
        config.setDword(PCIEXBAR, (int) base | PCIEXBAR_ENABLE);
        updateEcam();
    }

    /** Where ECAM decodes now, or -1. */
    public synchronized long ecamBase() { return ecamBase; }

    public synchronized long ecamSize() { return ecamSize; }

    private void updateEcam() {
        long v = (config.read(PCIEXBAR, 4) & 0xFFFF_FFFFL) | ((long) config.read(PCIEXBAR + 4, 4) << 32);
        long newBase = -1, newSize = 0;
        int length = (int) (v >>> 1) & 3;
        if ((v & PCIEXBAR_ENABLE) != 0 && length != 3) {
            int buses = 256 >> length;                         // 256, 128, 64
            newSize = (long) buses << 20;
            long mask = (0xF_FFFF_FFFFL & -newSize);            // bits 35:28 / 35:27 / 35:26
            newBase = v & mask;
        }
        long oldBase, oldSize;
        synchronized (this) {
            if (newBase == ecamBase && newSize == ecamSize) return;
            oldBase = ecamBase;
            oldSize = ecamSize;
            if (ecam != null) mmio.unregister(ecamBase, ecam);
            ecam = null;
            ecamBase = -1;
            ecamSize = 0;
            if (newBase >= 0) {
                PciEcam e = host.ecam((int) (newSize >>> 20));
                try {
                    mmio.register(newBase, newSize, e);
                    ecam = e;
                    ecamBase = newBase;
                    ecamSize = newSize;
                } catch (IllegalArgumentException clash) {
                    LOG.log(Level.WARNING, "PCIEXBAR: ECAM at 0x{0} overlaps another MMIO range; left unmapped ({1})",
                            Long.toHexString(newBase), clash.getMessage());
                }
            }
        }
        ecamListener.ecamChanged(oldBase, oldSize, ecamBase(), ecamSize());
    }
}
