package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;

/**
 * One AHCI port (AHCI 1.3.1 §3.3) and the device on it: the port registers, the command list
 * engine and the received-FIS area.
 *
 * <p>Threads: register accesses come from vCPU threads and only change state; when the guest
 * issues commands (PxCI) the port hands one drain job to its {@link AhciIo}, which fetches each
 * command (header, FIS, PRDs) from guest memory, runs it on the drive and completes it under the
 * port's lock. Commands run one at a time, lowest slot first; an NCQ command is accepted (PxCI
 * cleared, BSY dropped) before it runs and completes with a Set Device Bits FIS. Clearing PxCMD.ST,
 * a COMRESET or an HBA reset bumps a generation number so that the completion of a command still
 * running then is dropped.
 *
 * <p>Guest mistakes (command list or table outside RAM, a FIS that is not a Register H2D command
 * FIS, PRDs outside RAM or short of the transfer, a busy NCQ tag reused, a tag that is not the
 * slot) fail that command with ERR/ABRT and PxIS.TFES; the port then stops processing the list
 * until the guest's error recovery (PxCMD.ST cleared and set again, with CLO or COMRESET as needed),
 * as AHCI §6.2.2 describes.
 */
final class AhciPort {
    // Register offsets within the port's 128 bytes.
    static final int CLB = 0x00, CLBU = 0x04, FB = 0x08, FBU = 0x0C, IS = 0x10, IE = 0x14, CMD = 0x18,
            TFD = 0x20, SIG = 0x24, SSTS = 0x28, SCTL = 0x2C, SERR = 0x30, SACT = 0x34, CI = 0x38, SNTF = 0x3C;

    // PxIS / PxIE bits.
    static final int IS_DHRS = 1, IS_PSS = 1 << 1, IS_DSS = 1 << 2, IS_SDBS = 1 << 3, IS_UFS = 1 << 4,
            IS_DPS = 1 << 5, IS_PCS = 1 << 6, IS_DMPS = 1 << 7, IS_PRCS = 1 << 22, IS_IPMS = 1 << 23,
            IS_OFS = 1 << 24, IS_INFS = 1 << 26, IS_IFS = 1 << 27, IS_HBDS = 1 << 28, IS_HBFS = 1 << 29,
            IS_TFES = 1 << 30, IS_CPDS = 1 << 31;
    /** Bits software clears by writing 1 (PCS and PRCS follow PxSERR instead). */
    static final int IS_W1C = 0xFDC0_00BF & ~IS_PCS;
    static final int IE_MASK = 0xFDC0_00FF;

    // PxCMD bits.
    static final int CMD_ST = 1, CMD_SUD = 1 << 1, CMD_POD = 1 << 2, CMD_CLO = 1 << 3, CMD_FRE = 1 << 4,
            CMD_CCS_SHIFT = 8, CMD_FR = 1 << 14, CMD_CR = 1 << 15, CMD_ATAPI = 1 << 24, CMD_DLAE = 1 << 25;
    /** What software may set (ICC is accepted and completes at once, so it reads 0). */
    static final int CMD_WRITABLE = CMD_ST | CMD_FRE | CMD_ATAPI | CMD_DLAE;

    /** PxSSTS with a device: DET 3 (present, Phy up), SPD 1 (Gen1), IPM 1 (active). */
    static final int SSTS_UP = 0x113;

    static final int HEADER_SIZE = 32;
    static final int TABLE_CFIS = 0x00, TABLE_ACMD = 0x40, TABLE_PRDT = 0x80;

    private final int index;
    private final GuestMemory memory;
    private final AhciIo io;
    private final AhciController.Irq irq;
    /** PCI command register bit 2: without bus mastering the HBA may not touch guest memory. */
    private final java.util.function.BooleanSupplier busMaster;
    private volatile AhciDrive drive;

    private long clb, fb;
    private int is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci, sntf;
    /** Slots issued and not yet fetched; NCQ tags accepted and not yet completed. */
    private int issued, ncqActive;
    /** Slots issued again while their NCQ tag was still in flight (the guest reused a busy tag). */
    private int reused;
    /** After a failed command: no further commands until ST is cleared (AHCI §6.2.2.1). */
    private boolean halted;
    private boolean running;
    private long generation;

