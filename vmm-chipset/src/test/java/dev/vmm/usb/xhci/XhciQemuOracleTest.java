package dev.vmm.usb.xhci;

import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.testing.QemuQtest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The register-level face of {@code -device qemu-xhci} on QEMU 7.2 (pc machine, qtest) and of our
 * model, driven by one script: the PCI header and BAR sizing, the MSI-X capability, the capability
 * registers (HCIVERSION, HCSPARAMS1-3, HCCPARAMS1-2, DBOFF, RTSOFF), the extended capability list
 * (Supported Protocol capabilities), the operational and port registers after HCRST, interrupter 0
 * after HCRST and the write masks of the registers a driver programs. Values are never copied
 * from QEMU: both sides run the same script and the transcripts must match.
 */
class XhciQemuOracleTest {
    static final int SLOT = 4;
    static final long BAR_ADDRESS = 0xFE00_0000L;

    /** One side of the comparison: PCI config access and BAR0 dword access. */
    interface Side {
        long cfg(int reg, int size);

        void cfg(int reg, int size, long value);

        long reg(int offset);

        void reg(int offset, long value);
    }

    static List<String> script(Side s) {
        List<String> out = new ArrayList<>();
        out.add("id " + hex(s.cfg(0x00, 4)) + " class/rev " + hex(s.cfg(0x08, 4)) + " header " + hex(s.cfg(0x0E, 1)));
        out.add("status caps bit " + hex(s.cfg(0x06, 2) & PciConfigSpace.STATUS_CAPABILITIES));
        out.add("subsystem " + hex(s.cfg(0x2C, 4)) + " pin " + hex(s.cfg(0x3D, 1)));
        out.add("SBRN " + hex(s.cfg(0x60, 1)) + " FLADJ " + hex(s.cfg(0x61, 1)));
        out.add("BAR0 " + hex(s.cfg(0x10, 4)) + " " + hex(s.cfg(0x14, 4)));
        s.cfg(0x10, 4, 0xFFFF_FFFFL);
        s.cfg(0x14, 4, 0xFFFF_FFFFL);
        out.add("BAR0 sizing " + hex(s.cfg(0x10, 4)) + " " + hex(s.cfg(0x14, 4)));
        int msix = 0;
        for (int p = (int) s.cfg(0x34, 1) & ~3, guard = 0; p >= 0x40 && guard < 48; guard++) {
            out.add("capability " + hex(s.cfg(p, 1)));
            if (s.cfg(p, 1) == 0x11) msix = p;
            p = (int) s.cfg(p + 1, 1) & ~3;
        }
        if (msix != 0) {
            out.add("MSI-X control " + hex(s.cfg(msix + 2, 2)) + " table " + hex(s.cfg(msix + 4, 4)) + " PBA " + hex(s.cfg(msix + 8, 4)));
        }
        s.cfg(0x10, 4, BAR_ADDRESS);
        s.cfg(0x14, 4, 0);
        s.cfg(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);

        for (int off = 0; off < 0x20; off += 4) out.add("cap " + hex(off) + " = " + hex(s.reg(off)));
        int xecp = (int) ((s.reg(0x10) >>> 16) & 0xFFFF) * 4;
        for (int guard = 0; xecp != 0 && guard < 16; guard++) {
            StringBuilder b = new StringBuilder("xcap " + hex(xecp) + ":");
            for (int i = 0; i < 16; i += 4) b.append(' ').append(hex(s.reg(xecp + i)));
            out.add(b.toString());
            int next = (int) ((s.reg(xecp) >>> 8) & 0xFF) * 4;
            xecp = next == 0 ? 0 : xecp + next;
        }

        int op = (int) (s.reg(0) & 0xFF);
        int rt = (int) s.reg(0x18);
        s.reg(op, XhciController.CMD_HCRST);
        for (int off : new int[] {0x00, 0x04, 0x08, 0x14, 0x18, 0x1C, 0x30, 0x34, 0x38}) out.add("op " + hex(off) + " after reset = " + hex(s.reg(op + off)));
        for (int port = 0; port < 8; port++) {
            int base = op + 0x400 + 0x10 * port;
            out.add("port " + (port + 1) + " PORTSC " + hex(s.reg(base)) + " PMSC " + hex(s.reg(base + 4)) + " LI " + hex(s.reg(base + 8)));
        }
        for (int off = 0x20; off < 0x40; off += 4) out.add("interrupter 0 " + hex(off) + " after reset = " + hex(s.reg(rt + off)));

        // Write masks of what a driver programs.
        s.reg(op + 0x30, 0xFFFF_FFFFL);
        s.reg(op + 0x34, 0xFFFF_FFFFL);
        s.reg(op + 0x38, 0xFFFF_FFFFL);
        out.add("DCBAAP/CONFIG all ones: " + hex(s.reg(op + 0x30)) + " " + hex(s.reg(op + 0x34)) + " " + hex(s.reg(op + 0x38)));
        s.reg(op + 0x18, 0x1234_5671L);
        s.reg(op + 0x1C, 1);
        out.add("CRCR " + hex(s.reg(op + 0x18)) + " " + hex(s.reg(op + 0x1C)));
        s.reg(op + 0x04, 0xFFFF_FFFFL);
        out.add("USBSTS after writing ones " + hex(s.reg(op + 0x04)));
        s.reg(rt + 0x24, 0xFFFF_FFFFL);
        s.reg(rt + 0x28, 0xFFFF_FFFFL);
        s.reg(rt + 0x20, 0xFFFF_FFFFL);
        out.add("IMAN " + hex(s.reg(rt + 0x20)) + " IMOD " + hex(s.reg(rt + 0x24)) + " ERSTSZ " + hex(s.reg(rt + 0x28)));
        // A port's change bits are write-1-to-clear; PP stays.
        int port1 = op + 0x400;
        s.reg(port1, 0xFFFF_FFFFL & ~(RootHubPort.PR | RootHubPort.WPR | RootHubPort.PED | RootHubPort.LWS));
        out.add("port 1 after clearing changes " + hex(s.reg(port1) & ~RootHubPort.WAKE_BITS));
        return out;
    }

