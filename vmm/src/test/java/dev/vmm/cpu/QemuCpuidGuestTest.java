package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.vcpu.CpuTopology;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The leaves of each model that QEMU's TCG does not filter — identity (0, 0x80000000, brand string),
 * caches (2, 4, 0x80000005/6, 0x8000001D), MONITOR leaf 5, topology 0xB, XSAVE component layout
 * (0xD subleaves ≥ 2) and address widths (0x80000008 EAX) — read by a guest under the installed QEMU
 * (the guest kit's {@code cpuid} guest, {@code -accel tcg -cpu MODEL}, one vCPU) and compared with
 * what {@code vmm cpuid --cpu MODEL} defines for vCPU 0. Absent leaves read as zeros on both sides
 * (KVM answers an in-range leaf it has no entry for with zeros).
 */
@Timeout(600)
class QemuCpuidGuestTest {
    private static final Pattern LINE = Pattern.compile("(?m)^cpuid ([0-9a-f]{8}) ([0-9a-f]{2}): ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})\\r?$");
    private static Path guest;

    @BeforeAll
    static void buildTheGuest() throws Exception {
        assumeTrue(QemuQmp.find().isPresent(), "qemu-system-x86_64 is not installed");
        Path kit = Path.of("..", "integration", "guest-kit").toAbsolutePath().normalize();
        assumeTrue(Files.isRegularFile(kit.resolve("Makefile")), "guest kit sources not found at " + kit);
        Path out = Path.of("target", "cpuid-guest").toAbsolutePath();
        Process p = new ProcessBuilder("make", "-s", "-C", kit.toString(), "OUT=" + out, "cpuid")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assumeTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, "the guest kit does not build here (gcc, make, binutils)");
        guest = out.resolve("cpuid.pvh.elf");
    }

    /** Whether QEMU's TCG leaves leaf/subleaf as the model defines it (no feature bits in it). */
    private static boolean compared(long f, int sub) {
        return f == 0 || f == 2 || f == 3 || f == 4 || f == 5 || f == 0xb || (f == 0xd && sub >= 2)
                || f == 0x80000000L || (f >= 0x80000002L && f <= 0x80000006L) || f == 0x8000001dL;
    }

    private static Map<String, long[]> qemu(String model) throws Exception {
        Path serial = Files.createTempFile("cpuid-guest", ".txt");
        try {
            Process p = new ProcessBuilder(QemuQmp.find().orElseThrow().toString(), "-M", "pc", "-accel", "tcg", "-cpu", model,
                    "-m", "128", "-display", "none", "-nodefaults", "-no-reboot", "-monitor", "none",
                    "-serial", "file:" + serial, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", guest.toString())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(model + ": the cpuid guest did not finish under QEMU");
            }
            String out = Files.readString(serial);
            assertThat(out).as(model + ": guest output").contains("cpuid: done");
            Map<String, long[]> m = new TreeMap<>();
            Matcher x = LINE.matcher(out);
            while (x.find()) {
                long f = Long.parseLong(x.group(1), 16);
                int sub = Integer.parseInt(x.group(2), 16);
                if (!compared(f, sub)) continue;
                m.put(key(f, sub), new long[]{Long.parseLong(x.group(3), 16), Long.parseLong(x.group(4), 16),
                        Long.parseLong(x.group(5), 16), Long.parseLong(x.group(6), 16)});
            }
            // 0x80000008: only EAX (address widths); EBX holds feature bits TCG filters.
            Matcher y = LINE.matcher(out);
            while (y.find()) if (y.group(1).equals("80000008")) m.put(key(0x80000008L, 0), new long[]{Long.parseLong(y.group(3), 16), 0, 0, 0});
            return m;
        } finally {
            Files.deleteIfExists(serial);
        }
    }

    private static String key(long f, int sub) {
        return String.format("%08x.%02x", f, sub);
    }

    @Test
    void everyModelsUnfilteredLeavesEqualWhatAGuestReadsUnderQemu() throws Exception {
        List<String> failures = new ArrayList<>();
        for (CpuModel model : CpuModels.all()) {
            Map<String, long[]> q = qemu(model.name());
            assertThat(q).as(model.name()).containsKeys(key(0, 0), key(0x80000000L, 0));
            // The model as defined (no KVM accelerator defaults: QEMU runs it under TCG here).
            CpuidEntries ours = CpuTopology.forVcpu(CpuidBuilder.build(model, model.features()).entries(), 0, 1, true);
            for (Map.Entry<String, long[]> e : q.entrySet()) {
                long f = Long.parseLong(e.getKey().substring(0, 8), 16);
                int sub = Integer.parseInt(e.getKey().substring(9), 16);
                long[] o = {0, 0, 0, 0};
                for (CpuidEntries.Entry c : ours.entries()) {
                    if (Integer.toUnsignedLong(c.function) == f && c.index == sub) {
                        o = new long[]{Integer.toUnsignedLong(c.eax), Integer.toUnsignedLong(c.ebx), Integer.toUnsignedLong(c.ecx),
                                Integer.toUnsignedLong(c.edx)};
                    }
                }
                if (f == 0x80000008L) o = new long[]{o[0], 0, 0, 0};
                if (!java.util.Arrays.equals(o, e.getValue())) {
                    failures.add(String.format("%s: CPUID %s is %s under QEMU, %s here", model.name(), e.getKey(),
                            hex(e.getValue()), hex(o)));
                }
            }
        }
        assertThat(failures).as("differences from QEMU's guest-visible leaves").isEmpty();
    }

    private static String hex(long[] r) {
        return String.format("%08x %08x %08x %08x", r[0], r[1], r[2], r[3]);
    }
}
