package dev.vmm.virtio.balloon;

import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.queue.TestRings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static dev.vmm.virtio.balloon.VirtioBalloon.DEFLATE;
import static dev.vmm.virtio.balloon.VirtioBalloon.INFLATE;
import static dev.vmm.virtio.balloon.VirtioBalloon.REPORTING;
import static dev.vmm.virtio.balloon.VirtioBalloon.STATS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The balloon's queues and config space over test guest RAM, driven as a guest driver would. */
@Timeout(30)
class VirtioBalloonTest {
    private static final VirtioBalloon.Options ALL = new VirtioBalloon.Options(true, true);

    @Test
    void identityFeaturesAndQueuesFollowTheOptions() {
        try (BalloonRig plain = new BalloonRig(VirtioBalloon.Options.DEFAULT); BalloonRig all = new BalloonRig(ALL)) {
            VirtioBalloon p = plain.balloon, a = all.balloon;
            assertThat(p.deviceType()).isEqualTo(VirtioDeviceType.BALLOON);
            assertThat(p.deviceType().id()).as("virtio device id").isEqualTo(5);
            assertThat(p.queueCount()).isEqualTo(3);
            assertThat(a.queueCount()).isEqualTo(4);
            assertThat(p.configSize()).isEqualTo(8);
            assertThat(VirtioFeatures.has(p.deviceFeatures(), VirtioFeatures.VIRTIO_F_VERSION_1)).isTrue();
            assertThat(p.deviceFeatures() & 0x3F).isEqualTo(VirtioBalloon.F_STATS_VQ);
            assertThat(a.deviceFeatures() & 0x3F).isEqualTo(VirtioBalloon.F_STATS_VQ | VirtioBalloon.F_DEFLATE_ON_OOM
                    | VirtioBalloon.F_REPORTING);
        }
    }