    static String hex(long v) { return Long.toHexString(v); }

    static Side qemu(QemuQtest q) {
        return new Side() {
            @Override public long cfg(int reg, int size) { return q.cfgRead(0, SLOT, 0, reg, size); }
            @Override public void cfg(int reg, int size, long value) { q.cfgWrite(0, SLOT, 0, reg, size, value); }
            @Override public long reg(int offset) { return QemuQtest.number(q.command("readl 0x" + Long.toHexString(BAR_ADDRESS + offset))); }
            @Override public void reg(int offset, long value) {
                q.command("writel 0x" + Long.toHexString(BAR_ADDRESS + offset) + " 0x" + Long.toHexString(value));
            }
        };
    }

    static Side ours(XhciController hc) {
        return new Side() {
            @Override public long cfg(int reg, int size) { return hc.configRead(reg, size) & 0xFFFF_FFFFL; }
            @Override public void cfg(int reg, int size, long value) { hc.configWrite(reg, size, (int) value); }
            @Override public long reg(int offset) { return hc.barRead(0, offset, 4); }
            @Override public void reg(int offset, long value) { hc.barWrite(0, offset, 4, value); }
        };
    }

    /** QEMU's side, once per JVM (see {@link QtestXhciPlatform#transcript}). */
    private static volatile List<String> qemuTranscript;

    @Test
    @Timeout(60)
    void registersMatchQemu() throws Exception {
        List<String> qemuSide = qemuTranscript;
        if (qemuSide == null) {
            QemuQtest.assumeInstalled();
            try (QemuQtest q = QemuQtest.start("-M", "pc", "-m", "128", "-device", "qemu-xhci,addr=0" + SLOT + ".0")) {
                qemuSide = script(qemu(q));
            }
            qemuTranscript = qemuSide;
        }
        try (TestRam ram = new TestRam(1 << 20)) {
            XhciController hc = new XhciController(ram.memory, (v, a, d) -> { }, MsixListener.NONE, new ManualClock());
            List<String> ours = script(ours(hc));
            assertThat(ours).containsExactlyElementsOf(qemuSide);
        }
    }
}
