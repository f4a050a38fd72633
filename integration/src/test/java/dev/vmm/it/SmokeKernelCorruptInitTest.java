package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The negative half of the smoke boot (issue #21): the same root disk with its /sbin/init
 * corrupted (the ELF header zeroed in the image, as a disk path that garbles data would) must not
 * pass as a good boot. A good boot ends on init's own marker line (read from the disk by init) or,
 * on a PVM host where init cannot make system calls, on "Attempted to kill init! exitcode=0x0000000b"
 * ({@link SmokeKernel#PANIC}); a corrupted init ends on "No working init found", which matches
 * neither. Each half boots the good image first, so the negative result cannot come from a boot
 * that fails for another reason. QEMU (TCG) is the reference and runs on any host; the vmm half
 * needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES) // two boots, budget 10 min each under emulation, plus setup
class SmokeKernelCorruptInitTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(600);
    private static final ConsoleWatcher.Milestone NO_WORKING_INIT =
            ConsoleWatcher.Milestone.of("no working init", "Kernel panic - not syncing: No working init found");

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        Path qemu = SmokeGuest.needQemu();
        Path good = SmokeKernel.makeRootfs(dir);
        Path bad = corruptInit(good, dir.resolve("bad-init.img"));
        // TCG runs guest user mode on any host (no PVM limits), and there is no kvm-clock.
        List<ConsoleWatcher.Milestone> start = List.of(SmokeKernel.LINUX_VERSION, SmokeKernel.VIRTIO_BLK,
                SmokeKernel.ROOT_MOUNTED, SmokeKernel.RUN_SBIN_INIT);
        bootAndExpect(qemuCommand(qemu, good), concat(start, SmokeKernel.INIT_RAN, SmokeKernel.REBOOT));
        String console = bootAndExpect(qemuCommand(qemu, bad), concat(start, NO_WORKING_INIT));
        assertThat(console).doesNotContain("smoke-init: marker").doesNotContain("Attempted to kill init");
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        GuestNeeds.kvm();
        Path good = SmokeKernel.makeRootfs(dir);
        Path bad = corruptInit(good, dir.resolve("bad-init.img"));
        bootAndExpect(vmmCommand(good), SmokeKernel.rootDiskMilestones());
        List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(SmokeKernel.rootDiskMilestones());
        wanted.removeIf(m -> m == SmokeKernel.PANIC || m == SmokeKernel.INIT_RAN || m == SmokeKernel.REBOOT);
        wanted.add(NO_WORKING_INIT);
        String console = bootAndExpect(vmmCommand(bad), wanted);
        assertThat(console).doesNotContain("smoke-init: marker").doesNotContain("Attempted to kill init");
    }

    /** A copy of {@code image} whose only ELF file, /sbin/init, has its 64-byte header zeroed. */
    static Path corruptInit(Path image, Path out) throws Exception {
        byte[] b = Files.readAllBytes(image);
        List<Integer> elf = new ArrayList<>();
        for (int i = 0; i + 4 <= b.length; i++) {
            if (b[i] == 0x7f && b[i + 1] == 'E' && b[i + 2] == 'L' && b[i + 3] == 'F') elf.add(i);
        }
        assertThat(elf).as("ELF headers in the root image (only /sbin/init)").hasSize(1);
        java.util.Arrays.fill(b, elf.getFirst(), elf.getFirst() + 64, (byte) 0);
        Files.write(out, b);
        return out;
    }

    private static List<String> qemuCommand(Path qemu, Path disk) {
        return List.of(qemu.toString(), "-M", "pc", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults",
                "-no-reboot", "-display", "none", "-serial", "stdio", "-monitor", "none",
                "-kernel", SmokeKernel.vmlinux().toString(), "-append", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA),
                "-drive", "file=" + disk + ",if=virtio,format=raw");
    }

    private static List<String> vmmCommand(Path disk) {
        return List.of(Vmm.binary().toString(), "run", "--kernel", SmokeKernel.vmlinux().toString(), "--memory", "256M",
                "--cmdline", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA), "--disk", "path=" + disk);
    }

    /** Boots {@code cmd}, asserts every milestone in order, returns the whole console. */
    private static String bootAndExpect(List<String> cmd, List<ConsoleWatcher.Milestone> wanted) throws Exception {
        System.out.println("starting: " + String.join(" ", cmd));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher w = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            ConsoleWatcher.Result r = w.await(wanted, BOOT_BUDGET);
            assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(40)).isTrue();
            assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
            // panic=-1 or init's reboot: the guest restarts, -no-reboot / the vmm then end.
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the process ends after the boot:\n%s", r.describe(20)).isTrue();
            assertThat(w.awaitEnd(Duration.ofSeconds(30))).isTrue();
            return String.join("\n", w.transcript().stream().map(ConsoleWatcher.Line::text).toList());
        } finally {
            p.destroyForcibly();
        }
    }

    private static List<ConsoleWatcher.Milestone> concat(List<ConsoleWatcher.Milestone> a, ConsoleWatcher.Milestone... b) {
        List<ConsoleWatcher.Milestone> l = new ArrayList<>(a);
        l.addAll(List.of(b));
        return l;
    }
}