    AhciPort(int index, GuestMemory memory, AhciIo io, AhciController.Irq irq, java.util.function.BooleanSupplier busMaster,
             AhciDrive drive) {
        this.index = index;
        this.busMaster = busMaster;
        this.memory = memory;
        this.io = io;
        this.irq = irq;
        this.drive = drive;
        synchronized (this) {
            powerOn();
        }
    }

    /**
     * Power-on state, as QEMU 7.2 shows it before the guest touches the HBA: link up if a device is
     * attached, but no signature yet (SIG all ones, TFD 7Fh) until the first FRE or COMRESET.
     */
    private void powerOn() {
        stopEngine();
        cmd = CMD_SUD | CMD_POD;
        ssts = drive != null ? SSTS_UP : 0;
        sig = 0xFFFF_FFFF;
        tfd = 0x7F;
    }

    AhciDrive drive() { return drive; }

    private static final System.Logger LOG = System.getLogger(AhciPort.class.getName());

    /** Where unexpected exceptions of command execution go (logged; the fuzz tests collect them as findings). */
    static volatile java.util.function.Consumer<RuntimeException> internalErrors =
            e -> LOG.log(System.Logger.Level.ERROR, "AHCI command failed inside the device model", e);

    // ---- registers ------------------------------------------------------------------------------

    synchronized int read(int reg) {
        return switch (reg) {
            case CLB -> (int) clb;
            case CLBU -> (int) (clb >>> 32);
            case FB -> (int) fb;
            case FBU -> (int) (fb >>> 32);
            case IS -> is;
            case IE -> ie;
            case CMD -> cmd;
            case TFD -> tfd;
            case SIG -> sig;
            case SSTS -> ssts;
            case SCTL -> sctl;
            case SERR -> serr;
            case SACT -> sact;
            case CI -> ci;
            case SNTF -> sntf;
            default -> 0; // FBS, vendor specific, reserved
        };
    }

    void write(int reg, int value) {
        boolean start;
        synchronized (this) {
            switch (reg) {
                case CLB -> clb = (clb & 0xFFFF_FFFF_0000_0000L) | (value & 0xFFFF_FC00L); // 1 KiB aligned
                case CLBU -> clb = (clb & 0xFFFF_FFFFL) | (long) value << 32;
                case FB -> fb = (fb & 0xFFFF_FFFF_0000_0000L) | (value & 0xFFFF_FF00L); // 256-byte aligned
                case FBU -> fb = (fb & 0xFFFF_FFFFL) | (long) value << 32;
                case IS -> {
                    is &= ~(value & IS_W1C);
                    updateIrq(0);
                }
                case IE -> {
                    ie = value & IE_MASK;
                    updateIrq(0);
                }
                case CMD -> writeCmd(value);
                case SCTL -> writeSctl(value);
                case SERR -> serr &= ~value;
                case SACT -> {
                    if ((cmd & CMD_ST) != 0) sact |= value;
                }
                case CI -> {
                    if ((cmd & CMD_ST) != 0) {
                        int fresh = value & ~ci;
                        ci |= fresh;
                        issued |= fresh;
                        reused |= fresh & ncqActive;
                    }
                }
                case SNTF -> sntf &= ~(value & 0xFFFF);
                default -> { } // read-only or reserved
            }
            start = wantsDrain();
        }
        if (start) io.submit(this::drain);
    }

    private void writeCmd(int value) {
        int old = cmd;
        cmd = (cmd & ~CMD_WRITABLE) | (value & CMD_WRITABLE);
        if ((value & CMD_CLO) != 0) tfd &= ~(AtaResult.BSY | AtaResult.DRQ); // command list override; CLO reads back 0 at once
        if ((cmd & CMD_FRE) != 0) cmd |= CMD_FR;
        else cmd &= ~CMD_FR;
        // The first FIS receive enable after a reset brings the device's D2H Register FIS (its signature),
        // as in QEMU 7.2: a driver that sets FRE and reads PxSIG without a COMRESET still finds the device.
        if ((old & CMD_FRE) == 0 && (cmd & CMD_FRE) != 0 && drive != null && sig == 0xFFFF_FFFF && ssts == SSTS_UP) announceDevice();
        if ((old & CMD_ST) != 0 && (cmd & CMD_ST) == 0) stopEngine();
        if ((old & CMD_ST) == 0 && (cmd & CMD_ST) != 0) {
            cmd |= CMD_CR;
            halted = false;
        }
    }

