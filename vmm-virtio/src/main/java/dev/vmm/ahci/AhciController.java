package dev.vmm.ahci;

import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.memory.GuestMemory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The ICH9 AHCI controller (PCI 8086:2922, class 01/06/01) with six ports: the HBA registers of
 * AHCI 1.3.1 §3.1 in the ABAR (BAR5, 4 KiB), the ICH9 index/data pair (BAR4, I/O), a 64-bit
 * single-vector MSI capability and INTA#. Ports and their command engines are {@link AhciPort}s;
 * drives are {@link AtaDisk}s and {@link AtapiCdrom}s.
 *
 * <p>Register values follow QEMU 7.2's ICH9 AHCI where it has them (checked against QEMU at test
 * time by {@code AhciQemuRegisterTest}): AHCI version 1.0 (0x00010000), 32 command slots, NCQ,
 * 64-bit addressing, AHCI-only (GHC.AE reads 1), Gen1 speed, no CAP2, no command completion
 * coalescing, no enclosure management. One difference: CAP.SCLO is set, since PxCMD.CLO is
 * implemented (QEMU clears BSY by itself and does not offer it).
 *
 * <p>Interrupts: HBA IS holds the ports whose PxIS &amp; PxIE is non-zero (recomputed, so a
 * port whose status is still pending cannot be lost by a write to IS). With GHC.IE, INTx follows
 * that level; with MSI enabled, a message goes out for every new enabled event and on each rising
 * edge. No access here blocks or does I/O.
 */
public final class AhciController implements PciDevice {
    public static final int VENDOR_ID = 0x8086;
    public static final int DEVICE_ID = 0x2922;
    public static final int CLASS_CODE = 0x010601; // mass storage, SATA, AHCI 1.0 programming interface
    public static final int REVISION = 0x02;
    public static final int PORTS = 6;
    public static final int ABAR = 5;
    public static final int ABAR_SIZE = 0x1000;
    public static final int IDP_BAR = 4;
    public static final int IDP_SIZE = 0x20;
    /** Index and data registers of the index/data pair inside BAR4 (ICH9 SIDPBA). */
    static final int IDP_INDEX = 0x10, IDP_DATA = 0x14;

    // HBA register offsets.
    static final int CAP = 0x00, GHC = 0x04, IS = 0x08, PI = 0x0C, VS = 0x10, CCC_CTL = 0x14, CCC_PORTS = 0x18,
            EM_LOC = 0x1C, EM_CTL = 0x20, CAP2 = 0x24, BOHC = 0x28;
    static final int PORT_BASE = 0x100, PORT_SIZE = 0x80;

    static final int GHC_HR = 1, GHC_IE = 1 << 1, GHC_AE = 1 << 31;
    static final int CAP_VALUE = 1 << 31 /* S64A */ | 1 << 30 /* SNCQ */ | 1 << 24 /* SCLO */ | 1 << 20 /* ISS Gen1 */
            | 1 << 18 /* SAM: AHCI only */ | 31 << 8 /* 32 slots */ | (PORTS - 1);
    static final int VERSION = 0x0001_0000;

    /** How a port reports its interrupt state. */
    interface Irq {
        void portChanged(int port, boolean pending, boolean newEvent);
    }

    private final PciConfigSpace config;
    private final MsiSink msi;
    private final int msiCap;
    private final AhciPort[] ports = new AhciPort[PORTS];
    private volatile PciFunction function;
    private volatile int idpIndex;

    private final Object irqLock = new Object();
    private int ghc = GHC_AE;
    private int pendingPorts;
    private boolean level;