    @Test
    void targetGoesToNumPagesAndActualComesBack() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT)) {
            VirtioBalloon b = rig.balloon;
            b.setTargetBytes(BalloonRig.RAM); // nothing to give
            assertThat(b.readConfig(0, 4)).isZero();
            rig.activate();
            b.setTargetBytes(BalloonRig.RAM - 40 * VirtioBalloon.PAGE_SIZE);
            assertThat(b.readConfig(0, 4)).isEqualTo(40);
            assertThat(b.readConfig(0, 2)).isEqualTo(40);
            assertThat(rig.irq.configChanges).isEqualTo(1);
            b.setTargetBytes(BalloonRig.RAM * 4);             // above RAM: an empty balloon
            assertThat(b.targetPages()).isZero();
            b.setTargetBytes(1);                               // below one page: everything but less than a page
            assertThat(b.targetPages()).isEqualTo(255);

            b.writeConfig(0, 4, 99);                           // num_pages is the host's
            assertThat(b.targetPages()).isEqualTo(255);
            b.writeConfig(4, 4, 30);
            assertThat(b.actualPages()).isEqualTo(30);
            assertThat(b.readConfig(4, 4)).isEqualTo(30);
            assertThat(b.readConfig(0, 8)).isEqualTo(255L | (30L << 32));
            assertThat(b.guestBytes()).isEqualTo(BalloonRig.RAM - 30 * VirtioBalloon.PAGE_SIZE);
            b.writeConfig(4, 4, 30);                           // unchanged: no second event
            b.writeConfig(5, 1, 1);                            // byte 1 of actual: 30 + 256
            assertThat(b.actualPages()).isEqualTo(286);
            assertThat(rig.actualChanges).containsExactly(30L, 286L);
            assertThat(b.readConfig(6, 4)).isZero();           // crosses the end
            b.writeConfig(8, 4, 1);                            // beyond: ignored
            assertThat(b.actualPages()).isEqualTo(286);
        }
    }

    @Test
    void inflateReleasesValidatedPagesInMergedRuns() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            int head = rig.postPfns(INFLATE, 200, 201, 202, 210, 203);
            assertThat(rig.released).extracting(r -> r[0] + ":" + r[1])
                    .containsExactly(200 * 4096L + ":" + 3 * 4096L, 210 * 4096L + ":4096", 203 * 4096L + ":4096");
            TestRings.Used u = rig.used(INFLATE);
            assertThat(u).isEqualTo(new TestRings.Used(head, 0));
            assertThat(rig.irq.used).containsExactly(INFLATE);
            assertThat(rig.balloon.releasedBytes()).isEqualTo(5 * 4096L);
            assertThat(rig.log).isEmpty();
        }
    }

    /** A driver repeating a PFN, or counting down, costs one host call per run, not one per PFN. */
    @Test
    void repeatedAndDescendingPfnsJoinTheCurrentRun() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            long[] same = new long[1000];
            java.util.Arrays.fill(same, 7);
            rig.postPfns(INFLATE, same);
            assertThat(rig.released).extracting(r -> r[0] + ":" + r[1]).containsExactly(7 * 4096L + ":4096");
            assertThat(rig.balloon.releasedBytes()).as("each occurrence counted, as when each was its own call")
                    .isEqualTo(1000 * 4096L);

            rig.postPfns(INFLATE, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10);
            rig.postPfns(INFLATE, 30, 31, 30, 31, 32, 29, 40, 30);
            assertThat(rig.released).extracting(r -> r[0] + ":" + r[1]).containsExactly(7 * 4096L + ":4096",
                    10 * 4096L + ":" + 11 * 4096L, 29 * 4096L + ":" + 4 * 4096L, 40 * 4096L + ":4096", 30 * 4096L + ":4096");
            assertThat(rig.balloon.releasedBytes()).isEqualTo((1000 + 11 + 8) * 4096L);
            assertThat(rig.log).isEmpty();
        }
    }

    /** The rig keeps only the first ranges; it counts them all and refuses to pretend it kept more. */
    @Test
    void rigCountsEveryReleaseButKeepsTheFirst() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            long[] everyOther = new long[100];
            for (int i = 0; i < everyOther.length; i++) everyOther[i] = 2L * i;
            rig.postPfns(INFLATE, everyOther);
            assertThat(rig.released.ranges).isEqualTo(100);
            assertThat(rig.released.bytes).isEqualTo(100 * 4096L);
            assertThat(rig.released.get(BalloonRig.KEPT - 1)).containsExactly(2L * (BalloonRig.KEPT - 1) * 4096, 4096L);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> rig.released.get(BalloonRig.KEPT))
                    .isInstanceOf(AssertionError.class).hasMessageContaining("not kept");
        }
    }

    @Test
    void pagesOutsideRamAreRefusedWithOneLineAndTheDeviceGoesOn() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            int head = rig.postPfns(INFLATE, 250, 256, 0xFFFF_FFFFL, 251, 4096);
            assertThat(rig.released).extracting(r -> r[0] + ":" + r[1]).containsExactly(250 * 4096L + ":" + 2 * 4096L);
            assertThat(rig.log).hasSize(1);
            assertThat(rig.log.get(0)).contains("inflate", "3 page(s) outside guest RAM", "0x100");
            assertThat(rig.balloon.refusedPages()).isEqualTo(3);
            assertThat(rig.used(INFLATE)).isEqualTo(new TestRings.Used(head, 0));
            assertThat(rig.irq.needsReset).isEmpty();
            rig.postPfns(INFLATE, 100);
            assertThat(rig.released).hasSize(2);
            assertThat(rig.released.get(1)).containsExactly(100 * 4096L, 4096L);
        }
    }

    @Test
    void deflateGivesNothingBackButValidates() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            int head = rig.postPfns(DEFLATE, 200, 300);
            assertThat(rig.released).isEmpty();
            assertThat(rig.used(DEFLATE)).isEqualTo(new TestRings.Used(head, 0));
            assertThat(rig.log).singleElement().asString().contains("deflate", "1 page(s)");
        }
    }

    @Test
    void aHostThatCannotReleaseIsLoggedNotFatal() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            rig.hostFails = true;
            rig.postPfns(INFLATE, 10, 11);
            assertThat(rig.log).singleElement().asString().contains("could not release 8192 bytes");
            assertThat(rig.balloon.releasedBytes()).isZero();
            assertThat(rig.irq.needsReset).isEmpty();
        }
    }

    @Test
    void statsAreReadHeldAndReturnedWhenPolled() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            assertThat(rig.balloon.stats()).isEqualTo(BalloonStats.none());
            rig.now = 5000;
            int head = rig.postStats(BalloonStats.MEMFREE, 123456789L, BalloonStats.MEMTOT, 1L << 40, 99, 7,
                    BalloonStats.HTLB_PGFAIL, 3);
            BalloonStats s = rig.balloon.stats();
            assertThat(s.value(BalloonStats.MEMFREE)).isEqualTo(123456789L);
            assertThat(s.value(BalloonStats.MEMTOT)).isEqualTo(1L << 40);
            assertThat(s.value(BalloonStats.HTLB_PGFAIL)).isEqualTo(3);
            assertThat(s.value(BalloonStats.SWAP_IN)).isEqualTo(BalloonStats.UNSET);
            assertThat(s.lastUpdate()).isEqualTo(5000);
            assertThat(rig.used(STATS)).isNull();                // held by the device
            assertThat(rig.timers.tasks).isEmpty();             // no polling yet

            rig.balloon.setPollIntervalSeconds(2);
            assertThat(rig.timers.delays).containsExactly(2_000_000_000L);
            rig.timers.runAll();
            assertThat(rig.used(STATS)).isEqualTo(new TestRings.Used(head, 0));
            assertThat(rig.irq.used).containsExactly(STATS);
            assertThat(rig.timers.tasks).hasSize(1);            // re-armed
            rig.now = 6000;
            rig.postStats(BalloonStats.MEMFREE, 5);
            assertThat(rig.balloon.stats().value(BalloonStats.MEMFREE)).isEqualTo(5);
            assertThat(rig.balloon.stats().value(BalloonStats.MEMTOT)).isEqualTo(1L << 40); // kept from before
            assertThat(rig.balloon.stats().lastUpdate()).isEqualTo(6000);

            rig.balloon.setPollIntervalSeconds(0);
            assertThat(rig.timers.tasks).isEmpty();
            assertThatThrownBy(() -> rig.balloon.setPollIntervalSeconds(-1)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> rig.balloon.setPollIntervalSeconds(1L << 32)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void reportedRangesAreReleasedAndUnalignedOnesRefused() throws Exception {
        try (BalloonRig rig = new BalloonRig(ALL).activate()) {
            TestRings.Driver d = rig.drivers.get(REPORTING);
            int head = d.add(new long[] {0x80000, 0xC0000}, new int[] {0x20000, 0x1000}, new boolean[] {true, true});
            rig.balloon.queueNotify(REPORTING);
            assertThat(rig.released).extracting(r -> r[0] + ":" + r[1]).containsExactly(0x80000L + ":" + 0x20000L,
                    0xC0000L + ":" + 0x1000L);
            assertThat(rig.used(REPORTING)).isEqualTo(new TestRings.Used(head, 0));

            int bad = d.add(new long[] {0x90800, 0xA0000}, new int[] {0x1000, 0x1800}, new boolean[] {true, true});
            rig.balloon.queueNotify(REPORTING);
            assertThat(rig.released).hasSize(2);
            assertThat(rig.log).hasSize(2).allMatch(l -> l.contains("not 4 KiB aligned"));
            assertThat(rig.used(REPORTING)).isEqualTo(new TestRings.Used(bad, 0));
            assertThat(rig.irq.needsReset).isEmpty();
        }
    }

    @Test
    void aMalformedRingPutsTheDeviceIntoNeedsResetWithoutThrowing() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            TestRings.Driver d = rig.drivers.get(INFLATE);
            d.writeDesc(0, 0x7FFF_0000L, 16, 0, 0);           // buffer outside RAM
            d.publishRaw(0);
            rig.balloon.queueNotify(INFLATE);
            assertThat(rig.irq.needsReset).singleElement().asString().contains("not inside one region of guest RAM");
            rig.postPfns(INFLATE, 5);                          // stopped until reset
            assertThat(rig.released).isEmpty();
        }
    }

    @Test
    void stateSurvivesQuiesceSaveAndLoad() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate();
             BalloonRig other = new BalloonRig(VirtioBalloon.Options.DEFAULT)) {
            rig.balloon.setTargetBytes(BalloonRig.RAM - 64 * 4096);
            rig.balloon.writeConfig(4, 4, 60);
            rig.balloon.setPollIntervalSeconds(7);
            rig.postStats(BalloonStats.MEMFREE, 1);
            int[] held = rig.balloon.quiesce();
            assertThat(held).containsExactly(0, 0, 1);
            byte[] state = rig.balloon.saveState();
            other.balloon.loadState(rig.balloon.stateVersion(), state);
            assertThat(other.balloon.targetPages()).isEqualTo(64);
            assertThat(other.balloon.actualPages()).isEqualTo(60);
            assertThat(other.balloon.pollIntervalSeconds()).isEqualTo(7);
            assertThatThrownBy(() -> other.balloon.loadState(1, new byte[3])).hasMessageContaining("malformed");
            byte[] wrongRam = state.clone();
            wrongRam[16]++;
            assertThatThrownBy(() -> other.balloon.loadState(1, wrongRam)).hasMessageContaining("bytes of RAM");
        }
    }

    @Test
    void resetForgetsTheQueuesAndTheGuestsBalloon() throws Exception {
        try (BalloonRig rig = new BalloonRig(VirtioBalloon.Options.DEFAULT).activate()) {
            rig.balloon.setTargetBytes(BalloonRig.RAM / 2);
            rig.balloon.writeConfig(4, 4, 12);
            rig.balloon.reset();
            assertThat(rig.balloon.actualPages()).isZero();
            assertThat(rig.balloon.targetPages()).isEqualTo(128); // the host's wish stays for the next driver
            rig.drivers.get(INFLATE).addReadable(rig.scratch(4), 4);
            rig.balloon.queueNotify(INFLATE);                  // not active: nothing happens
            assertThat(rig.released).isEmpty();
            assertThat(rig.irq.used).isEmpty();
        }
    }
}
