package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;

import java.util.Objects;

/**
 * The host-to-PCI bridge: configuration mechanism #1 on ports 0xCF8/0xCFC, an ECAM window for
 * PCI Express style access, and the i440FX-like host bridge function at 00:00.0.
 *
 * <p>Mechanism #1: a dword write to 0xCF8 latches an address (bit 31 enable, bits 23:16 bus, 15:11
 * device, 10:8 function, 7:2 dword register); accesses of 1, 2 or 4 bytes at 0xCFC..0xCFF then reach
 * that register plus the port's offset. With the enable bit clear the data port reads all ones and
 * drops writes. Only dword accesses reach the address latch: narrower accesses to 0xCF8..0xCFB are
 * other chipset registers on real hardware (0xCF9 is the PIIX/ICH reset control register), so they
 * go to an optional {@linkplain #setNarrowAddressPortAccess handler} instead.
 *
 * <p>All config accesses are serialised on this object: the address latch is machine-wide state
 * and config space is a slow path.
 */
public final class PciHostBridge {
    public static final int CONFIG_ADDRESS_PORT = 0xCF8;
    public static final int CONFIG_DATA_PORT = 0xCFC;

    /** Intel 82441FX (i440FX) PMC: the host bridge QEMU's "pc" machine shows, known to every guest. */
    public static final int HOST_VENDOR_ID = 0x8086;
    public static final int HOST_DEVICE_ID = 0x1237;
    public static final int HOST_CLASS_CODE = 0x060000;

    private static final int ENABLE = 0x8000_0000;

    private final PciBus root;
    private final PciFunction hostFunction;
    private int configAddress;
    private volatile BusDevice narrowAddressPortAccess;

    private final BusDevice addressPort = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            if (offset == 0 && size == 4) {
                synchronized (PciHostBridge.this) { return configAddress & 0xFFFF_FFFFL; }
            }
            BusDevice other = narrowAddressPortAccess;
            return other != null ? other.read(offset, size) : allOnes(size);
        }

        @Override
        public void write(long offset, int size, long value) {
            if (offset == 0 && size == 4) {
                // Reserved bits 30:24 and the byte-offset bits 1:0 read back as zero.
                synchronized (PciHostBridge.this) { configAddress = (int) value & 0x80FF_FFFC; }
                return;
            }
            BusDevice other = narrowAddressPortAccess;
            if (other != null) other.write(offset, size, value);
        }
    };

    private final BusDevice dataPort = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            synchronized (PciHostBridge.this) {
                int a = configAddress;
                if ((a & ENABLE) == 0 || !validSize(size) || offset + size > 4) return allOnes(size);
                return configRead(a >>> 16 & 0xFF, a >>> 11 & 0x1F, a >>> 8 & 0x7, (a & 0xFC) + (int) offset, size) & 0xFFFF_FFFFL;
            }
        }

        @Override
        public void write(long offset, int size, long value) {
            synchronized (PciHostBridge.this) {
                int a = configAddress;
                if ((a & ENABLE) == 0 || !validSize(size) || offset + size > 4) return;
                configWrite(a >>> 16 & 0xFF, a >>> 11 & 0x1F, a >>> 8 & 0x7, (a & 0xFC) + (int) offset, size, (int) value);
            }
        }
    };

    /** Creates the host bridge over {@code root} and attaches its host function at 00:00.0. */
    public PciHostBridge(PciBus root) {
        this(root, new HostFunction());
    }

    /**
     * Creates the host bridge over {@code root} with {@code hostDevice} as its function at 00:00.0
     * (a chipset's own host function, e.g. the Q35 MCH or an i440FX PMC with PAM registers).
     */
    public PciHostBridge(PciBus root, PciDevice hostDevice) {
        this.root = Objects.requireNonNull(root);
        if (!root.isRoot()) throw new IllegalArgumentException("the host bridge sits on a root bus");
        this.hostFunction = root.attach(0, 0, Objects.requireNonNull(hostDevice));
    }

    public PciBus rootBus() { return root; }

    /** The host bridge's own function (00:00.0). */
    public PciFunction hostFunction() { return hostFunction; }

    /** The 4-byte device for port 0xCF8 (the address latch). */
    public BusDevice configAddressPort() { return addressPort; }

    /** The 4-byte device for ports 0xCFC..0xCFF (the data window). */
    public BusDevice configDataPort() { return dataPort; }

    /** Registers both ports on the machine's port I/O bus. */
    public void registerPorts(Bus pio) {
        pio.register(CONFIG_ADDRESS_PORT, 4, addressPort);
        pio.register(CONFIG_DATA_PORT, 4, dataPort);
    }

    /** Where byte/word accesses to 0xCF8..0xCFB go (e.g. a reset control register at offset 1 = 0xCF9). */
    public void setNarrowAddressPortAccess(BusDevice device) {
        this.narrowAddressPortAccess = device;
    }

    /** An ECAM (MMCONFIG) window for buses 0..{@code busCount - 1}; register it at its base on the MMIO bus. */
    public PciEcam ecam(int busCount) {
        return new PciEcam(this, busCount);
    }

    /**
     * A decoded config read: all ones (size-wide) when no function answers. {@code register} may be
     * up to 4095 (ECAM); a conventional function reads 0 past 255.
     */
    public synchronized int configRead(int bus, int device, int function, int register, int size) {
        PciFunction f = root.route(bus, device, function);
        if (f == null) return (int) allOnes(size);
        return f.device().configRead(register, size);
    }

    /** A decoded config write; dropped when no function answers. */
    public synchronized void configWrite(int bus, int device, int function, int register, int size, int value) {
        PciFunction f = root.route(bus, device, function);
        if (f != null) f.device().configWrite(register, size, value);
    }

    static boolean validSize(int size) {
        return size == 1 || size == 2 || size == 4;
    }

    static long allOnes(int size) {
        return size >= 8 ? -1L : (1L << (size * 8)) - 1;
    }

    /** 00:00.0: identity only. Memory decode is on, as a host bridge's always is. */
    private static final class HostFunction extends BarlessFunction {
        HostFunction() {
            super(PciConfigSpace.endpoint(HOST_VENDOR_ID, HOST_DEVICE_ID, HOST_CLASS_CODE, 0x02), "i440fx-host");
            config.setWord(PciConfigSpace.COMMAND, PciConfigSpace.COMMAND_MEMORY);
            config.setWritable(PciConfigSpace.COMMAND, 2, 0);
        }
    }
}
