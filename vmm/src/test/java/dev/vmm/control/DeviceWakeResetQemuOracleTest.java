package dev.vmm.control;

import dev.vmm.ahci.AhciController;
import dev.vmm.ahci.AhciIo;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.chipset.timer.Hpet;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.power.GuestSleep;
import dev.vmm.power.WakeResettable;
import dev.vmm.timer.HpetTimer;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.usb.xhci.XhciClock;
import dev.vmm.usb.xhci.XhciController;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The S3 wake's reset of the HPET, the xHCI controller and the AHCI HBA, against QEMU 7.2 run at
 * test time (issue 16): QEMU's {@code pc} with {@code qemu-xhci} and {@code ahci} under qtest, ours
 * as the models behind the machine's wake reset ({@code MachineWakeReset} with the devices'
 * {@link WakeResettable}s) and the same S3 path as {@link RtcAlarmWakeQemuOracleTest}. One script on
 * both: the guest programs each device's registers away from their power-on values, writes
 * SLP_TYP=S3|SLP_EN, QMP {@code system_wakeup} wakes it, then the registers are read back; those
 * read after the wake must be equal, and must differ from QEMU's before the suspend. QEMU's wake also resets PCI
 * configuration space; ours keeps it (docs/lifecycle.md), so QEMU's side re-programs the BARs as
 * firmware would before the registers are read.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeviceWakeResetQemuOracleTest {
    static final long HPET = Hpet.DEFAULT_BASE, XHCI = 0xFE00_0000L, AHCI = 0xFE10_0000L;
    static final int XHCI_SLOT = 4, AHCI_SLOT = 5;

    @TempDir
    Path dir;

    /** 32-bit register access at guest-physical addresses (the devices' BARs as placed above). */
    interface Mmio {
        long readl(long addr);

        void writel(long addr, long value);
    }

    /** The guest's steps and the log of what it reads. */
    static List<String> steps(RtcAlarmWakeQemuOracleTest.Side s, Mmio m, Runnable afterWakeBars) throws Exception {
        List<String> log = new ArrayList<>();
        program(m);
        read(m, "before", log);
        s.enterS3();
        SleepStatesQemuOracleTest.Client q = s.qmp();
        q.execute("system_wakeup");
        q.awaitEvent(GuestSleep.WAKEUP);
        s.afterWake();
        afterWakeBars.run();
        read(m, "after", log);
        return log;
    }

    static void program(Mmio m) {
        // HPET: three timers configured, counter running with legacy replacement.
        m.writel(HPET + 0x100, 0x4c);                   // T0: enable, periodic, value set
        m.writel(HPET + 0x108, 0x0100_0000);            // far ahead: nothing fires during the test
        m.writel(HPET + 0x120, 0x2006);                 // T1: level, enable, route 16
        m.writel(HPET + 0x128, 0x0500_0000);
        m.writel(HPET + 0x140, 0x2900);                 // T2: 32-bit, route 20
        m.writel(HPET + 0x148, 0x123);
        m.writel(HPET + Hpet.CONFIG, 3);                // enable, legacy replacement
        // xHCI: operational and runtime registers a driver sets before Run/Stop.
        long op = XHCI + (m.readl(XHCI) & 0xff), rt = XHCI + (m.readl(XHCI + 0x18) & ~0x1fL);
        m.writel(op + 0x38, 4);                         // CONFIG.MaxSlotsEn
        m.writel(op + 0x30, 0x10000);                   // DCBAAP
        m.writel(op + 0x14, 2);                         // DNCTRL
        m.writel(op, 4);                                // USBCMD.INTE
        m.writel(rt + 0x20, 2);                         // IMAN.IE
        m.writel(rt + 0x24, 0x0010_0100);               // IMOD
        m.writel(rt + 0x28, 1);                         // ERSTSZ
        m.writel(rt + 0x38, 0x20000);                   // ERDP
        // AHCI: GHC.IE, port 0's list and FIS addresses, interrupt enables, FIS receive on.
        m.writel(AHCI + 0x04, 0x8000_0002L);
        m.writel(AHCI + 0x100, 0x40000);
        m.writel(AHCI + 0x108, 0x41000);
        m.writel(AHCI + 0x114, 0xf);
        m.writel(AHCI + 0x12c, 0x300);
        m.writel(AHCI + 0x118, 0x10);
    }

    static void read(Mmio m, String when, List<String> log) {
        StringBuilder b = new StringBuilder(when + " hpet:");
        // Not the timers' high config dwords: they hold the interrupt route capability, a constant that
        // differs from QEMU's pc (which offers pin 2 only) whatever the reset does.
        for (int off : new int[] {Hpet.CONFIG, Hpet.ISR, 0x100, 0x108, 0x10c, 0x120, 0x128, 0x12c, 0x140, 0x148, 0x14c}) {
            b.append(' ').append(Integer.toHexString(off)).append('=').append(Long.toHexString(m.readl(HPET + off)));
        }
        if (when.equals("after")) b.append(" counter=").append(Long.toHexString(m.readl(HPET + Hpet.COUNTER)));
        log.add(b.toString());
        long op = XHCI + (m.readl(XHCI) & 0xff), rt = XHCI + (m.readl(XHCI + 0x18) & ~0x1fL);
        b = new StringBuilder(when + " xhci:");
        for (int off : new int[] {0x00, 0x04, 0x14, 0x18, 0x30, 0x34, 0x38}) b.append(" op+").append(Integer.toHexString(off)).append('=')
                .append(Long.toHexString(m.readl(op + off)));
        for (int port = 0; port < 8; port++) b.append(" portsc").append(port + 1).append('=').append(Long.toHexString(m.readl(op + 0x400 + 0x10L * port)));
        for (int off : new int[] {0x20, 0x24, 0x28, 0x38, 0x3c}) b.append(" rt+").append(Integer.toHexString(off)).append('=')
                .append(Long.toHexString(m.readl(rt + off)));
        log.add(b.toString());
        b = new StringBuilder(when + " ahci:");
        for (int off : new int[] {0x04, 0x08}) b.append(' ').append(Integer.toHexString(off)).append('=').append(Long.toHexString(m.readl(AHCI + off)));
        for (int off = 0x100; off < 0x140; off += 4) b.append(" p0+").append(Integer.toHexString(off - 0x100)).append('=')
                .append(Long.toHexString(m.readl(AHCI + off)));
        log.add(b.toString());
    }

    /** QEMU's side: qtest memory access; the BARs (and memory decoding) set through 0xcf8/0xcfc. */
    static final class QemuMmio implements Mmio {
        final RtcAlarmWakeQemuOracleTest.Qemu q;

        QemuMmio(RtcAlarmWakeQemuOracleTest.Qemu q) {
            this.q = q;
        }

        @Override public long readl(long addr) {
            return QemuQtest.number(q.qtest.command("readl 0x" + Long.toHexString(addr)));
        }

        @Override public void writel(long addr, long value) {
            q.qtest.command("writel 0x" + Long.toHexString(addr) + " 0x" + Long.toHexString(value));
        }

        void config(int slot, int off, int value) {
            q.qtest.cfgWrite(0, slot, 0, off, 4, value & 0xFFFF_FFFFL);
        }

        /** What firmware does at boot and on resume: BARs placed, memory decoding and bus mastering on. */
        void placeBars() {
            config(XHCI_SLOT, 0x10, (int) XHCI);
            config(XHCI_SLOT, 0x14, 0);
            config(XHCI_SLOT, 0x04, 6);
            config(AHCI_SLOT, 0x24, (int) AHCI);
            config(AHCI_SLOT, 0x04, 6);
        }
    }

    /** Ours: the models, addressed at the same places. */
    static final class OurMmio implements Mmio {
        final Hpet hpet;
        final XhciController xhci;
        final AhciController ahci;

        OurMmio(Hpet hpet, XhciController xhci, AhciController ahci) {
            this.hpet = hpet;
            this.xhci = xhci;
            this.ahci = ahci;
        }

        @Override public long readl(long addr) {
            if (addr >= HPET && addr < HPET + Hpet.SIZE) return hpet.read(addr - HPET, 4);
            if (addr >= AHCI && addr < AHCI + 0x1000) return ahci.barRead(AhciController.ABAR, addr - AHCI, 4);
            return xhci.barRead(0, addr - XHCI, 4);
        }

        @Override public void writel(long addr, long value) {
            if (addr >= HPET && addr < HPET + Hpet.SIZE) hpet.write(addr - HPET, 4, value);
            else if (addr >= AHCI && addr < AHCI + 0x1000) ahci.barWrite(AhciController.ABAR, addr - AHCI, 4, value);
            else xhci.barWrite(0, addr - XHCI, 4, value);
        }
    }

    @Test
    void hpetXhciAndAhciAfterAWakeAsQemus() throws Exception {
        Path qemuSock = dir.resolve("qemu.sock");
        List<String> qemuLog;
        try (QemuQtest qtest = QemuQtest.start("-machine", "pc", "-bios", QemuQtest.haltingBios(dir).toString(),
                "-qmp", "unix:" + qemuSock + ",server=on,wait=off",
                "-device", "qemu-xhci,addr=0" + XHCI_SLOT + ".0", "-device", "ahci,addr=0" + AHCI_SLOT + ".0")) {
            RtcAlarmWakeQemuOracleTest.Qemu q = new RtcAlarmWakeQemuOracleTest.Qemu(qtest, qemuSock);
            QemuMmio m = new QemuMmio(q);
            m.placeBars();
            qemuLog = steps(q, m, m::placeBars);
            q.client.close();
        }

        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        List<String> ourLog;
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory ram = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(1 << 20, 4096))));
            Hpet hpet = new Hpet(System::nanoTime, pin -> level -> { });
            List<Boolean> pitLegacy = new ArrayList<>();
            try (HpetTimer hpetTimer = new HpetTimer(hpet, System::nanoTime, pitLegacy::add)) {
                XhciController xhci = new XhciController(ram, (v, a, d) -> { }, MsixListener.NONE, XhciClock.system(timer));
                AhciController ahci = new AhciController(ram, AhciIo.inline(), (v, a, d) -> { }, List.of());
                OurMmio m = new OurMmio(hpet, xhci, ahci);
                // The register writes go through the HPET's bus face, as the guest's would.
                Mmio guest = new Mmio() {
                    @Override public long readl(long addr) { return addr >= HPET && addr < HPET + Hpet.SIZE ? hpetTimer.registers().read(addr - HPET, 4) : m.readl(addr); }
                    @Override public void writel(long addr, long value) {
                        if (addr >= HPET && addr < HPET + Hpet.SIZE) hpetTimer.registers().write(addr - HPET, 4, value);
                        else m.writel(addr, value);
                    }
                };
                RtcAlarmWakeQemuOracleTest.Ours o = new RtcAlarmWakeQemuOracleTest.Ours(dir.resolve("ours.sock"), List.of(
                        new WakeResettable("hpet", hpetTimer::reset), WakeResettable.xhci(xhci),
                        new WakeResettable("ich9-ahci", ahci::reset)));
                try {
                    ourLog = steps(o, guest, () -> { });
                } finally {
                    o.close();
                }
                assertThat(pitLegacy).as("legacy replacement on, then off by the reset: the PIT gets IRQ 0 back").containsExactly(true, false);
            }
        } finally {
            timer.shutdownNow();
        }
        System.out.println("QEMU:\n" + String.join("\n", qemuLog) + "\nours:\n" + String.join("\n", ourLog));
        // The state after the wake is what is compared. Before the suspend the models already differ from
        // QEMU's in ways the reset does not touch (a level timer's status with an unroutable pin, the
        // 64-bit comparator written by halves, AHCI port status with no device and FIS receive on).
        assertThat(String.join("\n", ourLog.subList(3, 6))).isEqualTo(String.join("\n", qemuLog.subList(3, 6)));
        for (int i = 0; i < 3; i++) {
            // The comparison means something only if QEMU's wake changed each device's registers.
            assertThat(qemuLog.get(3 + i).replaceFirst(" counter=.*", "")).as("QEMU's wake reset changed the registers")
                    .isNotEqualTo(qemuLog.get(i).replace("before", "after"));
        }
    }
}