    /** ST cleared: the HBA drops every issued and outstanding command (PxCI, PxSACT cleared). */
    private void stopEngine() {
        cmd &= ~(CMD_CR | 0x1F << CMD_CCS_SHIFT);
        ci = 0;
        sact = 0;
        issued = 0;
        ncqActive = 0;
        reused = 0;
        halted = false;
        generation++;
    }

    private void writeSctl(int value) {
        int oldDet = sctl & 0xF;
        sctl = value & 0xFFF;
        int det = sctl & 0xF;
        if (det == 1 && oldDet != 1) { // COMRESET asserted: the link goes down
            stopEngine();
            cmd &= ~CMD_ST;
            ssts = 0;
            tfd = AtaResult.BSY; // the device is in reset until its D2H FIS after COMRESET is released
        } else if (det == 0 && oldDet == 1) {
            deviceReset(); // COMRESET released: the device comes back with its signature
        }
    }

    /**
     * GHC.HR: port registers to their reset values (CLB/FB kept, as AHCI §10.4.3 allows). As in QEMU
     * 7.2 the device shows no signature (SIG all ones, TFD 7Fh) until the guest sets PxCMD.FRE or
     * sends a COMRESET (Linux and SeaBIOS do both).
     */
    synchronized void hbaReset() {
        is = 0;
        ie = 0;
        sctl = 0;
        serr = 0;
        sntf = 0;
        powerOn();
        updateIrq(0);
    }

    /** The device after a reset: signature, status, Phy up; its D2H FIS goes to the FIS area if FRE is on. */
    private void deviceReset() {
        stopEngine();
        AhciDrive d = drive;
        if (d == null) {
            ssts = 0;
            sig = 0xFFFF_FFFF;
            tfd = 0x7F;
            return;
        }
        announceDevice();
    }

    /** The device's D2H Register FIS after a reset: signature, reset status, Phy up, PxIS.DHRS. */
    private void announceDevice() {
        AhciDrive d = drive;
        ssts = SSTS_UP;
        sig = d.signature();
        tfd = 0x0100 | d.resetStatus(); // error 01h: diagnostics passed
        int s = d.signature();
        postFis(Fis.RX_D2H, Fis.d2h(true, d.resetStatus(), 1, (s >>> 8) & 0xFF_FFFFL, 0, s & 0xFF));
        is |= IS_DHRS;
        updateIrq(IS_DHRS);
    }

    private boolean wantsDrain() {
        if (running || halted || issued == 0 || (cmd & CMD_ST) == 0) return false;
        running = true;
        return true;
    }

    // ---- command engine (runs in the AhciIo job) -------------------------------------------------

    private void drain() {
        while (true) {
            int slot;
            long gen;
            boolean reuse;
            synchronized (this) {
                if (halted || issued == 0 || (cmd & CMD_ST) == 0) {
                    running = false;
                    return;
                }
                slot = Integer.numberOfTrailingZeros(issued);
                issued &= ~(1 << slot);
                reuse = (reused & 1 << slot) != 0;
                reused &= ~(1 << slot);
                gen = generation;
                cmd = (cmd & ~(0x1F << CMD_CCS_SHIFT)) | slot << CMD_CCS_SHIFT;
            }
            try {
                runSlot(slot, gen, reuse);
            } catch (RuntimeException e) { // a bug, not the guest's doing: fail the command, keep the port
                internalErrors.accept(e);
                synchronized (this) {
                    if (gen == generation) finish(slot, false, AtaResult.abort(), 0, false);
                }
            }
        }
    }

