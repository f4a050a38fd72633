package dev.vmm.virtio.queue;

import dev.vmm.virtio.queue.GuestDriver.Buf;
import dev.vmm.virtio.queue.GuestDriver.Used;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.invoke.VarHandle;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A driver thread and a device thread exchanging buffers through one queue, each side sleeping
 * until the other notifies it, exactly as a guest and an I/O thread do. A lost kick or a lost
 * interrupt (a notification-suppression race) shows up as a stall; wrong ordering as bad data.
 */
class ConcurrentQueueTest {
    static final long RAM = 0x10000;
    static final int BUFFERS = 20_000;
    static final long STALL_SECONDS = 10;
    static final int MAX_IN_FLIGHT = 3;

    @ParameterizedTest(name = "eventIdx={0}")
    @ValueSource(booleans = {false, true})
    @Timeout(60)
    void noLostNotifications(boolean eventIdx) throws Exception {
        try (FakeGuestMemory fake = FakeGuestMemory.shared(RAM, 0x20000)) {
            GuestDriver driver = new GuestDriver(fake.memory, 32, RAM, RAM + 0x1000, RAM + 0x2000);
            SplitQueue queue = driver.configure(new SplitQueue(32), eventIdx);
            queue.activate(fake.memory);
            Semaphore kick = new Semaphore(0);
            Semaphore interrupt = new Semaphore(0);
            AtomicReference<Throwable> deviceFailure = new AtomicReference<>();
            int[] kicks = {0};
            int[] interrupts = {0};
            var stop = new java.util.concurrent.atomic.AtomicBoolean();

            Thread device = new Thread(() -> {
                DescriptorChain chain = new DescriptorChain();
                try {
                    while (!stop.get()) {
                        if (!kick.tryAcquire(STALL_SECONDS, TimeUnit.SECONDS)) throw new AssertionError("device never kicked: lost kick");
                        do {
                            queue.disableNotification();
                            while (queue.pop(chain)) {
                                // Echo the buffer's length and stamp its first byte with the low byte of it.
                                chain.writeToChain(0, new byte[] {(byte) chain.length(0)});
                                for (int i = 0; i < chain.length(0) % 64; i++) Thread.onSpinWait();
                                queue.addUsed(chain.head(), (int) chain.length(0));
                            }
                        } while (queue.enableNotification());
                        if (queue.needsNotification()) {
                            interrupts[0]++;
                            interrupt.release();
                        }
                    }
                } catch (Throwable t) {
                    deviceFailure.set(t);
                }
            }, "device");
            device.start();

            int[] expectedLen = new int[32];
            int sent = 0;
            int done = 0;
            while (done < BUFFERS) {
                boolean progress = false;
                int before = driver.availIdx;
                // Few buffers in flight, so the driver keeps adding while the device works: that is
                // when a kick can be lost (buffer added just as the device re-enables notifications).
                while (sent < BUFFERS && sent - done < MAX_IN_FLIGHT) {
                    int len = 1 + sent % 1000;
                    long addr = RAM + 0x4000 + 8L * (sent % 0x1000);
                    int head = driver.add(Buf.w(addr, len)); // release-orders ring entry before avail idx
                    expectedLen[head] = len;
                    sent++;
                    progress = true;
                }
                if (progress) {
                    VarHandle.fullFence(); // avail idx store before the avail_event / flags load
                    if (driver.kickNeeded(eventIdx, before, driver.availIdx)) {
                        kicks[0]++;
                        kick.release();
                    }
                }
                Used u;
                while ((u = pollAcquired(driver)) != null) {
                    assertThat(u.len()).isEqualTo(expectedLen[u.id()]);
                    done++;
                    progress = true;
                }
                if (!progress && done < BUFFERS) {
                    // Waits for an interrupt only with MAX_IN_FLIGHT outstanding (or at the end).
                    // Nothing to do: ask for an interrupt at the next used entry, then re-check.
                    if (eventIdx) driver.setUsedEvent(driver.lastUsed);
                    VarHandle.fullFence();
                    if (driver.usedIdx() == driver.lastUsed) {
                        assertThat(deviceFailure.get()).isNull();
                        if (!interrupt.tryAcquire(STALL_SECONDS, TimeUnit.SECONDS)) {
                            throw new AssertionError("driver never interrupted with " + (sent - done) + " in flight: lost interrupt; " + queue);
                        }
                    }
                }
            }
            stop.set(true);
            kick.release();
            device.join(TimeUnit.SECONDS.toMillis(STALL_SECONDS));
            assertThat(deviceFailure.get()).isNull();
            assertThat(queue.nextUsed()).isEqualTo(BUFFERS & 0xFFFF);
            // Suppression must actually suppress: far fewer notifications than buffers either way.
            System.out.printf("eventIdx=%b: %d buffers, %d kicks, %d interrupts%n", eventIdx, BUFFERS, kicks[0], interrupts[0]);
            assertThat(kicks[0]).isLessThan(BUFFERS);
            assertThat(interrupts[0]).isLessThan(BUFFERS);
        }
    }

    private static Used pollAcquired(GuestDriver driver) {
        if (driver.usedIdx() == driver.lastUsed) return null;
        VarHandle.acquireFence(); // used idx before the element it publishes
        return driver.pollUsed();
    }
}
