package dev.vmm.virtio.testing;

import dev.vmm.virtio.io.IoThread;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A barrier on an {@link IoThread}'s loop, for "the device did not react" assertions: returns once
 * the thread has completed a whole loop round (fd handlers, timers and round-end tasks) whose
 * epoll_wait began after this call. A kick or any fd that was ready before the call has then been
 * seen and handled, so what the device did not do by then it did not do because it would not.
 *
 * <p>How: a task queues a round-end task, which queues another task (it can only run in a later
 * round, whose epoll_wait started after everything above), which queues a round-end task that
 * releases the caller (after that later round's fd handlers).
 */
public final class IoRounds {
    private IoRounds() { }

    public static void afterAFullRound(IoThread t) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        t.execute(() -> t.atRoundEnd(() -> t.execute(() -> t.atRoundEnd(done::countDown))));
        if (!done.await(30, TimeUnit.SECONDS)) throw new AssertionError(t.name() + ": no full loop round within 30 s");
    }

    public static void afterAFullRound(Iterable<IoThread> threads) throws InterruptedException {
        for (IoThread t : threads) afterAFullRound(t);
    }
}