    private void runSlot(int slot, long gen, boolean reuse) {
        long header;
        synchronized (this) {
            header = clb + (long) slot * HEADER_SIZE;
        }
        AtaCommand command = null;
        boolean ncq = false;
        AtaResult result;
        boolean hostBusFatal = false;
        try {
            if (!busMaster.getAsBoolean()) throw new CommandFault("bus mastering is disabled in the PCI command register", true);
            if (reuse) throw new CommandFault("slot " + slot + " issued while its NCQ tag was still in flight");
            if (!memory.isValid(header, HEADER_SIZE)) throw new CommandFault("command header outside RAM", true);
            int dw0 = memory.readU32(header);
            long ctba = (memory.readU32(header + 8) & 0xFFFF_FF80L) | (memory.readU32(header + 12) & 0xFFFF_FFFFL) << 32;
            int cfl = dw0 & 0x1F;
            int prdtl = dw0 >>> 16;
            if (!memory.isValid(ctba, TABLE_PRDT)) throw new CommandFault("command table outside RAM", true);
            byte[] cfis = new byte[64];
            memory.read(ctba + TABLE_CFIS, cfis, 0, 64);
            if ((cfis[0] & 0xFF) != Fis.TYPE_REG_H2D || (cfis[1] & 0x80) == 0 || cfl < 5) {
                throw new CommandFault("command FIS type 0x" + Integer.toHexString(cfis[0] & 0xFF) + ", length " + cfl + " dwords");
            }
            byte[] acmd = new byte[16];
            memory.read(ctba + TABLE_ACMD, acmd, 0, 16);
            command = AtaCommand.parse(cfis, acmd, (dw0 & 0x20) != 0, (dw0 & 0x40) != 0, slot);
            if (command.isNcq()) {
                accept(command, gen);
                ncq = true;
            } else if (ncqActiveNow() != 0) throw new CommandFault("non-queued command while NCQ commands are outstanding");
            AhciDrive d = drive;
            if (d == null) throw new CommandFault("no device");
            Prdt prdt = Prdt.load(memory, ctba + TABLE_PRDT, prdtl);
            result = d.execute(command, prdt);
            boolean dps = !result.failed() && prdt.interruptAfter(result.transferred());
            synchronized (this) {
                if (gen == generation) finish(slot, ncq, result, result.transferred(), dps);
            }
            return;
        } catch (CommandFault f) {
            hostBusFatal = f.hostBusFatal;
            result = AtaResult.abort();
        } catch (dev.vmm.memory.GuestMemoryException e) {
            hostBusFatal = true;
            result = AtaResult.abort();
        }
        synchronized (this) {
            if (gen != generation) return;
            if (hostBusFatal) is |= IS_HBFS;
            finish(slot, ncq, result, 0, false);
        }
    }

    private synchronized int ncqActiveNow() { return ncqActive; }

    /** An NCQ command passed to the device: checks its tag, clears PxCI and BSY (D2H FIS without interrupt). */
    private void accept(AtaCommand c, long gen) {
        synchronized (this) {
            int bit = 1 << c.slot();
            if (gen != generation) throw new CommandFault("stale");
            if (c.ncqTag() != c.slot()) throw new CommandFault("NCQ tag " + c.ncqTag() + " issued in slot " + c.slot());
            if ((ncqActive & bit) != 0) throw new CommandFault("NCQ tag " + c.slot() + " reused while busy");
            if ((sact & bit) == 0) throw new CommandFault("NCQ command in slot " + c.slot() + " without its PxSACT bit");
            ncqActive |= bit;
            ci &= ~bit;
            tfd = AtaResult.STATUS_OK; // 50h, error 0: what QEMU 7.2 shows while NCQ commands run
            postFis(Fis.RX_D2H, Fis.d2h(false, AtaResult.STATUS_OK, 0, 0, 0, 0));
        }
    }

