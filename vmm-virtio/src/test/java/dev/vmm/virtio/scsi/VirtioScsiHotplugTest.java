package dev.vmm.virtio.scsi;

import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.queue.TestRings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.vmm.virtio.scsi.VirtioScsi.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * LUNs plugged and unplugged while the driver runs (virtio 1.x §5.6.6.3.1): the TRANSPORT_RESET
 * events with RESCAN / REMOVED and the LUN in the event's lun field, REPORT LUNS following, and a
 * command in flight to a LUN being removed completing before the unplug lets its disk go.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VirtioScsiHotplugTest {
    private static final byte[] INQUIRY = {0x12, 0, 0, 0, 36, 0};
    private static final byte[] REPORT_LUNS = {(byte) 0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

    private static ScsiHarness harness(ScsiTarget target) throws Exception {
        return new ScsiHarness(target, ScsiConfig.of(1).withQueueSize(64), 1);
    }

    /** Gives the driver one event buffer and returns {event, lun[1], lun[2], lun[3], reason} of the event it gets. */
    private static int[] nextEvent(ScsiHarness h) throws InterruptedException {
        long ev = h.alloc(16);
        h.drivers[EVENT_QUEUE].addWritable(ev, 16);
        h.dev.queueNotify(EVENT_QUEUE);
        TestRings.Used u = h.waitUsed(EVENT_QUEUE, ScsiHarness.WAIT_MS);
        assertNotNull(u, "no event delivered; log " + h.log);
        return new int[] {h.mem.readU32(ev), h.mem.readU8(ev + 5) & 0xFF, h.mem.readU8(ev + 6) & 0xFF,
                h.mem.readU8(ev + 7) & 0xFF, h.mem.readU32(ev + 12)};
    }

    private static int[] reportedLuns(ScsiHarness h, int asLun) throws InterruptedException {
        ScsiHarness.Resp r = h.cmd(asLun, REPORT_LUNS, null, 256);
        assertEquals(0, r.status());
        int n = ((r.data()[0] & 0xFF) << 24 | (r.data()[1] & 0xFF) << 16 | (r.data()[2] & 0xFF) << 8 | (r.data()[3] & 0xFF)) / 8;
        int[] luns = new int[n];
        for (int i = 0; i < n; i++) luns[i] = ((r.data()[8 + 8 * i] & 0x3F) << 8) | (r.data()[9 + 8 * i] & 0xFF);
        return luns;
    }

    private static ScsiDisk ram(String serial) {
        VirtioScsiTest.GatedStore ram = new VirtioScsiTest.GatedStore();
        ram.gate.countDown(); // never held: a plain RAM disk
        return new ScsiDisk(ram, ScsiDisk.Config.of(serial));
    }

    @Test
    void lunPlugAndUnplugAreAnnouncedAndServed() throws Exception {
        try (ScsiHarness h = harness(new ScsiTarget(List.of(ram("cold"))))) {
            ScsiDisk hot = ram("hot");
            assertTrue(h.dev.attachLun(300, hot));
            assertFalse(h.dev.attachLun(300, ram("other")), "a taken LUN is refused");
            int[] e = nextEvent(h);
            assertEquals(T_TRANSPORT_RESET, e[0]);
            assertArrayEquals(new int[] {0, 0x40 | (300 >> 8), 300 & 0xFF}, Arrays.copyOfRange(e, 1, 4), "target 0, LUN 300 (flat)");
            assertEquals(EVT_RESET_RESCAN, e[4]);
            assertArrayEquals(new int[] {0, 300}, reportedLuns(h, 0));
            assertEquals(0, h.cmd(300, INQUIRY, null, 36).data()[0], "a disk answers at LUN 300");

            byte[] block = new byte[512];
            Arrays.fill(block, (byte) 0x5A);
            assertEquals(0, h.cmd(300, VirtioScsiTest.rw10(0x2A, 7, 1), block, 0).status());
            assertArrayEquals(block, h.cmd(300, VirtioScsiTest.rw10(0x28, 7, 1), null, 512).data());

            CompletableFuture<Void> gone = h.dev.detachLun(300);
            assertNotNull(gone);
            assertTrue(gone.isDone(), "nothing in flight: released at once");
            assertNull(h.dev.detachLun(300), "a second unplug finds nothing");
            e = nextEvent(h);
            assertEquals(T_TRANSPORT_RESET, e[0]);
            assertEquals(EVT_RESET_REMOVED, e[4]);
            assertEquals(300 & 0xFF, e[3]);
            assertEquals(0x7F, h.cmd(300, INQUIRY, null, 36).data()[0] & 0xFF, "LUN 300 is absent again");
            assertArrayEquals(new int[] {0}, reportedLuns(h, 0));
            assertEquals(0, h.cmd(0, INQUIRY, null, 36).status(), "the cold LUN is untouched");
        }
    }

    @Test
    void aControllerWithoutUnitsTakesItsFirstLunLater() throws Exception {
        try (ScsiHarness h = harness(ScsiTarget.withoutUnits())) {
            assertEquals(0x7F, h.cmd(0, INQUIRY, null, 36).data()[0] & 0xFF);
            assertArrayEquals(new int[0], reportedLuns(h, 0));
            assertTrue(h.dev.attachLun(0, ram("first")));
            assertEquals(EVT_RESET_RESCAN, nextEvent(h)[4]);
            assertEquals(0, h.cmd(0, INQUIRY, null, 36).data()[0]);
        }
    }

    @Test
    void unplugWaitsForTheCommandInFlightWhichCompletes() throws Exception {
        VirtioScsiTest.GatedStore store = new VirtioScsiTest.GatedStore();
        Arrays.fill(store.data, 0, 512, (byte) 0x33);
        try (ScsiHarness h = harness(ScsiTarget.withoutUnits())) {
            h.beforeClose(store.gate::countDown); // a failed assertion must not leave the read held
            assertTrue(h.dev.attachLun(1, new ScsiDisk(store, ScsiDisk.Config.of("g"))));
            long[] read = h.post(FIRST_REQUEST_QUEUE, ScsiHarness.lun(1), VirtioScsiTest.rw10(0x28, 0, 1), null, 512);
            h.dev.queueNotify(FIRST_REQUEST_QUEUE);
            assertTrue(store.entered.await(ScsiHarness.WAIT_MS, TimeUnit.MILLISECONDS));

            CompletableFuture<Void> gone = h.dev.detachLun(1);
            assertFalse(gone.isDone(), "the READ still runs on the disk");
            // A new command finds no unit (answered at once, the disk is not reached).
            assertEquals(0x7F, h.cmd(1, INQUIRY, null, 36).data()[0] & 0xFF);
            assertFalse(gone.isDone());

            store.gate.countDown();
            gone.get(ScsiHarness.WAIT_MS, TimeUnit.MILLISECONDS);
            TestRings.Used u = h.waitUsed(FIRST_REQUEST_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(u);
            assertEquals(read[0], u.id());
            ScsiHarness.Resp r = h.read(read, u, 512);
            assertEquals(S_OK, r.response());
            assertEquals(0, r.status(), "the READ that found the unit completes normally");
            assertEquals(0x33, r.data()[0]);
        }
    }
}
