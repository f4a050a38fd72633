package dev.vmm.chipset.q35;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.chipset.testing.RecordingLine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The hot-plug slot registers of an empty root port driven the same way on QEMU 7.2 (q35,
 * {@code pcie-root-port} through qtest) and here: slot capabilities (bit 17, QEMU's
 * electromechanical interlock, masked), the slot control write mask, Command Completed after slot
 * control writes, and the write-1-to-clear slot status with QEMU's guard against blanket clears.
 */
class PcieSlotQemuOracleTest {
    static final int RP = 1;

    static List<String> script(Q35QemuOracleTest.Side s) {
        List<String> out = new ArrayList<>();
        int exp = -1;
        int p = (int) s.cfgRead(RP, 0x34, 1) & ~3;
        for (int guard = 0; p >= 0x40 && guard < 48; guard++) {
            if (s.cfgRead(RP, p, 1) == 0x10) exp = p;
            p = (int) s.cfgRead(RP, p + 1, 1) & ~3;
        }
        out.add("exp found " + (exp > 0));
        if (exp < 0) return out;
        int cap = exp + PcieRootPort.EXP_SLTCAP, ctl = exp + PcieRootPort.EXP_SLTCTL, sta = exp + PcieRootPort.EXP_SLTSTA;
        out.add("sltcap " + hex(s.cfgRead(RP, cap, 4) & ~(1L << 17)));
        out.add("initial ctl " + hex(s.cfgRead(RP, ctl, 2)) + " sta " + hex(s.cfgRead(RP, sta, 2)));
        int v = PcieRootPort.SLTCTL_HPIE | PcieRootPort.SLTCTL_CCIE | PcieRootPort.SLTCTL_PDCE | PcieRootPort.SLTCTL_ABPE
                | PcieRootPort.INDICATOR_OFF << 8 | PcieRootPort.INDICATOR_OFF << 6 | PcieRootPort.SLTCTL_PCC;
        s.cfgWrite(RP, ctl, 2, v);
        out.add("after ctl write: ctl " + hex(s.cfgRead(RP, ctl, 2)) + " sta " + hex(s.cfgRead(RP, sta, 2)));
        s.cfgWrite(RP, sta, 2, 0);
        out.add("after sta write 0: " + hex(s.cfgRead(RP, sta, 2)));
        s.cfgWrite(RP, sta, 2, PcieRootPort.SLTSTA_CC);
        out.add("after sta write CC: " + hex(s.cfgRead(RP, sta, 2)));
        s.cfgWrite(RP, ctl, 2, v);
        out.add("same ctl again: sta " + hex(s.cfgRead(RP, sta, 2)));
        s.cfgWrite(RP, sta, 2, 0xffff);
        out.add("after sta all ones (CC pending, others not: a blanket clear, ignored): " + hex(s.cfgRead(RP, sta, 2)));
        s.cfgWrite(RP, sta, 2, PcieRootPort.SLTSTA_CC);
        s.cfgWrite(RP, ctl, 2, 0xffff & ~(1 << 11));   // not EIC: QEMU's interlock is not modelled here
        out.add("ctl all ones but EIC: ctl " + hex(s.cfgRead(RP, ctl, 2)) + " sta " + hex(s.cfgRead(RP, sta, 2)));
        return out;
    }

    static String hex(long v) { return Long.toHexString(v); }

    @Test
    @Timeout(60)
    void emptySlotRegistersMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemuSide;
        try (QemuQtest q = QemuQtest.start("-M", "q35,smm=off", "-m", "512",
                "-device", "pcie-root-port,id=rp1,chassis=1,slot=1,addr=01.0")) {
            qemuSide = script(Q35QemuOracleTest.Side.qemu(q, true));
        }
        Bus pio = new Bus("pio"), mmio = new Bus("mmio");
        PciBus root = PciBus.root(new PciPlatform(pio, mmio, new PciInterruptRouter((sl, pin) -> 16 + ((sl + pin - 1) & 7), g -> new RecordingLine())));
        Q35Mch.attach(root, mmio, 512L << 20).host().registerPorts(pio);
        root.attach(1, 0, new PcieRootPort(1, 0).bridge());
        List<String> ours = script(Q35QemuOracleTest.Side.ours(pio, mmio));
        assertThat(ours).containsExactlyElementsOf(qemuSide);
    }
}
