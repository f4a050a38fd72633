package dev.vmm.virtio.io;

import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.queue.SplitQueue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The shell every I/O-thread device shares (virtio-blk, virtio-scsi, virtio-net): its I/O threads,
 * one kick eventfd per virtqueue ({@link QueueKicks}), the one-line log, and the steps of its life
 * cycle — check an activation, put the queues' workers on their threads, wait for them to stop
 * (reset) or drain (quiesce), close. The device itself says what its workers are and what its
 * config space and saved state hold.
 */
public abstract class QueueDevice implements MigratableDevice, AutoCloseable {
    /** "virtio-blk", ...: the prefix of every message. */
    protected final String name;
    protected final List<IoThread> threads;
    protected final Consumer<String> log;
    protected final QueueKicks kicks;

    /**
     * @param queues  how many virtqueues (one kick eventfd each)
     * @param threads the I/O threads to spread the queues over (at least one)
     */
    protected QueueDevice(String name, int queues, List<IoThread> threads, Consumer<String> log) {
        if (threads.isEmpty()) throw new IllegalArgumentException(name + " needs at least one I/O thread");
        this.name = name;
        this.threads = List.copyOf(threads);
        this.log = log;
        this.kicks = new QueueKicks(queues);
    }

    /** The transport's fallback kick (no ioeventfd took the notify write): wakes the queue's thread. */
    @Override
    public final void queueNotify(int queueIndex) {
        kicks.kick(queueIndex);
    }

    /** The eventfd for virtqueue {@code i}: bind it to the queue's notify address with KVM_IOEVENTFD. */
    public final int queueEventFd(int i) {
        return kicks.fd(i);
    }

    /** The I/O thread for the {@code i}-th queue (or pair) of the device: round robin. */
    protected final IoThread threadFor(int i) {
        return threads.get(i % threads.size());
    }

    /** The checks of every activation: not already active, the transport's queues are the device's. */
    protected final void checkActivation(List<SplitQueue> queues, boolean active) throws ActivationException {
        if (active) throw new ActivationException(name + ": activated twice without a reset");
        if (queues.size() != queueCount()) {
            throw new ActivationException(name + ": " + queues.size() + " queues given, device has " + queueCount());
        }
    }

    /** Waits for stopping workers (reset); a late one is logged, its result null. */
    protected final <T> List<T> awaitStopped(List<CompletableFuture<T>> stops, String why, String verb) {
        return WorkerStops.awaitOrLog(stops, log, name + ": " + why, verb);
    }

    /** Waits for draining workers (quiesce); a late one fails the save with {@code failure}. */
    protected final <T> List<T> awaitDrained(List<CompletableFuture<T>> drains, String failure) {
        return WorkerStops.awaitOrThrow(drains, failure);
    }

    /** Resets the device and closes the queue eventfds (not the backend, not the threads). */
    @Override
    public void close() {
        reset();
        kicks.close();
    }
}
