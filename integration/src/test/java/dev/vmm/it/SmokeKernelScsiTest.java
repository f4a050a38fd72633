package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CI smoke kernel booted from its ext2 root on virtio-scsi (one vCPU): Linux's virtio_scsi
 * driver probes the controller, the SCSI mid layer scans target 0 (INQUIRY, REPORT LUNS), sd reads
 * the capacity (READ CAPACITY(16)), the caching mode page (MODE SENSE) and the VPD pages, the root
 * is mounted read-write from /dev/sda and init is started (on a PVM host init's first system call
 * faults and the kernel panics, which with panic=-1 resets and ends the VMM with status 0).
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES) // one boot, budget 15 min (SmokeKernel.bootBudget(900)), plus setup
class SmokeKernelScsiTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void bootsToInitFromAnExt2RootOnVirtioScsi(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        long blocks = Files.size(root) / 512;
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                "--memory", "256M", "--cpus", "1",
                "--cmdline", SmokeKernel.defaultCmdline("root=/dev/sda rw rootfstype=ext2"),
                "--scsi", "disk=" + root, "--rng")); // entropy from the host, as VmmSmokeKernelTest: crng init is slow otherwise
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(List.of(
                    SmokeKernel.LINUX_VERSION,
                    SmokeKernel.KVM_CLOCK,
                    ConsoleWatcher.Milestone.of("PCI probe of the virtio-scsi function", "pci 0000:00:0\\d\\.0: \\[1af4:1048\\]"),
                    ConsoleWatcher.Milestone.of("virtio_scsi host", "scsi host\\d+: Virtio SCSI HBA"),
                    ConsoleWatcher.Milestone.of("INQUIRY: a direct-access LUN 0",
                            "scsi \\d+:0:0:0: Direct-Access +VMM +VIRTUAL DISK +0001 PQ: 0 ANSI: 6"),
                    ConsoleWatcher.Milestone.of("sda capacity",
                            "sd \\d+:0:0:0: \\[sda\\] " + blocks + " 512-byte logical blocks"),
                    ConsoleWatcher.Milestone.of("caching mode page", "sd \\d+:0:0:0: \\[sda\\] Write cache: enabled"),
                    ConsoleWatcher.Milestone.of("sda attached", "sd \\d+:0:0:0: \\[sda\\] Attached SCSI disk"),
                    SmokeKernel.ROOT_MOUNTED,
                    SmokeKernel.RUN_SBIN_INIT));
            wanted.addAll(SmokeKernel.hostNeedsPvmWorkarounds() ? List.of(SmokeKernel.PANIC)
                    : List.of(SmokeKernel.INIT_RAN, SmokeKernel.REBOOT));
            ConsoleWatcher.Result r = console.await(wanted, BOOT_BUDGET);
            System.out.println("vmm smoke boot on virtio-scsi:\n" + r.describe(0));
            assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(60)).isTrue();
            assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
            // No SCSI error on the way (a CHECK CONDITION Linux did not expect is logged with "Sense Key").
            assertThat(console.transcript()).as("no unexpected sense").noneMatch(l -> l.text().contains("Sense Key"));
            // Block limits sd accepts (it warns and ignores an optimal size that is not whole physical blocks).
            assertThat(console.transcript()).as("VPD B0h accepted").noneMatch(l -> l.text().contains("not a multiple of"));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
            assertThat(p.exitValue()).isZero();
        } finally {
            p.destroyForcibly();
        }
    }
}
