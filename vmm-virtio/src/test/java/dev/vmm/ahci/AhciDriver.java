package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * A guest's AHCI driver in Java, doing what Linux's ahci driver does through the ABAR and guest
 * RAM only: HBA reset, AE/IE, per port CLB/FB, FRE, wait for the link and the signature, ST; then
 * command headers, command tables with an H2D Register FIS (and ACMD), PRD tables, PxCI / PxSACT;
 * error recovery by clearing ST (with CLO or COMRESET). Every wait is a condition with a deadline.
 */
final class AhciDriver {
    static final int MAX_PRDS = 64;
    static final int TABLE_SIZE = 0x80 + 16 * MAX_PRDS;

    AhciController hba; // replaced by the state test with a restored controller over the same RAM
    final GuestMemory mem;
    private final long ramEnd;
    private long next;

    AhciDriver(AhciController hba, GuestMemory mem, long allocBase, long ramEnd) {
        this.hba = hba;
        this.mem = mem;
        this.next = allocBase;
        this.ramEnd = ramEnd;
    }

    /** Guest RAM from a bump allocator, zeroed. */
    long alloc(long size, long align) {
        long a = (next + align - 1) & -align;
        if (a + size > ramEnd) throw new IllegalStateException("test RAM exhausted");
        next = a + size;
        mem.slice(a, size).fill((byte) 0);
        return a;
    }

    int reg(int off) { return (int) hba.barRead(AhciController.ABAR, off, 4); }

    void reg(int off, int v) { hba.barWrite(AhciController.ABAR, off, 4, v & 0xFFFF_FFFFL); }

    static final long PATIENCE_NANOS = 10_000_000_000L;

    /**
     * How long {@link #await} waits: 0 over a controller that runs commands inline (the condition
     * holds when the register write returns, or never: a broken model fails the test at once instead
     * of spinning into PIT's timeout), {@link #PATIENCE_NANOS} when an I/O thread completes them.
     */
    long patienceNanos;

    static void waitFor(String what, BooleanSupplier cond) {
        waitFor(what, cond, PATIENCE_NANOS);
    }

