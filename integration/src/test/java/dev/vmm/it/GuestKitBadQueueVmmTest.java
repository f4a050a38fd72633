package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guest-controlled descriptors through the real binary: the guest kit's {@code badqueue} guest
 * puts one malformed chain (or ring index) per case on the first of two virtio-blk disks and
 * checks, from inside the guest, that the device sets DEVICE_NEEDS_RESET and raises a
 * configuration change (ISR bit 1), that the second disk still reads and writes correctly, and
 * that a reset and re-initialisation make the first disk work again. Here we check that the guest
 * reported every case, exited with status 0 (the VMM kept running throughout), and that the VMM
 * logged exactly one clear line per bad chain on stderr.
 *
 * <p>One guest run does all cases in sequence (a few seconds); the parameterized test then looks
 * at each case's part of that run. There is no QEMU comparison: QEMU reacts to most of these by
 * marking the device broken ({@code virtio_error}: "Looped descriptor", ...) and stops processing
 * its queues without setting DEVICE_NEEDS_RESET for a modern driver to see, so the guest's checks
 * would fail there by design.
 */
class GuestKitBadQueueVmmTest {
    private static Vmm.Result run;

    @BeforeAll
    static void runAllCases(@TempDir Path dir) throws Exception {
        GuestNeeds.kvmAndGuestKit();
        Path d0 = GuestKitBlkVmmTest.rawDisk(dir, "d0.img", 4 << 20);
        Path d1 = GuestKitBlkVmmTest.rawDisk(dir, "d1.img", 4 << 20);
        run = Vmm.run(Duration.ofSeconds(180), List.of("run", "--kernel",
                GuestKit.get().image("badqueue", GuestKit.Format.PVH).toString(), "--cmdline", "case=all",
                "--disk", "path=" + d0, "--disk", "path=" + d1));
    }

    @Test
    void guestRanEveryCaseAndExitedNormally() {
        assertThat(run.status()).as(run.describe()).isZero();
        assertThat(run.stdout()).as(run.describe()).contains("badqueue: all 9 cases ok");
    }

    @Test
    void exactlyOneLogLinePerBadChainAndNothingElse() {
        List<String> lines = run.stderr().lines().filter(l -> l.contains("needs reset")).toList();
        assertThat(lines).as(run.describe()).hasSize(9);
        // All of them about disk 0 (the first virtio-blk function), none about disk 1.
        String disk0 = lines.get(0).replaceFirst("^vmm: WARNING: (\\S+ virtio-blk): .*$", "$1");
        assertThat(lines).allMatch(l -> l.startsWith("vmm: WARNING: " + disk0 + ": device needs reset: queue 0: "));
        // Nothing else went wrong: no stack traces, no internal errors.
        assertThat(run.stderr()).doesNotContain("Exception", "internal error", "\tat ");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "loop              | is longer than queue size 8 (a loop)",
            "too-long          | is longer than queue size 8 (a loop)",
            "outside-ram       | buffer 0x7000000000+0x200 is not inside one region of guest RAM",
            "wrong-direction   | descriptor 2 of chain 0 is device-readable after a device-writable one",
            "bad-indirect      | is 24 bytes: not a non-zero multiple of 16",
            "avail-idx-jump    | more than queue size 8",
            "head-out-of-range | names descriptor 11, queue size is 8",
            "next-out-of-range | has next 9, queue size is 8",
            "no-status         | has no writable status byte",
    })
    void caseSetNeedsResetAndWasLoggedOnce(String name, String logged) {
        // In the guest: NEEDS_RESET + config interrupt, disk 1 fine, disk 0 fine after reset.
        assertThat(run.stdout()).as(run.describe()).containsPattern("badqueue: case " + name + " ok \\(status 0x4f, isr 0x2\\)");
        assertThat(run.stderr().lines().filter(l -> l.contains("needs reset") && l.contains(logged)))
                .as(run.describe()).isNotEmpty();
    }
}
