package dev.vmm.chipset.timer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.chipset.testing.RecordingLine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * HPET registers read and written the same way on QEMU 7.2's q35 HPET (through qtest, vCPUs
 * stopped so its clock stands still) and ours (with a clock that stands still too): capabilities,
 * per-timer capabilities and defaults, and what writes leave in every writable register.
 */
class HpetQemuOracleTest {
    interface Side {
        long read(long off);
        void write(long off, long value);
    }

    static List<String> script(Side s) {
        List<String> out = new ArrayList<>();
        out.add("cap " + Long.toHexString(s.read(Hpet.CAP)));
        out.add("config " + Long.toHexString(s.read(Hpet.CONFIG)) + " isr " + Long.toHexString(s.read(Hpet.ISR)));
        for (int t = 0; t < 3; t++) {
            long base = Hpet.TIMER0 + 0x20L * t;
            out.add("t" + t + " config " + Long.toHexString(s.read(base)) + " cmp " + Long.toHexString(s.read(base + 8)));
            s.write(base, -1L);
            out.add("t" + t + " config after all ones " + Long.toHexString(s.read(base)));
            s.write(base, Hpet.TN_32BIT);
            s.write(base + 8, 0x1_2345_6789L);
            out.add("t" + t + " 32-bit cmp " + Long.toHexString(s.read(base + 8)));
            s.write(base, 0);
            s.write(base + 8, 0x1_2345_6789L);
            out.add("t" + t + " 64-bit cmp " + Long.toHexString(s.read(base + 8)));
        }
        s.write(Hpet.CONFIG, -1L);
        out.add("config after all ones " + Long.toHexString(s.read(Hpet.CONFIG)));
        s.write(Hpet.CONFIG, 0);
        s.write(Hpet.COUNTER, 0x1234_5678_9abcL);
        out.add("counter written while halted " + Long.toHexString(s.read(Hpet.COUNTER)));
        out.add("unimplemented 0x300 " + Long.toHexString(s.read(0x300)));
        return out;
    }

    @Test
    @Timeout(60)
    void registersMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemuSide;
        try (QemuQtest q = QemuQtest.start("-M", "q35", "-m", "512")) {
            qemuSide = script(new Side() {
                public long read(long off) { return QemuQtest.number(q.command("readq 0x" + Long.toHexString(Hpet.DEFAULT_BASE + off))); }
                public void write(long off, long value) { q.command("writeq 0x" + Long.toHexString(Hpet.DEFAULT_BASE + off) + " 0x" + Long.toHexString(value)); }
            });
        }
        Hpet hpet = new Hpet(() -> 42L, pin -> new RecordingLine());
        List<String> ours = script(new Side() {
            public long read(long off) { return hpet.read(off, 8); }
            public void write(long off, long value) { hpet.write(off, 8, value); }
        });
        assertThat(ours).containsExactlyElementsOf(qemuSide);
    }
}