    /**
     * @param drives up to {@link #PORTS} drives, port by port; null entries are empty ports
     */
    public AhciController(GuestMemory memory, AhciIo io, MsiSink msi, List<? extends AhciDrive> drives) {
        if (drives.size() > PORTS) throw new IllegalArgumentException("ICH9 AHCI has " + PORTS + " ports, not " + drives.size());
        this.msi = msi;
        config = PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, REVISION);
        config.setSubsystem(0x1AF4, 0x1100); // QEMU's default subsystem ids, as QEMU 7.2's ich9-ahci shows them
        config.setInterruptPin(1);
        config.addBar(IDP_BAR, PciBar.io(IDP_SIZE));
        config.addBar(ABAR, PciBar.memory32(ABAR_SIZE, false));
        // MSI (05h): message control (64-bit capable, one vector), address, upper address, data.
        byte[] body = new byte[12];
        body[0] = (byte) 0x80;
        byte[] mask = {0x71, 0, (byte) 0xFC, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
                (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF};
        msiCap = config.addCapability(0x05, body, mask);
        // Serial ATA capability (12h): revision 1.0; the index/data pair is in BAR4 (BARLOC 8) at dword 4 (0x10).
        config.addCapability(0x12, new byte[] {0x10, 0x00, 0x48, 0x00, 0x00, 0x00}, null);
        config.setByte(0x90, 0x40); // ICH9 MAP register: AHCI mode
        config.addWriteListener(msiCap + 2, 2, (o, s) -> refreshInterrupt(false));
        config.addWriteListener(PciConfigSpace.COMMAND, 2, (o, s) -> refreshInterrupt(false));
        for (int i = 0; i < PORTS; i++) {
            ports[i] = new AhciPort(i, memory, io, (p, pending, event) -> portChanged(p, pending, event),
                    () -> (config.command() & PciConfigSpace.COMMAND_BUS_MASTER) != 0, i < drives.size() ? drives.get(i) : null);
        }
    }

    @Override public PciConfigSpace configSpace() { return config; }

    @Override public void attached(PciFunction f) { this.function = f; }

    @Override public String name() { return "ich9-ahci"; }

    /** The drive on {@code port}, or null. */
    public AhciDrive drive(int port) { return ports[port].drive(); }

    // ---- BARs -----------------------------------------------------------------------------------

    @Override
    public long barRead(int bar, long offset, int size) {
        if (bar == IDP_BAR) {
            if (offset == IDP_INDEX && size == 4) return idpIndex & 0xFFFF_FFFFL;
            if (offset == IDP_DATA && size == 4) return readRegister(idpIndex & (ABAR_SIZE - 4)) & 0xFFFF_FFFFL;
            return 0;
        }
        if (bar != ABAR || offset < 0 || offset >= ABAR_SIZE) return 0;
        if (size == 8) {
            return (readRegister((int) offset) & 0xFFFF_FFFFL) | (long) readRegister((int) offset + 4) << 32;
        }
        int dword = readRegister((int) offset & ~3);
        int shift = (int) (offset & 3) * 8;
        long v = (dword & 0xFFFF_FFFFL) >>> shift;
        return size == 4 ? v : v & ((1L << (size * 8)) - 1);
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        if (bar == IDP_BAR) {
            if (offset == IDP_INDEX && size == 4) idpIndex = (int) value;
            else if (offset == IDP_DATA && size == 4) writeRegister(idpIndex & (ABAR_SIZE - 4), (int) value);
            return;
        }
        if (bar != ABAR || offset < 0 || offset >= ABAR_SIZE || (offset & 3) != 0) return;
        if (size == 4) {
            writeRegister((int) offset, (int) value);
        } else if (size == 8) {
            writeRegister((int) offset, (int) value);
            writeRegister((int) offset + 4, (int) (value >>> 32));
        } // narrower writes to these dword registers are dropped
    }

    int readRegister(int offset) {
        if (offset >= PORT_BASE) {
            int p = (offset - PORT_BASE) / PORT_SIZE;
            return p < PORTS ? ports[p].read((offset - PORT_BASE) % PORT_SIZE) : 0;
        }
        return switch (offset) {
            case CAP -> CAP_VALUE;
            case GHC -> { synchronized (irqLock) { yield ghc; } }
            case IS -> { synchronized (irqLock) { yield pendingPorts; } }
            case PI -> (1 << PORTS) - 1;
            case VS -> VERSION;
            default -> 0; // CCC_CTL, CCC_PORTS, EM_LOC, EM_CTL, CAP2, BOHC: not implemented, read 0
        };
    }

    void writeRegister(int offset, int value) {
        if (offset >= PORT_BASE) {
            int p = (offset - PORT_BASE) / PORT_SIZE;
            if (p < PORTS) ports[p].write((offset - PORT_BASE) % PORT_SIZE, value);
            return;
        }
        switch (offset) {
            case GHC -> {
                if ((value & GHC_HR) != 0) {
                    reset();
                } else {
                    synchronized (irqLock) {
                        ghc = GHC_AE | (value & GHC_IE);
                    }
                    refreshInterrupt(false);
                }
            }
            case IS -> refreshInterrupt(false); // ports' pending levels decide; nothing to clear on its own
            default -> { } // read-only or not implemented
        }
    }