    /** Completion (port lock held): PRDBC, the FIS, PxTFD, PxCI/PxSACT, interrupt status. */
    private void finish(int slot, boolean ncq, AtaResult r, long transferred, boolean dps) {
        int bit = 1 << slot;
        long header = clb + (long) slot * HEADER_SIZE;
        // PRDBC: not updated for NCQ commands (as QEMU 7.2; software cannot rely on it for queued commands).
        if (!ncq && busMaster.getAsBoolean() && memory.isValid(header, HEADER_SIZE)) memory.writeU32(header + 4, (int) transferred);
        int events = dps ? IS_DPS : 0;
        tfd = r.error() << 8 | r.status();
        if (ncq && (ncqActive & bit) != 0) {
            if (r.failed()) {
                postFis(Fis.RX_SDB, Fis.setDeviceBits(true, r.status(), r.error(), 0));
                events |= IS_TFES; // TFES alone, as QEMU 7.2 (the SDB FIS is still posted)
                halted = true;
            } else {
                postFis(Fis.RX_SDB, Fis.setDeviceBits(true, r.status(), 0, bit));
                ncqActive &= ~bit;
                sact &= ~bit;
                events |= IS_SDBS;
            }
        } else {
            if (r.protocol() == AtaResult.Protocol.PIO_IN && !r.failed()) {
                postFis(Fis.RX_PIO_SETUP, Fis.pioSetup(true, true, AtaResult.DRDY | AtaResult.DSC | AtaResult.DRQ, 0,
                        r.lba(), 0, r.count(), r.status(), (int) Math.min(transferred, 0xFFFF)));
                events |= IS_PSS;
            }
            postFis(Fis.RX_D2H, Fis.d2h(true, r.status(), r.error(), r.lba(), 0, r.count()));
            events |= IS_DHRS;
            if (r.failed()) {
                events |= IS_TFES;
                halted = true; // PxCI keeps the failed slot's bit until ST is cleared
            } else {
                ci &= ~bit;
            }
        }
        is |= events;
        updateIrq(events);
    }

    private void postFis(int offset, byte[] fis) {
        if ((cmd & CMD_FRE) == 0 || !busMaster.getAsBoolean()) return;
        long at = fb + offset;
        if (memory.isValid(at, fis.length)) memory.write(at, fis);
        else is |= IS_HBFS; // FIS area outside RAM: host bus fatal error
    }

    /** Tells the controller whether this port has an enabled interrupt pending; {@code events} are new PxIS bits. */
    private void updateIrq(int events) {
        irq.portChanged(index, (is & ie) != 0, (events & ie) != 0);
    }

    // ---- state ----------------------------------------------------------------------------------

    /** Port registers for snapshots; {@code ncqActive}: NCQ tags accepted and not completed (re-run on restore). */
    record State(long clb, long fb, int is, int ie, int cmd, int tfd, int sig, int ssts, int sctl, int serr,
                 int sact, int ci, int sntf, int ncqActive, boolean halted) { }

    /** Call with the port quiesced (no job running: vCPUs stopped and the I/O executor drained). */
    synchronized State save() {
        return new State(clb, fb, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci, sntf, ncqActive, halted);
    }

    /** Restores registers; commands that were issued or accepted run again from guest memory. */
    void restore(State s) {
        boolean start;
        synchronized (this) {
            generation++;
            clb = s.clb() & ~0x3FFL;
            fb = s.fb() & ~0xFFL;
            is = s.is();
            ie = s.ie() & IE_MASK;
            cmd = s.cmd();
            tfd = s.tfd();
            sig = s.sig();
            ssts = s.ssts();
            sctl = s.sctl() & 0xFFF;
            serr = s.serr();
            sact = s.sact();
            ci = s.ci();
            sntf = s.sntf();
            halted = s.halted();
            // An accepted NCQ command left PxCI; re-running it re-accepts it, so forget it here.
            ncqActive = 0;
            issued = (cmd & CMD_ST) != 0 ? ci | (s.ncqActive() & sact) : 0;
            ci |= issued;
            running = false;
            updateIrq(0);
            start = wantsDrain();
        }
        if (start) io.submit(this::drain);
    }

    /** Waits until no drain job is running (for tests and quiescing before a snapshot). */
    synchronized boolean busy() {
        return running;
    }
}
