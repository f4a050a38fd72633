package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The guest kit booted by the real vmm binary, in both boot formats, and compared with QEMU. */
class GuestKitVmmTest {
    private static final Duration T = Duration.ofSeconds(120);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    private static Vmm.Result boot(String guest, GuestKit.Format f, String... extra) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("run", "--kernel", GuestKit.get().image(guest, f).toString()));
        args.addAll(List.of(extra));
        return Vmm.run(T, args);
    }

    @ParameterizedTest
    @EnumSource(GuestKit.Format.class)
    void helloPrintsAndExitsZero(GuestKit.Format f) throws Exception {
        Vmm.Result r = boot("hello", f, "--cmdline", "hello-arg=1");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("Hello from the guest kit", "cmdline: hello-arg=1", "EXIT 0");
        assertThat(r.stderr()).contains("guest requested exit with status 0");
    }

    @Test
    void demoReportsMemoryCpusAndVendor() throws Exception {
        Vmm.Result r = boot("demo", GuestKit.Format.PVH, "--memory", "192M", "--cpus", "2");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).containsPattern("memory: 19[01] MiB").contains("cpus: 2").containsPattern("cpu vendor: (GenuineIntel|AuthenticAMD)");
    }

    @Test
    void noArgumentsBootsTheBuiltInDemo() throws Exception {
        Vmm.Result r = Vmm.run(T);
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("vmm demo guest", "demo: ok");
    }

    @Test
    void exitsGuestMakesPioAndMmioExits() throws Exception {
        Vmm.Result r = boot("exits", GuestKit.Format.PVH, "--cmdline", "count=2000");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("exits: done pio=2000 mmio=2000");
    }

    @Test
    void memtestCoversAllRam() throws Exception {
        Vmm.Result r = boot("memtest", GuestKit.Format.PVH, "--memory", "96M");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).containsPattern("memtest: 9[0-5] MiB tested").contains("ok");
    }

    @Test
    void smpAllCpusCheckIn() throws Exception {
        Vmm.Result r = boot("smp", GuestKit.Format.PVH, "--cpus", "4");
        assertThat(r.status()).as(r.describe()).isZero();
        assertThat(r.stdout()).contains("smp: 4/4 CPUs checked in");
    }

    @Test
    void sameOutputAsQemu() throws Exception {
        assumeTrue(Qemu.find().isPresent(), "qemu-system-x86_64 is not installed");
        var kernel = GuestKit.get().image("hello", GuestKit.Format.PVH);
        Qemu.Result q = Qemu.run(kernel, Qemu.Config.defaults().withCmdline("same=1"));
        Vmm.Result v = Vmm.run(T, "run", "--kernel", kernel.toString(), "--cmdline", "same=1");
        assertThat(v.status()).as(v.describe()).isZero();
        assertThat(q.guestExitCode()).hasValue(0);
        assertThat(normalise(v.stdout())).isEqualTo(normalise(q.serial()));
    }

    /** Line endings and anything before the guest's first line (firmware banners) do not count. */
    private static String normalise(String s) {
        String t = s.replace("\r", "");
        int i = t.indexOf("Hello from the guest kit");
        return i >= 0 ? t.substring(i).strip() : t.strip();
    }
}