    /** GHC.HR: every port back to its reset state (devices COMRESET), GHC.IE cleared; HR reads 0 once done. */
    public void reset() {
        synchronized (irqLock) {
            ghc = GHC_AE;
        }
        for (AhciPort p : ports) p.hbaReset();
        refreshInterrupt(false);
    }

    // ---- interrupts -----------------------------------------------------------------------------

    private void portChanged(int port, boolean pending, boolean event) {
        synchronized (irqLock) {
            if (pending) pendingPorts |= 1 << port;
            else pendingPorts &= ~(1 << port);
        }
        refreshInterrupt(event);
    }

    private boolean msiEnabled() {
        return (config.read(msiCap + 2, 2) & 1) != 0;
    }

    /**
     * Recomputes the interrupt output. The line/message is driven under {@code irqLock} so that two
     * ports completing on different threads cannot leave INTx at a stale level (lock order: port →
     * irqLock → config space / PCI function; neither calls back into the controller).
     */
    private void refreshInterrupt(boolean event) {
        synchronized (irqLock) {
            boolean useMsi = msiEnabled();
            boolean now = (ghc & GHC_IE) != 0 && pendingPorts != 0;
            boolean send = useMsi && now && (event || !level);
            level = now;
            PciFunction f = function;
            if (f != null) f.intx().set(now && !useMsi);
            if (send) {
                long address = (config.read(msiCap + 4, 4) & 0xFFFF_FFFFL) | (long) config.read(msiCap + 8, 4) << 32;
                msi.signal(0, address, config.read(msiCap + 12, 2));
            }
        }
    }

    /** Whether INTA# is asserted by the controller (before the PCI command register's disable bit). */
    public boolean interruptLevel() {
        synchronized (irqLock) {
            return level && !msiEnabled();
        }
    }

    // ---- state ----------------------------------------------------------------------------------

    /** Whether any port still runs a command job (quiesce before {@link #save()}). */
    public boolean busy() {
        for (AhciPort p : ports) if (p.busy()) return true;
        return false;
    }

    /** The controller's state; call with vCPUs stopped and {@link #busy()} false. */
    public AhciState save() {
        List<AhciState.Port> out = new ArrayList<>();
        for (AhciPort p : ports) {
            AhciPort.State s = p.save();
            AhciDrive d = p.drive();
            out.add(new AhciState.Port(s.clb(), s.fb(), s.is(), s.ie(), s.cmd(), s.tfd(), s.sig(), s.ssts(), s.sctl(),
                    s.serr(), s.sact(), s.ci(), s.sntf(), s.ncqActive(), s.halted(),
                    d instanceof AtaDisk disk ? disk.save() : null, d instanceof AtapiCdrom cd ? cd.save() : null));
        }
        int g;
        synchronized (irqLock) {
            g = ghc;
        }
        return new AhciState(config.saveBytes(), g, out);
    }

    /**
     * Restores a saved state into this (freshly built, same drives) controller: config space,
     * registers, drive state; commands that were in flight run again. Refuses a state of another
     * shape with {@link IllegalArgumentException}.
     */
    public void restore(AhciState s) {
        if (s.ports().size() != PORTS) throw new IllegalArgumentException("saved AHCI state has " + s.ports().size() + " ports");
        config.restoreBytes(s.pciConfig());
        PciFunction f = function;
        if (f != null) f.refreshBars();
        synchronized (irqLock) {
            ghc = GHC_AE | (s.ghc() & GHC_IE);
        }
        for (int i = 0; i < PORTS; i++) {
            AhciState.Port p = s.ports().get(i);
            AhciDrive d = ports[i].drive();
            if (d instanceof AtaDisk disk && p.disk() != null) disk.restore(p.disk());
            if (d instanceof AtapiCdrom cd && p.cdrom() != null) cd.restore(p.cdrom());
            ports[i].restore(new AhciPort.State(p.clb(), p.fb(), p.is(), p.ie(), p.cmd(), p.tfd(), p.sig(), p.ssts(),
                    p.sctl(), p.serr(), p.sact(), p.ci(), p.sntf(), p.ncqActive(), p.halted()));
        }
        refreshInterrupt(false);
    }

    @Override
    public String toString() {
        return "AhciController" + Arrays.toString(Arrays.stream(ports).map(p -> p.drive() == null ? "-" : p.drive().kind()).toArray());
    }
}
