package dev.vmm.it;

import dev.vmm.it.GuestKit.Format;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 14, test 4: the guest kit's {@code cpuid} guest prints every leaf; under {@code --cpu MODEL}
 * its output must equal QEMU's for the same guest and {@code -cpu MODEL} under KVM on the same host
 * (both filter against the same KVM), APIC-id fields aside. Needs /dev/kvm; the guest itself is
 * checked under QEMU's TCG everywhere.
 */
@Timeout(600)
class CpuidGuestTest {
    private static final Pattern LINE = Pattern.compile("(?m)^cpuid ([0-9a-f]{8}) ([0-9a-f]{2}): ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})\\r?$");
    private static GuestKit kit;

    @BeforeAll
    static void kit() {
        kit = GuestNeeds.guestKit();
    }

    /** "FFFFFFFF SS" → the four registers, with the fields that carry the vCPU's APIC id cleared. */
    static Map<String, long[]> leaves(String serial) {
        Map<String, long[]> m = new TreeMap<>();
        Matcher x = LINE.matcher(serial);
        while (x.find()) {
            long f = Long.parseLong(x.group(1), 16);
            long[] r = {Long.parseLong(x.group(3), 16), Long.parseLong(x.group(4), 16), Long.parseLong(x.group(5), 16),
                    Long.parseLong(x.group(6), 16)};
            if (f == 1) r[1] &= 0x00ffffffL;                 // initial APIC id
            if (f == 0xb || f == 0x1f) r[3] = 0;             // x2APIC id
            if (f == 0x8000001eL) { r[0] = 0; r[1] &= ~0xffL; } // extended APIC id, core id
            m.put(x.group(1) + " " + x.group(2), r);
        }
        return m;
    }

    static List<String> differences(Map<String, long[]> ours, Map<String, long[]> qemu) {
        List<String> d = new ArrayList<>();
        for (String k : new java.util.TreeSet<>(concat(ours.keySet(), qemu.keySet()))) {
            long[] a = ours.get(k), b = qemu.get(k);
            if (a == null || b == null || !java.util.Arrays.equals(a, b)) {
                d.add(k + ": vmm " + fmt(a) + " qemu " + fmt(b));
            }
        }
        return d;
    }

    private static java.util.Set<String> concat(java.util.Set<String> a, java.util.Set<String> b) {
        java.util.Set<String> s = new java.util.HashSet<>(a);
        s.addAll(b);
        return s;
    }

    private static String fmt(long[] r) {
        return r == null ? "(absent)" : String.format("%08x %08x %08x %08x", r[0], r[1], r[2], r[3]);
    }

    @Test
    void theGuestPrintsEveryLeafUnderQemuTcg() throws Exception {
        assumeTrue(Qemu.find().isPresent(), "qemu-system-x86_64 is not installed");
        Qemu.Result r = Qemu.run(kit.image("cpuid", Format.PVH), Qemu.Config.defaults().withAccel("tcg")
                .withExtraArgs("-cpu", "Haswell-noTSX"));
        assertThat(r.serial()).as(r.describe()).contains("cpuid: done").endsWith("EXIT 0\n");
        Map<String, long[]> l = leaves(r.serial());
        assertThat(l).containsKeys("00000000 00", "00000001 00", "00000007 00", "0000000d 00", "40000000 00", "80000000 00",
                "80000004 00");
        assertThat(l.get("00000000 00")[0]).as("every basic leaf up to the maximum").isEqualTo(
                l.keySet().stream().filter(k -> k.startsWith("000000")).mapToLong(k -> Long.parseLong(k.substring(0, 8), 16)).max().orElseThrow());
    }

    @ParameterizedTest
    @ValueSource(strings = {"Opteron_G5", "Haswell-noTSX", "qemu64", "host"})
    void vmmGivesTheGuestWhatQemuGivesIt(String model) throws Exception {
        GuestNeeds.kvm("the comparison needs both VMMs on KVM");
        assumeTrue(Qemu.find().isPresent(), "qemu-system-x86_64 is not installed");
        HostKindSkip.unless(!Files.exists(Path.of("/sys/module/kvm_pvm")) || !model.equals("host"),
                "PVM host: vmm hides kvm-pv-unhalt/-ipi/-sched-yield from 'host' (hypercalls do not work), QEMU does not");
        Path guest = kit.image("cpuid", Format.PVH);
        Vmm.Result v = Vmm.run(Duration.ofSeconds(300), "run", "--kernel", guest.toString(), "--cpu", model, "--memory", "128M");
        assertThat(v.status()).as(v.describe()).isZero();
        Qemu.Result q = Qemu.run(guest, Qemu.Config.defaults().withAccel("kvm").withExtraArgs("-cpu", model));
        assertThat(q.serial()).as(q.describe()).contains("cpuid: done");
        assertThat(v.stdout()).contains("cpuid: done");
        assertThat(differences(leaves(v.stdout()), leaves(q.serial()))).as("CPUID under vmm vs QEMU, --cpu " + model).isEmpty();
    }
}
