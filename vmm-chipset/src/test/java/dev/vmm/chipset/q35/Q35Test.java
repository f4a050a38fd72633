package dev.vmm.chipset.q35;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciHostBridge;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.chipset.testing.RecordingLine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Issue 13 test 7 and the Q35 functions: ECAM through PCIEXBAR, PAM switching, ICH9 LPC, root ports. */
class Q35Test {
    final Bus pio = new Bus("pio");
    final Bus mmio = new Bus("mmio");
    final PciBus root = PciBus.root(new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> new RecordingLine(), 16, 17, 18, 19)));
    final Q35Mch mch = Q35Mch.attach(root, mmio, 0x8000_0000L);
    final Ich9Lpc lpc = new Ich9Lpc();
    final List<long[]> ecamEvents = new ArrayList<>();

    Q35Test() {
        mch.host().registerPorts(pio);
        root.attach(31, 0, lpc);
        mch.setEcamListener((ob, os, nb, ns) -> ecamEvents.add(new long[] {ob, os, nb, ns}));
    }

    // ---- configuration mechanism #1, as firmware uses it before ECAM is on

    int cfgRead(int bus, int dev, int fn, int reg, int size) {
        pio.write(0xcf8, 4, 0x8000_0000L | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
        return (int) pio.read(0xcfc + (reg & 3), size);
    }

    void cfgWrite(int bus, int dev, int fn, int reg, int size, int value) {
        pio.write(0xcf8, 4, 0x8000_0000L | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
        pio.write(0xcfc + (reg & 3), size, value & 0xffff_ffffL);
    }

    long ecam(long base, int bus, int dev, int fn, int reg) {
        return base + ((long) bus << 20 | dev << 15 | fn << 12 | reg);
    }

    @Test
    void pciexbarMapsEcamWhereFirmwareProgramsIt() {
        assertThat(cfgRead(0, 0, 0, 0, 4)).isEqualTo(0x29c0_8086);
        assertThat(cfgRead(0, 0, 0, 0x0a, 2)).isEqualTo(0x0600);
        assertThat(cfgRead(0, 0, 0, Q35Mch.PCIEXBAR, 4)).isEqualTo(0xb000_0000); // power-on: base set, disabled
        assertThat(mmio.find(0xb000_0000L)).isNull();
        assertThat(mmio.read(0xb000_0000L, 4)).isEqualTo(0xffff_ffffL);

        // SeaBIOS: high half, then low half with the enable bit.
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR + 4, 4, 0);
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xb000_0001);
        assertThat(mch.ecamBase()).isEqualTo(0xb000_0000L);
        assertThat(mch.ecamSize()).isEqualTo(256L << 20);
        assertThat(ecamEvents).hasSize(1);
        assertThat(ecamEvents.get(0)).containsExactly(-1, 0, 0xb000_0000L, 256L << 20);
        long b = 0xb000_0000L;
        assertThat(mmio.read(ecam(b, 0, 0, 0, 0), 4)).isEqualTo(0x29c0_8086L);
        assertThat(mmio.read(ecam(b, 0, 31, 0, 0), 4)).isEqualTo(0x2918_8086L);
        assertThat(mmio.read(ecam(b, 0, 31, 0, 2), 2)).isEqualTo(0x2918L);
        assertThat(mmio.read(ecam(b, 0, 5, 0, 0), 4)).as("empty slot").isEqualTo(0xffff_ffffL);
        assertThat(mmio.read(ecam(b, 0, 31, 0, 0x100), 4)).as("conventional function past 256").isZero();
        assertThat(mmio.read(ecam(b, 0, 31, 0, 1), 2)).as("misaligned").isEqualTo(0xffffL);
        // ECAM writes reach the same registers mechanism #1 sees.
        mmio.write(ecam(b, 0, 31, 0, Ich9Lpc.PMBASE), 4, 0x601);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(0x601);
        mmio.write(ecam(b, 0, 0, 0, Q35Mch.PAM0 + 1), 1, 0x33);
        assertThat(cfgRead(0, 0, 0, Q35Mch.PAM0 + 1, 1)).isEqualTo(0x33);
        assertThat(mch.pam().access(PamRegisters.SEGMENTS.get(0))).isEqualTo(PamRegisters.Access.READ_WRITE);

        // 128 buses at 0xe8000000 (bit 27 only counts at this length), then 64 at 0xe4000000.
        mmio.write(ecam(b, 0, 0, 0, Q35Mch.PCIEXBAR), 4, 0xe800_0003L);
        assertThat(mch.ecamBase()).isEqualTo(0xe800_0000L);
        assertThat(mch.ecamSize()).isEqualTo(128L << 20);
        assertThat(mmio.find(0xb000_0000L)).isNull();
        assertThat(mmio.read(ecam(0xe800_0000L, 0, 31, 0, 0), 4)).isEqualTo(0x2918_8086L);
        assertThat(mmio.find(0xe800_0000L + (128L << 20))).isNull();
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xe400_0005);
        assertThat(mch.ecamBase()).isEqualTo(0xe400_0000L);
        assertThat(mch.ecamSize()).isEqualTo(64L << 20);
        // Reserved length and disable both unmap it.
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xe000_0007);
        assertThat(mch.ecamBase()).isEqualTo(-1);
        assertThat(mmio.ranges()).isEmpty();
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xb000_0001);
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xb000_0000);
        assertThat(mmio.ranges()).isEmpty();
        assertThat(ecamEvents.getLast()).containsExactly(0xb000_0000L, 256L << 20, -1, 0);
        // Low bits 25:3 are reserved and read back 0.
        assertThat(cfgRead(0, 0, 0, Q35Mch.PCIEXBAR, 4)).isEqualTo(0xb000_0000);
    }

    @Test
    void ecamOverlappingAnotherRangeIsLeftUnmappedNotThrown() {
        mmio.register(0xb000_0000L, 0x1000, new dev.vmm.chipset.bus.BusDevice() {
            public long read(long o, int s) { return 0x1234; }
            public void write(long o, int s, long v) { }
        });
        cfgWrite(0, 0, 0, Q35Mch.PCIEXBAR, 4, 0xb000_0001);
        assertThat(mch.ecamBase()).isEqualTo(-1);
        assertThat(mmio.read(0xb000_0000L, 4)).isEqualTo(0x1234);
        mch.enableEcam(0xc000_0000L);
        assertThat(mch.ecamBase()).isEqualTo(0xc000_0000L);
        assertThat(cfgRead(0, 0, 0, Q35Mch.PCIEXBAR, 4)).isEqualTo(0xc000_0001);
    }

    @Test
    void pamSwitchingFollowsSeaBiosShadowing() {
        List<String> events = new ArrayList<>();
        mch.pam().addListener((seg, a, b) -> events.add(Long.toHexString(seg.base()) + ":" + a + "->" + b));
        PamRegisters pam = mch.pam();
        assertThat(pam.readsRam(0xf0000)).isFalse();
        assertThat(pam.writesRam(0xfffff)).isFalse();
        assertThat(pam.readsRam(0xbffff)).as("outside the PAM area").isTrue();
        // make_bios_writable: PAM0 = 0x30, PAM1-6 = 0x33.
        cfgWrite(0, 0, 0, Q35Mch.PAM0, 1, 0x30);
        for (int i = 1; i < 7; i++) cfgWrite(0, 0, 0, Q35Mch.PAM0 + i, 1, 0x33);
        assertThat(events).hasSize(13).startsWith("f0000:DISABLED->READ_WRITE").contains("c0000:DISABLED->READ_WRITE", "ec000:DISABLED->READ_WRITE");
        for (PamRegisters.Segment s : PamRegisters.SEGMENTS) assertThat(pam.access(s)).isEqualTo(PamRegisters.Access.READ_WRITE);
        events.clear();
        // make_bios_readonly: the BIOS segment and the option ROM area read-only, the rest kept.
        cfgWrite(0, 0, 0, Q35Mch.PAM0, 1, 0x10);
        cfgWrite(0, 0, 0, Q35Mch.PAM0 + 1, 1, 0x11);
        assertThat(events).containsExactly("f0000:READ_WRITE->READ_ONLY", "c0000:READ_WRITE->READ_ONLY", "c4000:READ_WRITE->READ_ONLY");
        assertThat(pam.readsRam(0xf1234)).isTrue();
        assertThat(pam.writesRam(0xf1234)).isFalse();
        assertThat(pam.writesRam(0xc8000)).isTrue();
        // Write-only (10b): reads from ROM, writes to RAM, on the high half of PAM3 only (0xD4000).
        events.clear();
        cfgWrite(0, 0, 0, Q35Mch.PAM0 + 3, 1, 0x23);
        assertThat(events).containsExactly("d4000:READ_WRITE->WRITE_ONLY");
        assertThat(pam.readsRam(0xd4000)).isFalse();
        assertThat(pam.writesRam(0xd7fff)).isTrue();
        assertThat(pam.readsRam(0xd3fff)).isTrue();
        // Reserved bits are stored (as QEMU) but do not decode; a word write covers two registers.
        cfgWrite(0, 0, 0, Q35Mch.PAM0, 1, 0xcf);
        assertThat(cfgRead(0, 0, 0, Q35Mch.PAM0, 1)).isEqualTo(0xcf);
        assertThat(pam.access(PamRegisters.segmentAt(0xf0000))).isEqualTo(PamRegisters.Access.DISABLED);
        cfgWrite(0, 0, 0, Q35Mch.PAM0 + 5, 2, 0xcccc);
        assertThat(cfgRead(0, 0, 0, Q35Mch.PAM0 + 5, 2)).isEqualTo(0xcccc);
        assertThat(pam.access(PamRegisters.segmentAt(0xe0000))).isEqualTo(PamRegisters.Access.DISABLED);
        assertThat(pam.access(PamRegisters.segmentAt(0xec000))).isEqualTo(PamRegisters.Access.DISABLED);
        // SMRAM: C_BASE_SEG fixed, the control bits stored (no SMM behind them), ESMRAMC's fixed bits.
        assertThat(cfgRead(0, 0, 0, Q35Mch.SMRAM, 1)).isEqualTo(0x02);
        cfgWrite(0, 0, 0, Q35Mch.SMRAM, 1, 0x4a);                     // D_OPEN | G_SMRAME
        assertThat(cfgRead(0, 0, 0, Q35Mch.SMRAM, 1)).isEqualTo(0x4a);
        cfgWrite(0, 0, 0, Q35Mch.SMRAM, 1, 0xff);                     // with D_LCK: D_OPEN drops, register frozen
        assertThat(cfgRead(0, 0, 0, Q35Mch.SMRAM, 1)).isEqualTo(0x3a);
        cfgWrite(0, 0, 0, Q35Mch.SMRAM, 1, 0x40);
        assertThat(cfgRead(0, 0, 0, Q35Mch.SMRAM, 1)).isEqualTo(0x3a);
        assertThat(cfgRead(0, 0, 0, Q35Mch.ESMRAMC, 1)).isEqualTo(0x38);
        assertThat(cfgRead(0, 0, 0, Q35Mch.TOLUD, 2)).isEqualTo(0x8000);
        events.clear();
        pam.reset();
        assertThat(pam.readsRam(0xf0000)).isFalse();
        assertThat(events).isNotEmpty();
    }

    @Test
    void i440fxPamRegistersAt0x59() {
        Bus p = new Bus("pio2");
        PciBus r = PciBus.root(new PciPlatform(p, new Bus("m"), PciInterruptRouter.pirq(g -> new RecordingLine(), 10, 10, 11, 11)));
        I440fxPmc pmc = new I440fxPmc();
        new PciHostBridge(r, pmc).registerPorts(p);
        p.write(0xcf8, 4, 0x8000_0000L | 0x58);
        assertThat(p.read(0xcfc, 4)).isEqualTo(0);
        p.write(0xcfd, 1, 0x30);                 // 0x59 = PAM0
        p.write(0xcfe, 2, 0x1133);               // 0x5A = PAM1 (0x33), 0x5B = PAM2 (0x11)
        assertThat(pmc.pam().access(PamRegisters.segmentAt(0xf8000))).isEqualTo(PamRegisters.Access.READ_WRITE);
        assertThat(pmc.pam().access(PamRegisters.segmentAt(0xc4000))).isEqualTo(PamRegisters.Access.READ_WRITE);
        assertThat(pmc.pam().access(PamRegisters.segmentAt(0xc8000))).isEqualTo(PamRegisters.Access.READ_ONLY);
        assertThat(pmc.pam().access(PamRegisters.segmentAt(0xd0000))).isEqualTo(PamRegisters.Access.DISABLED);
        p.write(0xcf8, 4, 0x8000_0000L);
        assertThat(p.read(0xcfc, 4)).isEqualTo(0x1237_8086L);
        p.write(0xcf8, 4, 0x8000_0070L);
        assertThat(p.read(0xcfe, 1)).as("SMRAM at 0x72").isEqualTo(0x02);
    }

    @Test
    void lpcPmBaseAcpiEnableSciAndPirqRouting() {
        List<String> events = new ArrayList<>();
        lpc.setListener(new Ich9Lpc.Listener() {
            @Override public void pmBlockChanged(int base, int sci) { events.add("pm " + (base < 0 ? "-1" : Integer.toHexString(base)) + " sci " + sci); }
            @Override public void pirqRouted(int pirq, int irq) { events.add("pirq" + (char) ('A' + pirq) + " " + irq); }
        });
        assertThat(cfgRead(0, 31, 0, 0, 4)).isEqualTo(0x2918_8086);
        assertThat(cfgRead(0, 31, 0, 0x08, 4) >>> 8).isEqualTo(0x060100);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(1);           // I/O space indicator
        cfgWrite(0, 31, 0, Ich9Lpc.PMBASE, 4, 0x0000_0600);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(0x601);
        assertThat(lpc.pmBase()).as("not decoded before ACPI_EN").isEqualTo(-1);
        assertThat(events).isEmpty();
        cfgWrite(0, 31, 0, Ich9Lpc.ACPI_CNTL, 1, Ich9Lpc.ACPI_EN);
        assertThat(events).containsExactly("pm 600 sci 9");
        cfgWrite(0, 31, 0, Ich9Lpc.PMBASE, 4, 0xffff_ffff);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PMBASE, 4)).isEqualTo(0xff87);   // QEMU's mask: bits 15:7 and 2:1
        cfgWrite(0, 31, 0, Ich9Lpc.PMBASE, 4, 0x0b00);
        cfgWrite(0, 31, 0, Ich9Lpc.ACPI_CNTL, 1, Ich9Lpc.ACPI_EN | 1);
        assertThat(lpc.sciIrq()).isEqualTo(10);
        cfgWrite(0, 31, 0, Ich9Lpc.ACPI_CNTL, 1, Ich9Lpc.ACPI_EN | 0x7 | 0x70);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.ACPI_CNTL, 1)).isEqualTo(0xf7);        // stored; bits 6:3 have no effect
        assertThat(lpc.sciIrq()).isEqualTo(23);
        cfgWrite(0, 31, 0, Ich9Lpc.ACPI_CNTL, 1, 0);
        assertThat(events).containsExactly("pm 600 sci 9", "pm ff80 sci 9", "pm b00 sci 9", "pm b00 sci 10", "pm b00 sci 23", "pm -1 sci 9");
        events.clear();
        // PIRQ routing: all disabled at power-on; SeaBIOS assigns 10, 10, 11, 11, ...
        for (int i = 0; i < 8; i++) assertThat(lpc.pirqIrq(i)).isEqualTo(-1);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PIRQA_ROUT, 4)).isEqualTo(0x8080_8080);
        cfgWrite(0, 31, 0, Ich9Lpc.PIRQA_ROUT, 4, 0x0b0b_0a0a);
        cfgWrite(0, 31, 0, Ich9Lpc.PIRQE_ROUT + 2, 1, 0x7b);          // bits 6:4 reserved: stored, no effect
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.PIRQE_ROUT, 4)).isEqualTo(0x807b_8080);
        assertThat(events).containsExactly("pirqA 10", "pirqB 10", "pirqC 11", "pirqD 11", "pirqG 11");
        cfgWrite(0, 31, 0, Ich9Lpc.PIRQA_ROUT, 1, 0x8a);
        assertThat(lpc.pirqIrq(0)).isEqualTo(-1);
        assertThat(events.getLast()).isEqualTo("pirqA -1");
        cfgWrite(0, 31, 0, Ich9Lpc.RCBA, 4, 0xfed1_c001);
        assertThat(cfgRead(0, 31, 0, Ich9Lpc.RCBA, 4)).isEqualTo(0xfed1_c001);
    }

    /** A PCIe endpoint to put behind a root port. */
    static final class Endpoint implements PciDevice {
        final PciConfigSpace config = PciConfigSpace.expressEndpoint(0x1af4, 0x1042, 0x010000, 1);

        Endpoint() {
            config.addCapability(0x10, new byte[] {2, 0}, null);     // minimal PCIe cap: v2, endpoint (type 0)
            config.addExtendedCapability(0x0b, 1, new byte[] {0x34, 0x12, 0, 0}, null); // vendor specific
        }

        public PciConfigSpace configSpace() { return config; }
        public long barRead(int bar, long offset, int size) { return -1; }
        public void barWrite(int bar, long offset, int size, long value) { }
    }

    @Test
    void rootPortCapabilitiesWalkedLikeADriverAndEndpointBehindItThroughEcam() {
        PcieRootPort rp = new PcieRootPort(1, 0);
        root.attach(1, 0, rp.bridge());
        mch.enableEcam(0xb000_0000L);
        long b = 0xb000_0000L;
        assertThat(mmio.read(ecam(b, 0, 1, 0, 0), 4)).isEqualTo(0x000c_1b36L);
        assertThat(mmio.read(ecam(b, 0, 1, 0, 0x08), 4) >>> 8).isEqualTo(0x060400L);
        assertThat(mmio.read(ecam(b, 0, 1, 0, 0x0e), 1) & 0x7f).isEqualTo(1);       // type 1 header
        assertThat(mmio.read(ecam(b, 0, 1, 0, 0x06), 2) & 0x10).as("capability list").isNotZero();

        // Walk the capability list (pci_find_capability), then the extended list (pci_find_ext_capability).
        int exp = -1;
        int p = (int) mmio.read(ecam(b, 0, 1, 0, 0x34), 1) & ~3;
        for (int guard = 0; p >= 0x40 && guard < 48; guard++) {
            int id = (int) mmio.read(ecam(b, 0, 1, 0, p), 1);
            if (id == 0x10) exp = p;
            p = (int) mmio.read(ecam(b, 0, 1, 0, p + 1), 1) & ~3;
        }
        assertThat(exp).isEqualTo(rp.expressCapability());
        int flags = (int) mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_FLAGS), 2);
        assertThat(flags & 0xf).as("capability version").isEqualTo(2);
        assertThat(flags >>> 4 & 0xf).as("port type").isEqualTo(PcieRootPort.PORT_TYPE_ROOT_PORT);
        assertThat(flags & 0x100).as("slot implemented").isNotZero();
        long sltcap = mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTCAP), 4);
        assertThat(sltcap & PcieRootPort.SLTCAP_HPC).as("hot-plug capable").isNotZero();
        assertThat(sltcap & PcieRootPort.SLTCAP_HPS).as("hot-plug surprise").isNotZero();
        assertThat(sltcap >>> 19).as("physical slot").isEqualTo(1);
        assertThat(mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_LNKCAP), 4) & PcieRootPort.LNKCAP_DLLLARC).isNotZero();
        assertThat(mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTSTA), 2) & PcieRootPort.SLTSTA_PDS).as("empty").isZero();

        List<Integer> ext = new ArrayList<>();
        int e = 0x100;
        for (int guard = 0; e != 0 && guard < 64; guard++) {
            long h = mmio.read(ecam(b, 0, 1, 0, e), 4);
            ext.add((int) (h & 0xffff));
            assertThat(h >>> 16 & 0xf).as("AER version").isEqualTo(2);
            e = (int) (h >>> 20) & 0xffc;
        }
        assertThat(ext).containsExactly(PcieRootPort.AER_CAP_ID);
        int aer = rp.aerCapability();
        assertThat(mmio.read(ecam(b, 0, 1, 0, aer + PcieRootPort.AER_UNCOR_SEVER), 4)).isEqualTo(0x0046_2030L);
        // AER status is write-1-to-clear; masks are plain read/write.
        rp.configSpace().updateBits(aer + PcieRootPort.AER_COR_STATUS, 4, 0x41, true);
        mmio.write(ecam(b, 0, 1, 0, aer + PcieRootPort.AER_COR_STATUS), 4, 0x01);
        assertThat(mmio.read(ecam(b, 0, 1, 0, aer + PcieRootPort.AER_COR_STATUS), 4)).isEqualTo(0x40);
        mmio.write(ecam(b, 0, 1, 0, aer + PcieRootPort.AER_UNCOR_MASK), 4, 0xffff_ffffL);
        assertThat(mmio.read(ecam(b, 0, 1, 0, aer + PcieRootPort.AER_UNCOR_MASK), 4)).isEqualTo(0x03ff_f030L);
        // Slot control writable, slot status presence read-only.
        mmio.write(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTCTL), 2, 0x0028);   // HPIE, PDCE (DLLSCE is read-only, as QEMU)
        assertThat(mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTCTL), 2)).isEqualTo(0x0028);
        mmio.write(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTSTA), 2, PcieRootPort.SLTSTA_CC);   // the control write completed
        mmio.write(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTSTA), 2, 0xffff);
        assertThat(mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_SLTSTA), 2)).isZero();

        // An endpoint in the slot: present, link up, and its 4 KiB space reachable once buses are numbered.
        rp.plug(new Endpoint());
        assertThat(rp.occupied()).isTrue();
        assertThat(mmio.read(ecam(b, 0, 1, 0, exp + PcieRootPort.EXP_LNKSTA), 2) & PcieRootPort.LNKSTA_DLLLA).isNotZero();
        assertThat(mmio.read(ecam(b, 1, 0, 0, 0), 4)).as("bus 1 before numbering").isEqualTo(0xffff_ffffL);
        mmio.write(ecam(b, 0, 1, 0, PciConfigSpace.PRIMARY_BUS), 4, 0x00_01_01_00L); // primary 0, secondary 1, subordinate 1
        assertThat(mmio.read(ecam(b, 1, 0, 0, 0), 4)).isEqualTo(0x1042_1af4L);
        assertThat(mmio.read(ecam(b, 1, 0, 0, 0x100), 4) & 0xffff).isEqualTo(0x0b);
        assertThat(mmio.read(ecam(b, 1, 0, 0, 0x104), 4)).isEqualTo(0x1234);
        assertThat(mmio.read(ecam(b, 1, 1, 0, 0), 4)).isEqualTo(0xffff_ffffL);
        // Config mechanism #1 reaches it too (first 256 bytes).
        assertThat(cfgRead(1, 0, 0, 0, 4)).isEqualTo(0x1042_1af4);
    }
}
