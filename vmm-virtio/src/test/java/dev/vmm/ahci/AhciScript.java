package dev.vmm.ahci;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A guest's register and command sequence run against an {@link AhciTarget}, recording what the
 * guest sees after each step as text lines ("step: NAME=hex ..."): port registers, HBA registers,
 * received FISes, PRDBC and data. Run on QEMU and on the model, the two transcripts are compared
 * line by line. Guest RAM layout: the command list of port {@code p} at {@link #clb}, its FIS area
 * at {@link #fb}, slot {@code s}'s command table at {@link #table}, data buffers from {@link #DATA}.
 */
final class AhciScript {
    static final long CLB = 0x0010_0000L, FB = 0x0011_0000L, TABLES = 0x0012_0000L, DATA = 0x0020_0000L;
    static final int TABLE_SIZE = 0x100; // FIS, ACMD, up to 8 PRDs
    static final String[] PORT_REGS = {"CLB", "CLBU", "FB", "FBU", "IS", "IE", "CMD", null, "TFD", "SIG", "SSTS", "SCTL",
        "SERR", "SACT", "CI", "SNTF"};

    final AhciTarget t;
    final List<String> lines = new ArrayList<>();

    AhciScript(AhciTarget t) {
        this.t = t;
    }

    static long clb(int port) { return CLB + 0x400L * port; }

    static long fb(int port) { return FB + 0x100L * port; }

    static long table(int port, int slot) { return TABLES + 0x2000L * port + (long) TABLE_SIZE * slot; }

    static int portReg(int port, int reg) { return AhciController.PORT_BASE + AhciController.PORT_SIZE * port + reg; }

    int reg(int port, int reg) { return t.reg(portReg(port, reg)); }

    void reg(int port, int reg, int value) { t.reg(portReg(port, reg), value); }

    /** Records every register of {@code port} plus GHC and the HBA IS. */
    void regs(String step, int port) {
        StringBuilder sb = new StringBuilder(step).append(": port ").append(port);
        for (int i = 0; i < PORT_REGS.length; i++) {
            if (PORT_REGS[i] != null) sb.append(' ').append(PORT_REGS[i]).append('=').append(Integer.toHexString(reg(port, 4 * i)));
        }
        sb.append(" GHC=").append(Integer.toHexString(t.reg(AhciController.GHC)));
        sb.append(" HBA_IS=").append(Integer.toHexString(t.reg(AhciController.IS)));
        lines.add(sb.toString());
    }

    /** Records {@code length} bytes of guest RAM. */
    void bytes(String step, long gpa, int length) {
        lines.add(step + ": " + HexFormat.of().formatHex(t.read(gpa, length)));
    }

    void note(String line) { lines.add(line); }

    /** Zeroes the FIS area of {@code port} (so a test sees which FISes a step posts). */
    void clearFisArea(int port) { t.write(fb(port), new byte[256]); }

    /** Records the port's D2H Register FIS, PIO Setup FIS and Set Device Bits FIS areas. */
    void fises(String step, int port) {
        bytes(step + " D2H", fb(port) + Fis.RX_D2H, 20);
        bytes(step + " PIO", fb(port) + Fis.RX_PIO_SETUP, 20);
        bytes(step + " SDB", fb(port) + Fis.RX_SDB, 8);
    }

    /**
     * Writes command header {@code slot} (CFL 5, the given flags and PRD count) and its table: the
     * FIS, an ATAPI packet if given, PRDs of {@code {address, bytes, interruptBit}}.
     */
    void command(int port, int slot, byte[] fis, byte[] acmd, int flags, long[]... prds) {
        long tb = table(port, slot);
        byte[] table = new byte[TABLE_SIZE];
        System.arraycopy(fis, 0, table, 0, fis.length);
        if (acmd != null) System.arraycopy(acmd, 0, table, 0x40, acmd.length);
        for (int i = 0; i < prds.length; i++) {
            int e = 0x80 + 16 * i;
            putLe32(table, e, (int) prds[i][0]);
            putLe32(table, e + 4, (int) (prds[i][0] >>> 32));
            putLe32(table, e + 12, (int) (prds[i][1] - 1) | (prds[i].length > 2 && prds[i][2] != 0 ? 0x8000_0000 : 0));
        }
        t.write(tb, table);
        byte[] header = new byte[32];
        putLe32(header, 0, fis.length / 4 | flags | prds.length << 16);
        putLe32(header, 4, 0x5A5A_5A5A); // PRDBC: a value the HBA must overwrite
        putLe32(header, 8, (int) tb);
        putLe32(header, 12, (int) (tb >>> 32));
        t.write(clb(port) + 32L * slot, header);
    }

    /** Issues slot {@code slot} and waits until its PxCI bit clears or TFES is set. */
    void issue(int port, int slot) {
        reg(port, AhciPort.CI, 1 << slot);
        t.await("slot " + slot, () -> (reg(port, AhciPort.CI) & 1 << slot) == 0 || (reg(port, AhciPort.IS) & AhciPort.IS_TFES) != 0);
    }

    int prdbc(int port, int slot) { return t.readU32(clb(port) + 32L * slot + 4); }

    static void putLe32(byte[] b, int at, int v) {
        for (int k = 0; k < 4; k++) b[at + k] = (byte) (v >> 8 * k);
    }
}
