package dev.vmm.virtio.queue;

import dev.vmm.virtio.queue.SplitQueue.Ring;

import dev.vmm.virtio.queue.GuestDriver.Buf;
import dev.vmm.virtio.queue.GuestDriver.Used;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SplitQueueTest {
    static final long RAM = 0x10000;
    static final long RAM_SIZE = 0x40000;
    static final long DESC = 0x10000;
    static final long AVAIL = 0x12000;
    static final long USED = 0x13000;
    static final long DATA = 0x20000;
    static final long TABLE = 0x18000;

    FakeGuestMemory fake;
    GuestDriver driver;
    SplitQueue queue;
    DescriptorChain chain = new DescriptorChain(2);

    @BeforeEach
    void setUp() throws QueueException {
        fake = new FakeGuestMemory(RAM, RAM_SIZE);
        driver = new GuestDriver(fake.memory, 16, DESC, AVAIL, USED);
        queue = driver.configure(new SplitQueue(256), false);
        queue.activate(fake.memory);
    }

    @AfterEach
    void tearDown() {
        assertThat(fake.guardsIntact()).as("nothing written outside guest RAM").isTrue();
        fake.close();
    }

    private void reactivate(boolean eventIdx) throws QueueException {
        queue.reset();
        driver.configure(queue, eventIdx);
        queue.activate(fake.memory);
    }

    // ------------------------------------------------------------ configuration

    @Test
    void validatesSizeAlignmentAndPlacement() {
        SplitQueue q = new SplitQueue(256);
        q.setRings(DESC, AVAIL, USED);
        for (int bad : new int[] {0, 3, 100, 512, 0x8000 + 16, 0x10000}) {
            q.setSize(bad);
            assertError(() -> q.activate(fake.memory), QueueError.INVALID_SIZE, "queue size");
        }
        q.setSize(256);
        q.setAddress(Ring.DESC, DESC + 8);
        assertError(() -> q.activate(fake.memory), QueueError.MISALIGNED_RING, "descriptor table address 0x10008 is not 16-byte aligned");
        q.setAddress(Ring.DESC, DESC);
        q.setAddress(Ring.DRIVER, AVAIL + 1);
        assertError(() -> q.activate(fake.memory), QueueError.MISALIGNED_RING, "available ring");
        q.setAddress(Ring.DRIVER, AVAIL);
        q.setAddress(Ring.DEVICE, USED + 2);
        assertError(() -> q.activate(fake.memory), QueueError.MISALIGNED_RING, "used ring");
        q.setAddress(Ring.DEVICE, RAM + RAM_SIZE - 8);  // starts inside RAM, runs off the end
        assertError(() -> q.activate(fake.memory), QueueError.RING_OUTSIDE_RAM, "used ring");
        q.setAddress(Ring.DEVICE, USED);
        q.setAddress(Ring.DESC, 0);
        assertError(() -> q.activate(fake.memory), QueueError.RING_OUTSIDE_RAM, "descriptor table 0x0+0x1000");
        q.setAddress(Ring.DESC, -16);
        assertError(() -> q.activate(fake.memory), QueueError.RING_OUTSIDE_RAM, "descriptor table");
        assertThat(q.isActivated()).isFalse();
        assertError(() -> q.pop(chain), QueueError.NOT_ACTIVATED, "not activated");
    }

    @Test
    void ringStraddlingTwoRegionsIsRejected() {
        try (FakeGuestMemory two = new FakeGuestMemory(0x10000, 0x1000, 0x11000, 0x1000)) {
            SplitQueue q = new SplitQueue(16);
            q.setAddress(Ring.DESC, 0x10F80); // 256 bytes: crosses from region 0 into the adjacent region 1
            q.setAddress(Ring.DRIVER, 0x11000);
            q.setAddress(Ring.DEVICE, 0x11100);
            assertError(() -> q.activate(two.memory), QueueError.RING_OUTSIDE_RAM, "descriptor table");
        }
    }

    @Test
    void configurationIsFrozenWhileActivated() {
        assertThat(queue.setSize(8)).isFalse();
        assertThat(queue.setAddress(Ring.DESC, 0x20000)).isFalse();
        assertThat(queue.setNextAvail(5)).isFalse();
        assertThat(queue.size()).isEqualTo(16);
        assertThat(queue.address(Ring.DESC)).isEqualTo(DESC);
        queue.reset();
        assertThat(queue.size()).isEqualTo(256);
        assertThat(queue.isReady()).isFalse();
        assertThat(queue.setSize(8)).isTrue();
    }

    @Test
    void maxSizeMustBeAPowerOfTwo() {
        assertThatThrownBy(() -> new SplitQueue(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new SplitQueue(48)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new SplitQueue(65536)).isInstanceOf(IllegalArgumentException.class);
        assertThat(new SplitQueue(32768).maxSize()).isEqualTo(32768);
    }

    // ------------------------------------------------------------ the data path

    @Test
    void emptyQueuePopsNothing() throws QueueException {
        assertThat(queue.pop(chain)).isFalse();
        assertThat(queue.pop()).isNull();
    }

    @Test
    void popsASingleDescriptor() throws QueueException {
        int head = driver.add(Buf.r(DATA, 512));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.head()).isEqualTo(head);
        assertThat(chain.count()).isEqualTo(1);
        assertThat(chain.readableCount()).isEqualTo(1);
        assertThat(chain.writableCount()).isZero();
        assertThat(chain.address(0)).isEqualTo(DATA);
        assertThat(chain.length(0)).isEqualTo(512);
        assertThat(chain.isWritable(0)).isFalse();
        assertThat(chain.isIndirect()).isFalse();
        assertThat(chain.segment(0).byteSize()).isEqualTo(512);
        assertThat(queue.pop(chain)).isFalse();
        assertThatThrownBy(() -> chain.address(1)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void popsAReadWriteChainAndCopiesAcrossBuffers() throws QueueException {
        fake.memory.write(DATA, new byte[] {1, 2, 3});
        fake.memory.write(DATA + 0x100, new byte[] {4, 5});
        driver.add(Buf.r(DATA, 3), Buf.r(DATA + 0x100, 2), Buf.w(DATA + 0x200, 2), Buf.w(DATA + 0x300, 4));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(4);
        assertThat(chain.readableCount()).isEqualTo(2);
        assertThat(chain.writableCount()).isEqualTo(2);
        assertThat(chain.readableBytes()).isEqualTo(5);
        assertThat(chain.writableBytes()).isEqualTo(6);
        assertThat(chain.isWritable(1)).isFalse();
        assertThat(chain.isWritable(2)).isTrue();

        byte[] in = new byte[4];
        assertThat(chain.readFromChain(1, in)).isEqualTo(4);
        assertThat(in).containsExactly(2, 3, 4, 5);
        assertThat(chain.readFromChain(4, new byte[10])).isEqualTo(1);

        assertThat(chain.writeToChain(1, new byte[] {9, 8, 7, 6, 5, 4})).isEqualTo(5);
        assertThat(fake.memory.readU8(DATA + 0x201)).isEqualTo((byte) 9);
        assertThat(fake.memory.readU8(DATA + 0x300)).isEqualTo((byte) 8);
        assertThat(fake.memory.readU8(DATA + 0x303)).isEqualTo((byte) 5);
    }

    @Test
    void chainObjectGrowsAndIsReused() throws QueueException {
        Buf[] bufs = new Buf[12];
        for (int i = 0; i < bufs.length; i++) bufs[i] = i < 5 ? Buf.r(DATA + 64L * i, 64) : Buf.w(DATA + 64L * i, 64);
        driver.add(bufs);
        driver.add(Buf.w(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(12);
        assertThat(chain.readableCount()).isEqualTo(5);
        assertThat(chain.address(11)).isEqualTo(DATA + 64 * 11);
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(1);
        assertThat(chain.readableCount()).isZero();
        assertThat(chain.readableBytes()).isZero();
        assertThat(chain.writableBytes()).isEqualTo(1);
    }

    @Test
    void popsAnIndirectChain() throws QueueException {
        int head = driver.addIndirect(TABLE, Buf.r(DATA, 16), Buf.r(DATA + 16, 100), Buf.w(DATA + 0x1000, 1));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.head()).isEqualTo(head);
        assertThat(chain.isIndirect()).isTrue();
        assertThat(chain.count()).isEqualTo(3);
        assertThat(chain.readableCount()).isEqualTo(2);
        assertThat(chain.address(1)).isEqualTo(DATA + 16);
        assertThat(chain.length(1)).isEqualTo(100);
        assertThat(chain.address(2)).isEqualTo(DATA + 0x1000);
    }

    @Test
    void indirectTableMayBeReachedThroughDirectDescriptors() throws QueueException {
        // Zero or more normal descriptors followed by one indirect one (§2.7.5.3.2).
        driver.addMixed(new Buf[] {Buf.r(DATA, 8), Buf.r(DATA + 8, 8)}, TABLE, new Buf[] {Buf.r(DATA + 16, 8), Buf.w(DATA + 24, 8)});
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(4);
        assertThat(chain.readableCount()).isEqualTo(3);
        assertThat(chain.address(3)).isEqualTo(DATA + 24);
    }

    @Test
    void indirectTableFollowsNextNotTableOrder() throws QueueException {
        driver.writeRawDesc(TABLE, DATA + 0x100, 1, GuestDriver.NEXT, 2);
        driver.writeRawDesc(TABLE + 16, 0xDEAD_0000L, 1, 0, 0); // garbage, never reached
        driver.writeRawDesc(TABLE + 32, DATA + 0x300, 3, GuestDriver.WRITE, 0);
        driver.writeDesc(5, TABLE, 48, GuestDriver.INDIRECT | GuestDriver.WRITE, 0); // WRITE ignored on the indirect descriptor
        driver.publish(5);
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(2);
        assertThat(chain.address(1)).isEqualTo(DATA + 0x300);
        assertThat(chain.isWritable(1)).isTrue();
    }

    @Test
    void zeroLengthBuffersAreAccepted() throws QueueException {
        driver.add(Buf.r(DATA, 0), Buf.w(RAM + RAM_SIZE, 0));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.length(0)).isZero();
        assertThat(chain.address(1)).isEqualTo(RAM + RAM_SIZE);
    }

    @Test
    void bufferAtTheVeryEndOfRamIsAccepted() throws QueueException {
        driver.add(Buf.w(RAM + RAM_SIZE - 4096, 4096));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.length(0)).isEqualTo(4096);
    }

    @Test
    void addUsedPublishesElementAndIndex() throws QueueException {
        int h1 = driver.add(Buf.w(DATA, 100));
        int h2 = driver.add(Buf.r(DATA + 0x100, 10), Buf.w(DATA + 0x200, 10));
        assertThat(queue.pop(chain)).isTrue();
        int first = chain.head();
        assertThat(queue.pop(chain)).isTrue();
        int second = chain.head();
        assertThat(first).isEqualTo(h1);
        assertThat(second).isEqualTo(h2);
        queue.addUsed(second, 10);  // out of order completion is allowed
        queue.addUsed(first, 0xFFFF_FFFF);
        assertThat(driver.usedIdx()).isEqualTo(2);
        assertThat(driver.pollUsed()).isEqualTo(new Used(h2, 10));
        assertThat(driver.pollUsed()).isEqualTo(new Used(h1, -1));
        assertThat(driver.pollUsed()).isNull();
        assertThat(driver.freeCount()).isEqualTo(16);
    }

    @Test
    void addUsedRejectsDeviceMistakes() throws QueueException {
        assertThatThrownBy(() -> queue.addUsed(0, 0)).isInstanceOf(IllegalStateException.class);
        driver.add(Buf.w(DATA, 1));
        queue.pop(chain);
        assertThatThrownBy(() -> queue.addUsed(16, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> queue.addUsed(-1, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void indicesWrapPast65535() throws QueueException {
        for (int start : new int[] {0xFFF0, 0xFFFF}) {
            queue.reset();
            driver = new GuestDriver(fake.memory, 16, DESC, AVAIL, USED);
            driver.configure(queue, false);
            driver.startAt(start);
            queue.setNextAvail(start);
            queue.setNextUsed(start);
            queue.activate(fake.memory);
            for (int i = 0; i < 40; i++) {
                // Keep a few chains in flight so the two indices are not always equal.
                int h = driver.add(Buf.r(DATA + i, 1), Buf.w(DATA + 0x1000 + i, 1 + i));
                if (i % 3 == 0) driver.add(Buf.w(DATA, 7));
                assertThat(queue.pop(chain)).isTrue();
                assertThat(chain.head()).isEqualTo(h);
                assertThat(chain.length(1)).isEqualTo(1 + i);
                queue.addUsed(chain.head(), i);
                if (i % 3 == 0) {
                    assertThat(queue.pop(chain)).isTrue();
                    queue.addUsed(chain.head(), 7);
                }
                assertThat(driver.pollUsed()).isEqualTo(new Used(h, i));
                if (i % 3 == 0) assertThat(driver.pollUsed().len()).isEqualTo(7);
            }
            assertThat(queue.nextAvail()).isEqualTo(queue.nextUsed()).isEqualTo((start + 54) & 0xFFFF);
            assertThat(driver.usedIdx()).isEqualTo((start + 54) & 0xFFFF);
        }
    }

    @Test
    void fullRingAcrossAWholeIndexCycle() throws QueueException {
        // 70,000 round trips through a queue of 4: both 16-bit indices wrap, ring slots reuse.
        reactivateWith(4, false);
        for (int i = 0; i < 70_000; i++) {
            int h = driver.add(Buf.w(DATA + (i & 0xFF), 1));
            assertThat(queue.pop(chain)).isTrue();
            if (chain.head() != h) throw new AssertionError("head " + chain.head() + " != " + h + " at " + i);
            queue.addUsed(h, i);
            Used u = driver.pollUsed();
            if (u.id() != h || u.len() != i) throw new AssertionError(u + " at " + i);
        }
        assertThat(queue.nextAvail()).isEqualTo(70_000 & 0xFFFF);
    }

    private void reactivateWith(int size, boolean eventIdx) throws QueueException {
        queue.reset();
        driver = new GuestDriver(fake.memory, size, DESC, AVAIL, USED);
        driver.configure(queue, eventIdx);
        queue.activate(fake.memory);
    }

    // ------------------------------------------------------------ notifications

    @Test
    void withoutEventIdxNoInterruptFlagSuppressesNotifications() throws QueueException {
        assertThat(queue.needsNotification()).as("nothing used yet").isFalse();
        roundTrip();
        assertThat(queue.needsNotification()).isTrue();
        assertThat(queue.needsNotification()).as("already signalled").isFalse();
        driver.setAvailFlags(SplitQueue.VIRTQ_AVAIL_F_NO_INTERRUPT);
        roundTrip();
        assertThat(queue.needsNotification()).isFalse();
        driver.setAvailFlags(0);
        roundTrip();
        assertThat(queue.needsNotification()).isTrue();
    }

    @Test
    void withoutEventIdxDisableSetsNoNotify() throws QueueException {
        assertThat(driver.kickNeeded(false, 0, 1)).isTrue();
        queue.disableNotification();
        assertThat(driver.usedFlags()).isEqualTo(SplitQueue.VIRTQ_USED_F_NO_NOTIFY);
        assertThat(driver.kickNeeded(false, 0, 1)).isFalse();
        assertThat(queue.enableNotification()).as("nothing pending").isFalse();
        assertThat(driver.usedFlags()).isZero();
        driver.add(Buf.w(DATA, 1));
        queue.disableNotification();
        assertThat(queue.enableNotification()).as("a buffer arrived while disabled").isTrue();
    }

    @Test
    void eventIdxNotificationFollowsUsedEvent() throws QueueException {
        reactivate(true);
        // First decision after activation always signals: the previous state is unknown.
        driver.setUsedEvent(5);
        roundTrip();
        assertThat(queue.needsNotification()).isTrue();
        // used idx 1 -> 2, used_event 5: not crossed.
        roundTrip();
        assertThat(queue.needsNotification()).isFalse();
        // 2 -> 6 in one batch crosses 5.
        for (int i = 0; i < 4; i++) roundTrip();
        assertThat(queue.needsNotification()).isTrue();
        // Driver asks for the very next one (used_event = current used idx).
        driver.setUsedEvent(6);
        roundTrip();
        assertThat(queue.needsNotification()).isTrue();
        // The AVAIL_F_NO_INTERRUPT flag is ignored under EVENT_IDX.
        driver.setAvailFlags(1);
        driver.setUsedEvent(7);
        roundTrip();
        assertThat(queue.needsNotification()).isTrue();
    }

    @Test
    void eventIdxDecisionsMatchVringNeedEventAcrossWrap() throws QueueException {
        for (int start : new int[] {0xFFFA, 100}) {
            queue.reset();
            driver = new GuestDriver(fake.memory, 16, DESC, AVAIL, USED);
            driver.configure(queue, true);
            driver.startAt(start);
            queue.setNextAvail(start);
            queue.setNextUsed(start);
            queue.activate(fake.memory);
            roundTrip();
            queue.needsNotification(); // establishes the "signalled" baseline
            int old = (start + 1) & 0xFFFF;
            for (int batch = 1; batch <= 6; batch++) {
                for (int offset = -3; offset <= 8; offset++) {
                    int usedEvent = (old + offset) & 0xFFFF;
                    driver.setUsedEvent(usedEvent);
                    for (int i = 0; i < batch; i++) roundTrip();
                    int now = (old + batch) & 0xFFFF;
                    boolean expected = crossed(usedEvent, old, now);
                    assertThat(queue.needsNotification()).as("used_event %d old %d new %d", usedEvent, old, now).isEqualTo(expected);
                    old = now;
                }
            }
        }
    }

    /** Independent statement of the rule: notify iff the entry at used_event was written in [old, now). */
    private static boolean crossed(int usedEvent, int old, int now) {
        for (int i = old; i != now; i = (i + 1) & 0xFFFF) {
            if (i == usedEvent) return true;
        }
        return false;
    }

    @Test
    void needEventMatchesItsDefinitionExhaustivelyForSmallDistances() {
        for (int old : new int[] {0, 1, 0x7FFF, 0xFFF0, 0xFFFF}) {
            for (int d = 0; d <= 40; d++) {
                int now = (old + d) & 0xFFFF;
                for (int e = -45; e <= 45; e++) {
                    int event = (old + e) & 0xFFFF;
                    assertThat(SplitQueue.needEvent(event, now, old)).as("event %d new %d old %d", event, now, old)
                            .isEqualTo(crossed(event, old, now));
                }
            }
        }
    }

    @Test
    void eventIdxAvailEventIsArmedWhenGoingIdle() throws QueueException {
        reactivate(true);
        assertThat(driver.availEvent()).isZero();
        driver.add(Buf.w(DATA, 1));
        driver.add(Buf.w(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(queue.pop(chain)).isTrue();
        assertThat(driver.availEvent()).as("not moved while busy").isZero();
        assertThat(driver.kickNeeded(true, 2, 3)).isFalse();
        assertThat(queue.pop(chain)).isFalse();
        assertThat(driver.availEvent()).as("re-armed at the device position when idle").isEqualTo(2);
        assertThat(driver.kickNeeded(true, 2, 3)).isTrue();
    }

    @Test
    void eventIdxDisableStopsArmingAndEnableRearms() throws QueueException {
        reactivate(true);
        queue.disableNotification();
        assertThat(driver.usedFlags()).as("flags stay 0 under EVENT_IDX").isZero();
        driver.add(Buf.w(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
        assertThat(queue.pop(chain)).isFalse();
        assertThat(driver.availEvent()).isZero();
        assertThat(queue.enableNotification()).isFalse();
        assertThat(driver.availEvent()).isEqualTo(1);
        driver.add(Buf.w(DATA, 1));
        queue.disableNotification();
        assertThat(queue.enableNotification()).isTrue();
    }

    @Test
    void eventIdxRacedBufferIsFoundWhenArming() throws QueueException {
        reactivate(true);
        driver.add(Buf.w(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
        // The driver adds one while avail_event is stale: it would not kick, so pop must see it.
        driver.add(Buf.w(DATA, 2));
        assertThat(driver.kickNeeded(true, 1, 2)).isFalse();
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.length(0)).isEqualTo(2);
        assertThat(queue.pop(chain)).isFalse();
        assertThat(driver.availEvent()).isEqualTo(2);
    }

    private void roundTrip() throws QueueException {
        int h = driver.add(Buf.w(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
        queue.addUsed(h, 1);
        driver.pollUsed();
    }

    // ------------------------------------------------------------ malformed rings

    @Test
    void availIndexJumpingTooFar() {
        driver.setAvailIdx(17);
        assertError(() -> queue.pop(chain), QueueError.AVAIL_INDEX_JUMP, "available idx 17 is 17 entries past the device's 0");
        driver.setAvailIdx(0xFFFF); // "behind" the device is also a jump of 65535
        assertError(() -> queue.pop(chain), QueueError.BROKEN, "broken until reset");
    }

    @Test
    void availIndexJumpOfExactlyQueueSizeIsFine() throws QueueException {
        for (int i = 0; i < 16; i++) driver.add(Buf.w(DATA, 1));
        for (int i = 0; i < 16; i++) assertThat(queue.pop(chain)).isTrue();
        assertThat(queue.pop(chain)).isFalse();
    }

    @Test
    void headOutOfRange() {
        driver.publish(16);
        assertError(() -> queue.pop(chain), QueueError.HEAD_OUT_OF_RANGE, "names descriptor 16, queue size is 16");
    }

    @Test
    void nextOutOfRange() {
        driver.writeDesc(0, DATA, 8, GuestDriver.NEXT, 40);
        driver.publish(0);
        assertError(() -> queue.pop(chain), QueueError.NEXT_OUT_OF_RANGE, "descriptor 0 (chain 0) has next 40");
    }

    @Test
    void loopInTheDescriptorTable() {
        driver.writeDesc(3, DATA, 8, GuestDriver.NEXT, 4);
        driver.writeDesc(4, DATA, 8, GuestDriver.NEXT, 3);
        driver.publish(3);
        assertError(() -> queue.pop(chain), QueueError.CHAIN_TOO_LONG, "longer than queue size 16");
    }

    @Test
    void selfLoop() {
        driver.writeDesc(7, DATA, 8, GuestDriver.NEXT | GuestDriver.WRITE, 7);
        driver.publish(7);
        assertError(() -> queue.pop(chain), QueueError.CHAIN_TOO_LONG, "chain from head 7");
    }

    @Test
    void chainOfExactlyQueueSizeIsFine() throws QueueException {
        Buf[] bufs = new Buf[16];
        for (int i = 0; i < 16; i++) bufs[i] = Buf.w(DATA + i, 1);
        driver.add(bufs);
        assertThat(queue.pop(chain)).isTrue();
        assertThat(chain.count()).isEqualTo(16);
    }

    @Test
    void buffersOutsideRam() throws QueueException {
        long[][] bad = {
            {0, 16},                                  // below RAM
            {RAM - 8, 16},                            // straddles the start
            {RAM + RAM_SIZE - 8, 16},                 // straddles the end
            {RAM + RAM_SIZE, 1},                      // just past the end
            {0xFFFF_FFFF_FFFF_FFF0L, 0x20},           // addr + len overflows
            {Long.MAX_VALUE, 1},
            {DATA, 0xFFFF_FFFFL},                     // 4 GiB - 1 length
        };
        for (long[] b : bad) {
            reactivate(false);
            driver.writeDesc(0, DATA, 8, GuestDriver.NEXT, 1);
            driver.writeDesc(1, b[0], (int) b[1], GuestDriver.WRITE, 0);
            driver.publish(0);
            assertError(() -> queue.pop(chain), QueueError.BUFFER_OUTSIDE_RAM,
                    String.format("descriptor 1 of chain 0: buffer 0x%x+0x%x is not inside", b[0], b[1]));
        }
    }

    @Test
    void bufferSpanningAdjacentRegionsIsRejected() throws QueueException {
        try (FakeGuestMemory two = new FakeGuestMemory(0x10000, 0x10000, 0x20000, 0x10000)) {
            GuestDriver d = new GuestDriver(two.memory, 8, 0x10000, 0x11000, 0x12000);
            SplitQueue q = d.configure(new SplitQueue(8), false);
            q.activate(two.memory);
            d.add(Buf.r(0x1F000, 0x2000));
            assertError(() -> q.pop(chain), QueueError.BUFFER_OUTSIDE_RAM, "buffer 0x1f000+0x2000");
            assertThat(two.guardsIntact()).isTrue();
        }
    }

    @Test
    void readableAfterWritable() {
        driver.add(Buf.r(DATA, 8), Buf.w(DATA + 8, 8), Buf.r(DATA + 16, 8));
        assertError(() -> queue.pop(chain), QueueError.READABLE_AFTER_WRITABLE, "is device-readable after a device-writable one");
    }

    @Test
    void readableAfterWritableAcrossTheIndirectBoundary() {
        driver.addMixed(new Buf[] {Buf.w(DATA, 8)}, TABLE, new Buf[] {Buf.r(DATA + 8, 8)});
        assertError(() -> queue.pop(chain), QueueError.READABLE_AFTER_WRITABLE, "indirect descriptor 0 of chain");
    }

    @Test
    void nestedIndirect() {
        driver.writeRawDesc(TABLE, DATA, 8, GuestDriver.NEXT, 1);
        driver.writeRawDesc(TABLE + 16, TABLE + 0x100, 16, GuestDriver.INDIRECT, 0);
        driver.writeDesc(2, TABLE, 32, GuestDriver.INDIRECT, 0);
        driver.publish(2);
        assertError(() -> queue.pop(chain), QueueError.NESTED_INDIRECT, "indirect descriptor 1 of chain 2 is itself INDIRECT");
    }

    @Test
    void indirectWithNext() {
        driver.writeTable(TABLE, Buf.r(DATA, 8));
        driver.writeDesc(0, TABLE, 16, GuestDriver.INDIRECT | GuestDriver.NEXT, 1);
        driver.writeDesc(1, DATA, 8, 0, 0);
        driver.publish(0);
        assertError(() -> queue.pop(chain), QueueError.INDIRECT_WITH_NEXT, "both INDIRECT and NEXT");
    }

    @Test
    void indirectTableLengths() throws QueueException {
        long[] bad = {0, 8, 17, 24, 16L * (SplitQueue.MAX_INDIRECT_DESCRIPTORS + 1), 0xFFFF_FFF0L};
        for (long len : bad) {
            reactivate(false);
            driver.writeTable(TABLE, Buf.r(DATA, 8));
            driver.writeDesc(0, TABLE, (int) len, GuestDriver.INDIRECT, 0);
            driver.publish(0);
            assertError(() -> queue.pop(chain), QueueError.INDIRECT_TABLE_LENGTH, "is " + len + " bytes");
        }
    }

    @Test
    void indirectTableOutsideRam() throws QueueException {
        for (long at : new long[] {0, RAM + RAM_SIZE - 16, -16}) {
            reactivate(false);
            driver.writeDesc(0, at, 32, GuestDriver.INDIRECT, 0);
            driver.publish(0);
            assertError(() -> queue.pop(chain), QueueError.INDIRECT_TABLE_OUTSIDE_RAM, "is not inside guest RAM");
        }
    }

    @Test
    void indirectNextOutsideTable() {
        driver.writeRawDesc(TABLE, DATA, 8, GuestDriver.NEXT, 2); // table has 2 entries
        driver.writeDesc(0, TABLE, 32, GuestDriver.INDIRECT, 0);
        driver.publish(0);
        assertError(() -> queue.pop(chain), QueueError.NEXT_OUT_OF_RANGE, "indirect descriptor 0 of chain 0 has next 2, table has 2");
    }

    @Test
    void indirectLoop() {
        driver.writeRawDesc(TABLE, DATA, 8, GuestDriver.NEXT, 1);
        driver.writeRawDesc(TABLE + 16, DATA, 8, GuestDriver.NEXT, 0);
        driver.writeDesc(0, TABLE, 32, GuestDriver.INDIRECT, 0);
        driver.publish(0);
        assertError(() -> queue.pop(chain), QueueError.CHAIN_TOO_LONG, "longer than its table of 2");
    }

    @Test
    void aBrokenQueueStaysBrokenUntilReset() throws QueueException {
        driver.publish(99);
        assertError(() -> queue.pop(chain), QueueError.HEAD_OUT_OF_RANGE, "descriptor 99");
        assertThat(queue.brokenReason()).contains("descriptor 99");
        assertError(() -> queue.pop(chain), QueueError.BROKEN, "names descriptor 99");
        reactivateWith(16, false);
        driver.add(Buf.r(DATA, 1));
        assertThat(queue.pop(chain)).isTrue();
    }

    @Test
    void errorsDoNotAdvanceTheQueue() {
        driver.publish(20);
        assertError(() -> queue.pop(chain), QueueError.HEAD_OUT_OF_RANGE, "");
        assertThat(queue.nextAvail()).isZero();
    }

    @Test
    void descriptorsAreReadOnceSoLaterRewritesCannotEscapeValidation() throws QueueException {
        driver.add(Buf.w(DATA, 16));
        assertThat(queue.pop(chain)).isTrue();
        driver.writeDesc(0, 0xFFFF_0000L, 16, GuestDriver.WRITE, 0); // the guest rewrites it afterwards
        MemorySegment s = chain.segment(0);
        s.set(ValueLayout.JAVA_BYTE, 15, (byte) 1);
        assertThat(fake.memory.readU8(DATA + 15)).isEqualTo((byte) 1);
    }

    static void assertError(ThrowingCall call, QueueError error, String messagePart) {
        try {
            call.run();
        } catch (QueueException e) {
            assertThat(e.error()).as(e.getMessage()).isEqualTo(error);
            assertThat(e.getMessage()).contains(messagePart).doesNotContain("\n");
            return;
        } catch (Throwable t) {
            throw new AssertionError("expected QueueException " + error + " but got " + t, t);
        }
        throw new AssertionError("expected QueueException " + error + " but nothing was thrown");
    }

    @FunctionalInterface
    interface ThrowingCall {
        void run() throws Exception;
    }
}