    static void waitFor(String what, BooleanSupplier cond, long patienceNanos) {
        long deadline = System.nanoTime() + patienceNanos;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) throw new AssertionError("timed out waiting for " + what);
            LockSupport.parkNanos(20_000);
        }
    }

    void await(String what, BooleanSupplier cond) {
        waitFor(what, cond, patienceNanos);
    }

    /** pci_enable_device + pci_set_master, then HBA reset and AHCI enable (ahci_reset_controller, ahci_init_controller). */
    void resetHba() {
        int command = hba.configRead(dev.vmm.chipset.pci.PciConfigSpace.COMMAND, 2);
        hba.configWrite(dev.vmm.chipset.pci.PciConfigSpace.COMMAND, 2, command
                | dev.vmm.chipset.pci.PciConfigSpace.COMMAND_MEMORY | dev.vmm.chipset.pci.PciConfigSpace.COMMAND_BUS_MASTER);
        reg(AhciController.GHC, AhciController.GHC_AE);
        reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_HR);
        await("HBA reset", () -> (reg(AhciController.GHC) & AhciController.GHC_HR) == 0);
        reg(AhciController.GHC, AhciController.GHC_AE);
    }

    void enableInterrupts() {
        reg(AhciController.GHC, AhciController.GHC_AE | AhciController.GHC_IE);
    }

    Port port(int index) {
        return new Port(index);
    }

    /** One command: the FIS, an optional ATAPI packet, PRDs (address, bytes, interrupt bit). */
    record Cmd(byte[] fis, byte[] acmd, long[][] prds, boolean write, boolean atapi) {
        static Cmd of(byte[] fis, boolean write, long[]... prds) { return new Cmd(fis, null, prds, write, false); }

        static Cmd packet(byte[] cdb, long[]... prds) {
            byte[] fis = h2d(AtaCommand.PACKET, 0, 0, 0x01 /* DMA */, 0);
            return new Cmd(fis, cdb, prds, false, true);
        }
    }

    /** What the guest sees after a command. */
    record Result(int tfd, int is, int prdbc, byte[] d2h, byte[] pio, byte[] sdb) {
        int status() { return tfd & 0xFF; }
        int error() { return tfd >>> 8 & 0xFF; }
        boolean failed() { return (is & AhciPort.IS_TFES) != 0; }
    }

    /** H2D Register FIS with the C bit: 48-bit LBA and count, features, device. */
    static byte[] h2d(int command, long lba, int count, int features, int device) {
        byte[] f = new byte[20];
        f[0] = 0x27;
        f[1] = (byte) 0x80;
        f[2] = (byte) command;
        f[3] = (byte) features;
        f[4] = (byte) lba;
        f[5] = (byte) (lba >> 8);
        f[6] = (byte) (lba >> 16);
        f[7] = (byte) device;
        f[8] = (byte) (lba >> 24);
        f[9] = (byte) (lba >> 32);
        f[10] = (byte) (lba >> 40);
        f[11] = (byte) (features >> 8);
        f[12] = (byte) count;
        f[13] = (byte) (count >> 8);
        return f;
    }

    final class Port {
        final int index;
        final long clb, fb;
        final long[] tables = new long[32];
        int signature;

        Port(int index) {
            this.index = index;
            clb = alloc(1024, 1024);
            fb = alloc(256, 256);
            for (int i = 0; i < 32; i++) tables[i] = alloc(TABLE_SIZE, 128);
        }

        int reg(int off) { return AhciDriver.this.reg(AhciController.PORT_BASE + AhciController.PORT_SIZE * index + off); }

        void reg(int off, int v) { AhciDriver.this.reg(AhciController.PORT_BASE + AhciController.PORT_SIZE * index + off, v); }

        /** ahci_port_start, a hardreset (COMRESET through PxSCTL, as libata's EH does), ahci_start_engine. */
        void start() {
            stopEngine();
            reg(AhciPort.CMD, reg(AhciPort.CMD) & ~AhciPort.CMD_FRE);
            await("FR clear", () -> (reg(AhciPort.CMD) & AhciPort.CMD_FR) == 0);
            reg(AhciPort.CLB, (int) clb);
            reg(AhciPort.CLBU, (int) (clb >>> 32));
            reg(AhciPort.FB, (int) fb);
            reg(AhciPort.FBU, (int) (fb >>> 32));
            reg(AhciPort.CMD, reg(AhciPort.CMD) | AhciPort.CMD_FRE);
            reg(AhciPort.SCTL, 0x301);
            reg(AhciPort.SCTL, 0x300);
            reg(AhciPort.SERR, -1);
            reg(AhciPort.IS, -1);
            reg(AhciPort.IE, 0x7DC0_00FF & ~(1 << 25)); // what Linux enables (DEF_PORT_IRQ): errors and FIS events
            await("link up", () -> (reg(AhciPort.SSTS) & 0xF) == 3);
            await("device ready", () -> (reg(AhciPort.TFD) & (AtaResult.BSY | AtaResult.DRQ)) == 0);
            signature = reg(AhciPort.SIG);
            startEngine();
        }

        void startEngine() {
            reg(AhciPort.CMD, reg(AhciPort.CMD) | AhciPort.CMD_ST);
        }

        void stopEngine() {
            reg(AhciPort.CMD, reg(AhciPort.CMD) & ~AhciPort.CMD_ST);
            await("CR clear", () -> (reg(AhciPort.CMD) & AhciPort.CMD_CR) == 0);
        }

        /** Error recovery as Linux's EH: stop, clear errors, CLO if the device looks busy, start. */
        void recover() {
            stopEngine();
            reg(AhciPort.SERR, -1);
            reg(AhciPort.IS, -1);
            if ((reg(AhciPort.TFD) & (AtaResult.BSY | AtaResult.DRQ)) != 0) {
                reg(AhciPort.CMD, reg(AhciPort.CMD) | AhciPort.CMD_CLO);
                await("CLO done", () -> (reg(AhciPort.CMD) & AhciPort.CMD_CLO) == 0);
            }
            startEngine();
        }

        /** COMRESET through PxSCTL.DET (sata_link_hardreset), then start again. */
        void hardReset() {
            stopEngine();
            reg(AhciPort.SCTL, 0x301);
            reg(AhciPort.SCTL, 0x300);
            await("link up after COMRESET", () -> (reg(AhciPort.SSTS) & 0xF) == 3);
            await("device ready", () -> (reg(AhciPort.TFD) & AtaResult.BSY) == 0);
            signature = reg(AhciPort.SIG);
            reg(AhciPort.SERR, -1);
            reg(AhciPort.IS, -1);
            startEngine();
        }

        /** Writes command header {@code slot} and its table. */
        void build(int slot, Cmd c) {
            long t = tables[slot];
            mem.slice(t, TABLE_SIZE).fill((byte) 0);
            mem.write(t, c.fis());
            if (c.acmd() != null) mem.write(t + 0x40, c.acmd());
            for (int i = 0; i < c.prds().length; i++) {
                long[] p = c.prds()[i];
                long e = t + 0x80 + 16L * i;
                mem.writeU32(e, (int) p[0]);
                mem.writeU32(e + 4, (int) (p[0] >>> 32));
                mem.writeU32(e + 12, (int) ((p[1] - 1) & 0x3F_FFFF) | (p.length > 2 && p[2] != 0 ? 0x8000_0000 : 0));
            }
            long h = clb + 32L * slot;
            int dw0 = (c.fis().length / 4) | (c.atapi() ? 0x20 : 0) | (c.write() ? 0x40 : 0) | c.prds().length << 16;
            mem.writeU32(h, dw0);
            mem.writeU32(h + 4, 0);
            mem.writeU32(h + 8, (int) t);
            mem.writeU32(h + 12, (int) (t >>> 32));
        }

        /** An ATAPI PACKET command in {@code slot}: {@code cdb} padded to 16 bytes, data-in to {@code buf} when {@code len} > 0. */
        Result packet(int slot, byte[] cdb, long buf, int len) {
            byte[] c = java.util.Arrays.copyOf(cdb, 16);
            return len == 0 ? issue(slot, Cmd.packet(c)) : issue(slot, Cmd.packet(c, new long[] {buf, len}));
        }

        /** Issues one non-queued command in {@code slot} and waits for completion or an error. */
        Result issue(int slot, Cmd c) {
            build(slot, c);
            int bit = 1 << slot;
            reg(AhciPort.IS, -1);
            reg(AhciPort.CI, bit);
            await("command in slot " + slot, () -> (reg(AhciPort.CI) & bit) == 0 || (reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);
            return result(slot);
        }

        Result result(int slot) {
            byte[] d2h = new byte[20], pio = new byte[20], sdb = new byte[8];
            mem.read(fb + 0x40, d2h, 0, 20);
            mem.read(fb + 0x20, pio, 0, 20);
            mem.read(fb + 0x58, sdb, 0, 8);
            return new Result(reg(AhciPort.TFD), reg(AhciPort.IS), mem.readU32(clb + 32L * slot + 4), d2h, pio, sdb);
        }

        /** Issues NCQ commands in slots 0..n-1 at once (PxSACT then PxCI) and waits until PxSACT is empty or an error. */
        int issueQueued(List<Cmd> cmds) {
            int mask = 0;
            for (int i = 0; i < cmds.size(); i++) {
                build(i, cmds.get(i));
                mask |= 1 << i;
            }
            reg(AhciPort.IS, -1);
            reg(AhciPort.SACT, mask);
            reg(AhciPort.CI, mask);
            await("NCQ commands", () -> reg(AhciPort.SACT) == 0 || (reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);
            return reg(AhciPort.IS);
        }
    }

    /** READ/WRITE FPDMA QUEUED for tag {@code tag}. */
    static byte[] ncq(boolean write, int tag, long lba, int sectors) {
        return h2d(write ? AtaCommand.WRITE_FPDMA_QUEUED : AtaCommand.READ_FPDMA_QUEUED, lba, tag << 3, sectors, 0x40);
    }

    /** SEND FPDMA QUEUED, DATA SET MANAGEMENT subcommand with the TRIM function (as Linux builds queued TRIM). */
    static byte[] queuedTrim(int tag, int blocks) {
        byte[] f = h2d(AtaCommand.SEND_FPDMA_QUEUED, 0, tag << 3, blocks, 0x40);
        f[16] = 0x01; // auxiliary: TRIM
        return f;
    }

    /** TRIM range entries (LBA 47:0, count 63:48), padded to whole 512-byte blocks. */
    static byte[] trimList(long[][] ranges) {
        byte[] b = new byte[((ranges.length * 8 + 511) / 512) * 512];
        var seg = java.lang.foreign.MemorySegment.ofArray(b);
        for (int i = 0; i < ranges.length; i++) {
            seg.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 8L * i,
                    ranges[i][0] | ranges[i][1] << 48);
        }
        return b;
    }

    static List<long[]> list() { return new ArrayList<>(); }
}
