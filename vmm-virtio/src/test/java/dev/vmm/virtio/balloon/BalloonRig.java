package dev.vmm.virtio.balloon;

import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.TestRings;
import dev.vmm.virtio.testing.ManualScheduler;
import dev.vmm.virtio.testing.RecordingInterrupt;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;

/**
 * A balloon over test guest RAM: the driver side of every queue ({@link TestRings}), a recording
 * {@link BalloonHost}, interrupt and log, a hand-driven polling timer, and the I/O "thread" as a
 * direct executor (each queue pass runs inside {@code queueNotify}, so a test sees its effect at once).
 */
final class BalloonRig implements AutoCloseable {
    static final long RAM_BASE = 0;
    static final long RAM = 0x100000;            // 1 MiB: PFNs 0..255
    /** Ranges and log lines kept for a test to look at; the rest are only counted (a fuzz input may release 262 144 ranges per chain). */
    static final int KEPT = 64;

    final TestRings rings;
    private final boolean ownsRings;
    final List<TestRings.Driver> drivers = new ArrayList<>();
    final List<SplitQueue> queues = new ArrayList<>();
    final Releases released = new Releases();
    /** The device's log lines, the first {@link #KEPT} of them ({@link #logLines} counts all). */
    final List<String> log = new ArrayList<>();
    long logLines;
    final RecordingInterrupt irq = new RecordingInterrupt();
    final ManualScheduler timers = new ManualScheduler();
    final List<Long> actualChanges = new ArrayList<>();
    long now = 1000;
    boolean hostFails;
    final VirtioBalloon balloon;

    BalloonRig(VirtioBalloon.Options options) {
        this(options, new TestRings(RAM_BASE, RAM), true);
    }

    /**
     * A new balloon over {@code rings} that the caller keeps (a fuzz fixture: allocating and freeing a
     * shared arena per input cost more than the input); {@link TestRings#rewind} has made them as new.
     */
    BalloonRig(VirtioBalloon.Options options, TestRings rings, boolean ownsRings) {
        this.rings = rings;
        this.ownsRings = ownsRings;
        balloon = new VirtioBalloon(options, RAM, (gpa, len) -> {
            released.record(gpa, len);
            return !hostFails;
        }, Runnable::run, timers, () -> now, line -> {
            if (logLines++ < KEPT) log.add(line);
        });
        balloon.onActualChanged(actualChanges::add);
        for (int q = 0; q < balloon.queueCount(); q++) {
            TestRings.Driver d = rings.queue(16);
            drivers.add(d);
            queues.add(d.configure(new SplitQueue(VirtioBalloon.QUEUE_SIZE)));
        }
    }

    /** DRIVER_OK with every offered feature. */
    BalloonRig activate() throws Exception {
        for (SplitQueue q : queues) q.activate(rings.memory());
        balloon.activate(rings.memory(), balloon.deviceFeatures(), queues, irq);
        return this;
    }

    /** Buffer area: pages from the top half of RAM (PFN arrays and stats go there). */
    long scratch(int len) { return rings.alloc(len, 8); }

    /** Posts one readable buffer of little-endian PFNs on {@code queue} and kicks. */
    int postPfns(int queue, long... pfns) {
        ByteBuffer b = ByteBuffer.allocate(pfns.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (long p : pfns) b.putInt((int) p);
        long at = scratch(Math.max(4, b.capacity()));
        rings.memory().write(at, b.array());
        int head = drivers.get(queue).addReadable(at, b.capacity());
        balloon.queueNotify(queue);
        return head;
    }

    /** Posts a stats buffer with (tag, value) pairs on the stats queue and kicks. */
    int postStats(long... tagValues) {
        ByteBuffer b = ByteBuffer.allocate(tagValues.length / 2 * VirtioBalloon.STAT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < tagValues.length; i += 2) b.putShort((short) tagValues[i]).putLong(tagValues[i + 1]);
        long at = scratch(b.capacity());
        rings.memory().write(at, b.array());
        int head = drivers.get(VirtioBalloon.STATS).addReadable(at, b.capacity());
        balloon.queueNotify(VirtioBalloon.STATS);
        return head;
    }

    TestRings.Used used(int queue) { return drivers.get(queue).pollUsed(); }

    @Override
    public void close() {
        balloon.reset();
        if (!rings.guardsIntact()) throw new AssertionError("write outside guest RAM");
        if (ownsRings) rings.close();
    }

    /**
     * What the host was asked to release: every range is checked as it comes (inside RAM, not empty,
     * 4 KiB aligned: else an {@link AssertionError} out of the device's pass) and counted (ranges,
     * bytes) in O(1) without allocation; the first {@link #KEPT} are kept for a test to read as a list
     * of {@code {gpa, len}}. Reading past them fails: a test that wants them all must release fewer.
     */
    static final class Releases extends AbstractList<long[]> {
        private final long[] kept = new long[2 * KEPT];
        long ranges;
        long bytes;

        void record(long gpa, long len) {
            if (gpa < RAM_BASE || len <= 0 || gpa + len > RAM_BASE + RAM || ((gpa | len) & (VirtioBalloon.PAGE_SIZE - 1)) != 0) {
                throw new AssertionError("released a bad range 0x" + Long.toHexString(gpa) + "+0x" + Long.toHexString(len));
            }
            if (ranges < KEPT) {
                kept[2 * (int) ranges] = gpa;
                kept[2 * (int) ranges + 1] = len;
            }
            ranges++;
            bytes += len;
        }

        @Override
        public long[] get(int i) {
            if (i < 0 || i >= ranges) throw new IndexOutOfBoundsException(i);
            if (i >= KEPT) throw new AssertionError("range " + i + " of " + ranges + " not kept (only the first " + KEPT + ")");
            return new long[] {kept[2 * i], kept[2 * i + 1]};
        }

        @Override
        public int size() { return (int) Math.min(ranges, Integer.MAX_VALUE); }
    }
}
