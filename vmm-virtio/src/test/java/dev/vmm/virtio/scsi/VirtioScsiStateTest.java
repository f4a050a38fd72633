package dev.vmm.virtio.scsi;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.queue.TestRings;
import dev.vmm.virtio.testing.Blocked;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.vmm.virtio.scsi.VirtioScsi.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * virtio-scsi's part of a snapshot: quiesce completes the command in flight (and the LUN reset
 * waiting for it) to the used rings before the state is taken; the driver-written sense size and
 * the events not yet delivered travel in the state; the restored device continues on the same
 * rings; a destination with other disks is refused.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS) // backstop; each wait inside fails after ScsiHarness.WAIT_MS
class VirtioScsiStateTest {
    @TempDir Path tmp;
    final List<BlockDevice> opened = new ArrayList<>();

    @AfterEach
    void closeDisks() {
        opened.forEach(BlockDevice::close);
    }

    ScsiDisk disk(long size, String serial) throws Exception {
        Path p = Files.createTempFile(tmp, "disk", ".raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        BlockDevice d = Images.open(p, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
        opened.add(d);
        return new ScsiDisk(d, ScsiDisk.Config.of(serial));
    }

    @Test
    void quiesceCompletesCommandsInFlightAndTheRestoredDeviceContinuesWithEventsAndSenseSize() throws Exception {
        VirtioScsiTest.GatedStore gated = new VirtioScsiTest.GatedStore();
        ScsiDisk lun0 = new ScsiDisk(gated, ScsiDisk.Config.of("g"));
        ScsiDisk lun1 = disk(4 << 20, "d1");
        ScsiConfig cfg = ScsiConfig.of(1).withQueueSize(64);
        ScsiTarget target = new ScsiTarget(List.of(lun0, lun1));
        try (ScsiHarness h = new ScsiHarness(target, cfg, 1)) {
            h.beforeClose(gated.gate::countDown); // a failed assertion must not leave the read held
            h.dev.writeConfig(20, 4, 64); // sense_size
            h.dev.postEvent(T_PARAM_CHANGE, 1, 0x2A09);
            h.dev.postEvent(T_TRANSPORT_RESET, 0, 7);
            // A read held by the disk, and a LUN reset that waits for it.
            long[] read = h.post(FIRST_REQUEST_QUEUE, ScsiHarness.lun(0), VirtioScsiTest.rw10(0x28, 0, 1), null, 512);
            h.dev.queueNotify(FIRST_REQUEST_QUEUE);
            assertThat(gated.entered.await(ScsiHarness.WAIT_MS, TimeUnit.MILLISECONDS)).isTrue();
            long[] tmf = h.postTmf(TMF_LOGICAL_UNIT_RESET, ScsiHarness.lun(0));
            // Barrier: a QUERY TASK behind the reset on the control queue; answered first, it proves
            // the reset was popped and parked (the control worker handles requests in order).
            long[] query = h.postTmf(TMF_QUERY_TASK, ScsiHarness.lun(0));
            TestRings.Used q = h.waitUsed(CONTROL_QUEUE, ScsiHarness.WAIT_MS);
            assertThat(q).as("control queue answered nothing; log %s", h.log).isNotNull();
            assertThat(q.id()).as("LUN reset answered while a command is in flight").isEqualTo((int) query[0]);
            assertThat(h.mem.readU8(query[1])).isEqualTo((byte) S_FUNCTION_SUCCEEDED);

            CompletableFuture<int[]> quiesced = new CompletableFuture<>();
            Thread quiescer = new Thread(() -> {
                try {
                    quiesced.complete(h.dev.quiesce());
                } catch (Throwable e) {
                    quiesced.completeExceptionally(e);
                }
            }, "test-quiesce");
            quiescer.start();
            // quiesce() has reached its wait for the request workers' drain: only now is "not done" a finding.
            Blocked.awaitParkedIn(quiescer, VirtioScsi.class.getName(), "quiesce", ScsiHarness.WAIT_MS);
            assertThat(quiesced).as("quiesce waits for the command in flight").isNotDone();
            gated.gate.countDown();
            int[] rewind = quiesced.get(ScsiHarness.WAIT_MS, TimeUnit.MILLISECONDS);
            assertThat(rewind).containsExactly(0, 0, 0);
            TestRings.Used u = h.drivers[FIRST_REQUEST_QUEUE].pollUsed();
            assertThat(u).as("the read completed to the used ring before the state was taken").isNotNull();
            assertThat(u.id()).isEqualTo((int) read[0]);
            assertThat(h.read(read, u, 512).response()).isEqualTo(S_OK);
            TestRings.Used t = h.drivers[CONTROL_QUEUE].pollUsed();
            assertThat(t).isNotNull();
            assertThat(t.id()).isEqualTo((int) tmf[0]);
            assertThat(h.mem.readU8(tmf[1])).isEqualTo((byte) S_FUNCTION_COMPLETE);
            byte[] state = h.dev.saveState();

            // The destination: same disks, fresh device.
            VirtioScsi next = new VirtioScsi(target, cfg, h.threads, h.log::add);
            h.restoreInto(next, h.dev.stateVersion(), state, rewind);
            assertThat(h.dev.readConfig(20, 4)).as("sense_size").isEqualTo(64);
            long ev = h.alloc(16), ev2 = h.alloc(16);
            int e1 = h.drivers[EVENT_QUEUE].addWritable(ev, 16);
            int e2 = h.drivers[EVENT_QUEUE].addWritable(ev2, 16);
            h.dev.queueNotify(EVENT_QUEUE);
            TestRings.Used first = h.waitUsed(EVENT_QUEUE, ScsiHarness.WAIT_MS), second = h.waitUsed(EVENT_QUEUE, ScsiHarness.WAIT_MS);
            assertThat(first.id()).isEqualTo(e1);
            assertThat(second.id()).isEqualTo(e2);
            assertThat(h.mem.readU32(ev)).isEqualTo(T_PARAM_CHANGE);
            assertThat(h.mem.readU32(ev + 12)).isEqualTo(0x2A09);
            assertThat(h.mem.readU32(ev2)).isEqualTo(T_TRANSPORT_RESET);
            assertThat(h.mem.readU32(ev2 + 12)).isEqualTo(7);
            // Commands go on on the restored rings.
            assertThat(h.cmd(1, new byte[] {0x12, 0, 0, 0, 36, 0}, null, 36).status()).isZero();
            ScsiHarness.Resp r = h.cmd(1, VirtioScsiTest.rw10(0x28, 0, 1), null, 512);
            assertThat(r.status()).isZero();
            assertThat(h.irq.needsReset).isEmpty();

            // Refusals: another LUN count, another disk size, version, a cut or longer state.
            try (VirtioScsi oneLun = new VirtioScsi(new ScsiTarget(List.of(lun1)), cfg, h.threads, h.log::add)) {
                assertThatThrownBy(() -> oneLun.loadState(2, state)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("virtio-scsi: the saved device has 2 LUNs, this one 1 (start the destination with the same --scsi disks)");
            }
            ScsiDisk bigger = disk(8 << 20, "d1");
            try (VirtioScsi otherDisk = new VirtioScsi(new ScsiTarget(List.of(lun0, bigger)), cfg, h.threads, h.log::add)) {
                assertThatThrownBy(() -> otherDisk.loadState(2, state))
                        .hasMessage("virtio-scsi: the saved LUN 1 has 8192 blocks of 512 bytes, this one 16384 of 512 (not the same disk)");
            }
            try (VirtioScsi same = new VirtioScsi(target, cfg, h.threads, h.log::add)) {
                assertThatThrownBy(() -> same.loadState(3, state)).hasMessage("virtio-scsi: saved state version 3, this vmm reads 1 and 2");
                assertThatThrownBy(() -> same.loadState(2, java.util.Arrays.copyOf(state, 30))).hasMessageContaining("malformed saved state");
                assertThatThrownBy(() -> same.loadState(2, java.util.Arrays.copyOf(state, state.length + 1))).hasMessageContaining("1 trailing bytes");
                // A version 1 state (no LUN numbers: LUN 0..n-1) of the same device still loads.
                same.loadState(1, withoutLunNumbers(state, 2));
            }
            // Issue 15: LUNs with gaps (0 and 5, as after device_add scsi-hd lun=5) travel by number.
            ScsiTarget sparse = ScsiTarget.withoutUnits();
            sparse.plug(0, lun0);
            sparse.plug(5, lun1);
            byte[] sparseState;
            try (VirtioScsi src = new VirtioScsi(sparse, cfg, h.threads, h.log::add)) {
                assertThat(src.stateVersion()).isEqualTo(2);
                sparseState = src.saveState();
            }
            ScsiTarget same5 = ScsiTarget.withoutUnits();
            same5.plug(0, lun0);
            same5.plug(5, lun1);
            try (VirtioScsi dst = new VirtioScsi(same5, cfg, h.threads, h.log::add)) {
                dst.loadState(2, sparseState);
            }
            ScsiTarget other4 = ScsiTarget.withoutUnits();
            other4.plug(0, lun0);
            other4.plug(4, lun1);
            try (VirtioScsi dst = new VirtioScsi(other4, cfg, h.threads, h.log::add)) {
                assertThatThrownBy(() -> dst.loadState(2, sparseState))
                        .hasMessage("virtio-scsi: the saved device has LUN 5, this one LUN 4 (start the destination with the same --scsi disks and lun=)");
            }
        }
    }

    /** The version 1 layout of a version 2 state of {@code luns} LUNs: the same without each LUN's number. */
    private static byte[] withoutLunNumbers(byte[] v2, int luns) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(v2, 0, 12);
        for (int i = 0; i < luns; i++) out.write(v2, 12 + i * 17 + 4, 13);
        out.write(v2, 12 + luns * 17, v2.length - 12 - luns * 17);
        return out.toByteArray();
    }
}
