package dev.vmm.virtio.balloon;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Jazzer target for the balloon's queues: the input is a guest's RAM image (descriptor tables,
 * available rings, PFN arrays, stats records, reported ranges: the rings of the four queues sit at
 * the start of RAM, see the seeds) plus a control byte choosing the host's moves. Whatever the
 * guest wrote, nothing may escape the device, nothing may be written outside guest RAM, and every
 * range given to the host must be inside RAM and 4 KiB aligned. Without JAZZER_FUZZ this replays
 * the seed corpus under src/test/resources (CI); {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-virtio -am test
 * -Dtest=BalloonQueueFuzzTest} fuzzes.
 */
class BalloonQueueFuzzTest {

    @FuzzTest(maxDuration = "60s")
    void queues(byte[] input) { exercise(input); }

    /** The well-formed seed really reaches the inflate and reporting paths (else the corpus guards little). */
    @org.junit.jupiter.api.Test
    void validSeedReleasesPages() throws Exception {
        try (var in = getClass().getResourceAsStream("BalloonQueueFuzzTestInputs/queues/valid-all-queues")) {
            java.util.List<long[]> released = exercise(in.readAllBytes());
            org.assertj.core.api.Assertions.assertThat(released).extracting(r -> r[0] + ":" + r[1])
                    .contains(200 * 4096L + ":" + 3 * 4096L, 0x80000L + ":" + 0x10000L);
        }
    }

    /**
     * Guest RAM shared by every input (profiled: a shared arena allocated and closed per input — the
     * close is a handshake with every thread of the JVM — dominated the run). Each input gets a new
     * balloon, queues and recorders; the RAM is made as new by {@link TestRings#rewind}: guards checked,
     * every byte zeroed, allocator back at the base, so the rings land where the seeds expect them.
     */
    private static final dev.vmm.virtio.queue.TestRings RINGS = new dev.vmm.virtio.queue.TestRings(BalloonRig.RAM_BASE, BalloonRig.RAM);

    /** Returns the ranges the host was asked to release (for the seed check; the first {@link BalloonRig#KEPT} are readable). */
    static synchronized java.util.List<long[]> exercise(byte[] input) {
        if (input.length == 0) return java.util.List.of();
        int control = input[0] & 0xFF;
        RINGS.rewind();
        try (BalloonRig rig = new BalloonRig(new VirtioBalloon.Options(true, true), RINGS, false)) {
            int n = (int) Math.min(input.length - 1, BalloonRig.RAM);
            rig.rings.memory().write(0, input, 1, n);
            try {
                rig.activate();
            } catch (Exception refused) {
                return java.util.List.of(); // a ring the transport would not have accepted
            }
            if ((control & 1) != 0) rig.balloon.setPollIntervalSeconds(1);
            for (int round = 0; round < 1 + ((control >> 1) & 3); round++) {
                for (int q = 0; q < rig.balloon.queueCount(); q++) rig.balloon.queueNotify(q);
                rig.timers.runAll();
                rig.balloon.setTargetBytes((control & 0x10) != 0 ? BalloonRig.RAM / 2 : BalloonRig.RAM);
                rig.balloon.writeConfig(4 + (control >> 6), 1 + ((control >> 5) & 1), control * 0x01010101L);
                rig.balloon.readConfig(control & 7, 4);
            }
            // Every range was checked as the host got it (BalloonRig.Releases: inside RAM, not empty,
            // 4 KiB aligned, else an AssertionError out of the pass), in O(1) per range.
            rig.balloon.quiesce();
            rig.balloon.saveState();
            return rig.released;
        }
    }
}
