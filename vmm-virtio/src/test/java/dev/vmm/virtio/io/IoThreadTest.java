package dev.vmm.virtio.io;

import dev.vmm.ffm.libc.Libc;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class IoThreadTest {
    @Test
    void tasksFdsTimersAndCompletionsRunOnTheThread() throws Exception {
        List<String> errors = new CopyOnWriteArrayList<>();
        try (IoThread t = new IoThread("io-test", 8, errors::add, 0)) {
            exercise(t, errors);
        }
    }

    /** The same with adaptive polling: events found while spinning are handled exactly as after a sleep. */
    @Test
    void everythingAlsoWorksWithPolling() throws Exception {
        List<String> errors = new CopyOnWriteArrayList<>();
        try (IoThread t = new IoThread("io-poll-test", 8, errors::add, 200_000)) {
            exercise(t, errors);
            // Back-to-back completions and kicks while the loop is still spinning from the last one.
            for (int i = 0; i < 200; i++) {
                CountDownLatch done = new CountDownLatch(1);
                t.execute(() -> {
                    int target = t.addTarget((token, res) -> done.countDown());
                    t.nextSqe().prepNop().userData(IoThread.userData(target, 7));
                });
                assertTrue(done.await(5, TimeUnit.SECONDS), "completion " + i);
            }
        }
    }

    private static void exercise(IoThread t, List<String> errors) throws Exception {
        {
            t.start();
            // runAndWait executes on the I/O thread.
            boolean[] onThread = new boolean[1];
            t.runAndWait(() -> onThread[0] = t.isCurrentThread());
            assertTrue(onThread[0]);

            // An eventfd handler fires when the fd is written from another thread.
            int efd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
            CountDownLatch kicked = new CountDownLatch(1);
            t.runAndWait(() -> t.addFd(efd, () -> {
                try (Arena a = Arena.ofConfined()) { Libc.readRaw(efd, a.allocate(8), 8); }
                kicked.countDown();
            }));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment one = a.allocate(8);
                one.set(ValueLayout.JAVA_LONG, 0, 1);
                Libc.writeRaw(efd, one, 8);
            }
            assertTrue(kicked.await(5, TimeUnit.SECONDS));

            // Timers fire in deadline order, not before their deadline.
            List<Integer> order = new CopyOnWriteArrayList<>();
            CountDownLatch timers = new CountDownLatch(2);
            long now = System.nanoTime();
            t.execute(() -> {
                t.schedule(now + 30_000_000, () -> { order.add(2); timers.countDown(); });
                t.schedule(now + 10_000_000, () -> { order.add(1); timers.countDown(); });
            });
            assertTrue(timers.await(5, TimeUnit.SECONDS));
            assertEquals(List.of(1, 2), order);
            assertTrue(System.nanoTime() - now >= 30_000_000);

            // SQEs filled in a round are submitted at its end; CQEs reach their target with the token.
            CountDownLatch done = new CountDownLatch(2);
            List<Long> tokens = new CopyOnWriteArrayList<>();
            t.execute(() -> {
                int target = t.addTarget((token, res) -> { tokens.add(token); done.countDown(); });
                t.nextSqe().prepNop().userData(IoThread.userData(target, 42));
                t.nextSqe().prepNop().userData(IoThread.userData(target, (1L << 48) - 1));
            });
            assertTrue(done.await(5, TimeUnit.SECONDS));
            assertEquals(List.of(42L, (1L << 48) - 1), tokens);

            // A throwing handler is logged, the loop survives.
            t.execute(() -> { throw new IllegalStateException("boom"); });
            t.runAndWait(() -> { });
            assertTrue(errors.stream().anyMatch(e -> e.contains("boom")), errors.toString());
            Libc.close(efd);
        }
    }
}
