package dev.vmm.virtio.blk;

import dev.vmm.virtio.testing.IoRounds;
import dev.vmm.virtio.testing.SplitRingDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * virtio-blk's part of a snapshot: quiesce finishes every request in flight to the used ring (so
 * the RAM saved afterwards holds their data and status), the device then takes nothing more until
 * it is activated again, and a device over another disk refuses the state.
 */
class VirtioBlkStateTest {
    @TempDir Path tmp;

    private Path image(long size) throws Exception {
        Path p = Files.createTempFile(tmp, "disk", ".raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    @Test
    void quiesceCompletesEveryRequestInFlightThenTakesNoMore() throws Exception {
        Path img = image(16L << 20);
        try (BlkHarness h = new BlkHarness(UringRawBackend.open(img, false, CacheMode.WRITEBACK), BlkConfig.of(2), 2)) {
            List<long[]> posted = new ArrayList<>();
            for (int q = 0; q < 2; q++) {
                for (int i = 0; i < 24; i++) {
                    byte[] data = VirtioBlkTest.pattern(4096, q * 100 + i);
                    posted.add(h.post(q, VirtioBlk.VIRTIO_BLK_T_OUT, (q * 24 + i) * 8L, data, 0));
                }
                h.dev.queueNotify(q);
            }
            // The kicks reach the I/O threads asynchronously: quiesce once each queue has started popping,
            // so that requests are in flight (a request still in the avail ring is not: it stays there,
            // at the saved ring position, for the device that continues).
            long until = System.nanoTime() + 10_000_000_000L;
            while ((h.queues.get(0).nextAvail() == 0 || h.queues.get(1).nextAvail() == 0) && System.nanoTime() < until) Thread.onSpinWait();
            int[] rewind = h.dev.quiesce();
            assertArrayEquals(new int[2], rewind, "virtio-blk holds nothing back");
            int[] done = new int[2];
            for (int q = 0; q < 2; q++) {
                done[q] = h.queues.get(q).nextUsed();
                assertTrue(done[q] > 0, "queue " + q + " had started");
                assertEquals(h.queues.get(q).nextAvail(), done[q], "queue " + q + ": every request popped completed to the used ring");
                assertEquals(done[q], h.drivers[q].pendingUsed());
                for (int i = 0; i < done[q]; i++)
                    assertEquals(0, Byte.toUnsignedInt(h.mem.readU8(posted.get(q * 24 + i)[2])), "status written");
            }
            // Stopped: a new request stays in the avail ring...
            long[] late = h.post(0, VirtioBlk.VIRTIO_BLK_T_IN, 0, null, 4096);
            h.dev.queueNotify(0);
            IoRounds.afterAFullRound(h.threads);    // a kick the device still listened to would have been handled
            assertEquals(done[0], h.queues.get(0).nextAvail(), "a stopped device popped a request");
            assertEquals(done[0], h.drivers[0].pendingUsed());
            // ...until the device runs again over the same queues (the source continuing).
            h.dev.activate(h.mem, h.dev.deviceFeatures(), h.queues, h.irq);
            h.dev.queueNotify(0);
            for (int i = 0; i < 24; i++) h.drivers[0].waitUsed(1000);
            SplitRingDriver.Used u = h.drivers[0].waitUsed(10_000);
            assertEquals(late[0], u.id());
            byte[] got = new byte[4096];
            h.mem.read(late[1], got, 0, got.length);
            assertArrayEquals(VirtioBlkTest.pattern(4096, 0), got, "the write before the quiesce reached the disk");
        }
    }

    @Test
    void stateOfAnotherDiskIsRefused() throws Exception {
        try (BlkHarness h = new BlkHarness(UringRawBackend.open(image(16L << 20), false, CacheMode.WRITEBACK), BlkConfig.of(1), 1);
             UringRawBackend other = UringRawBackend.open(image(32L << 20), false, CacheMode.WRITEBACK);
             UringRawBackend same = UringRawBackend.open(image(16L << 20), false, CacheMode.WRITEBACK);
             UringRawBackend twoQueues = UringRawBackend.open(image(16L << 20), false, CacheMode.WRITEBACK)) {
            h.dev.quiesce();
            byte[] state = h.dev.saveState();
            VirtioBlk bigger = new VirtioBlk(other, BlkConfig.of(1), h.threads, s -> { });
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bigger.loadState(1, state));
            assertTrue(e.getMessage().contains("32768 sectors, this one 65536") || e.getMessage().contains("sectors"), e.getMessage());
            VirtioBlk mq = new VirtioBlk(twoQueues, BlkConfig.of(2), h.threads, s -> { });
            assertTrue(assertThrows(IllegalArgumentException.class, () -> mq.loadState(1, state)).getMessage().contains("queues"));
            assertThrows(IllegalArgumentException.class, () -> mq.loadState(1, new byte[3]));
            VirtioBlk ok = new VirtioBlk(same, BlkConfig.of(1), h.threads, s -> { });
            ok.loadState(1, state);
            bigger.close();
            mq.close();
            ok.close();
        }
    }
}
